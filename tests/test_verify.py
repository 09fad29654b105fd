"""The second pass: context phrases put into the n-best and checked against the audio by the recogniser."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from rapidfuzz.distance import Levenshtein

from audio import SAMPLE_RATE
from audio.files import load
from audio.logmel import LogMel
from models.rnnt import RNNT, RNNTConfig
from models.rnnt_loss import rnnt_loss
from models.tokens import encode
from nodes.decoder.beam import BeamSearch
from nodes.decoder.context import ContextGraph
from nodes.decoder.lattice import Lattice
from nodes.decoder.verify import MAX_FRAMES, PhraseVerifier, candidates, phrase_letters, swaps

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data" / "demo"


def words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def test_only_whole_phrases_earn_letters():
    phrases = [words("meg bauer"), words("meg")]
    assert phrase_letters(words("call meg bauer"), phrases) == 8  # the longer phrase, not both
    assert phrase_letters(words("call meg"), phrases) == 3
    assert phrase_letters(words("call megan bauer"), phrases) == 0


def test_candidates_put_phrases_where_something_sounds_like_them():
    phrases = [words("meg bauer"), words("lee"), words("radiator")]
    found = {c.words: c for c in candidates([words("call meg bower"), words("turn on the radio")], phrases)}
    assert words("call meg bauer") in found and found[words("call meg bauer")].source == words("call meg bower")
    assert words("turn on the radiator") in found
    assert words("turn on the lee") not in found  # "radio" is nothing like "lee"
    assert found[words("call meg bower")].distance == 0.0  # the search's own paths stay, first


def test_a_short_answer_may_be_any_phrase_but_silence_stays_silence():
    phrases = [words("lee"), words("scott")]
    assert {c.words for c in candidates([words("play")], phrases)} == {words("play"), words("lee"), words("scott")}
    assert {c.words for c in candidates([()], phrases)} == {()}
    assert words("scott") in {c.words for c in candidates([words("how old is")], phrases)}
    assert words("scott") not in {c.words for c in candidates([words("how old is it")], phrases)}  # a request


def test_a_contact_in_a_path_may_be_swapped_for_any_other():
    phrases = [words("meg bauer"), words("lee"), words("kitchen lamp")]
    found = {c.words: c for c in swaps([words("call meg bauer"), words("play")], phrases, {words("call lee")})}
    assert set(found) == {words("call kitchen lamp")}  # "call lee" was skipped; "play" holds no phrase
    assert found[words("call kitchen lamp")].source == words("call meg bauer")


def test_ctc_reading_matches_the_loss_and_rules_out_what_the_frames_cannot_hold():
    torch.manual_seed(0)
    model = RNNT(RNNTConfig(context_dim=16, ctc_head=True)).eval()
    verifier = PhraseVerifier(model)
    enc = torch.randn(1, 6, model.config.enc_hidden)
    got = verifier.ctc_log_likelihoods(enc, [words("lee"), (), words("call meg bauer")])
    with torch.no_grad():
        log_probs = torch.log_softmax(model.ctc_head(enc), -1).transpose(0, 1)
        want = torch.nn.functional.ctc_loss(log_probs, torch.tensor([encode("lee")]), [6], [3], reduction="sum")
    assert abs(got[0] + float(want)) < 1e-4
    assert got[1] == pytest.approx(float(log_probs[:, 0, 0].sum()), abs=1e-4)  # nothing said: blanks throughout
    assert got[2] == float("-inf")  # 14 letters do not fit in 6 frames
    assert PhraseVerifier(RNNT(RNNTConfig(context_dim=16))).ctc_weight == 0.0  # no CTC layer, no CTC reading


def test_log_likelihoods_match_the_loss_and_do_not_depend_on_the_batch():
    torch.manual_seed(0)
    model = RNNT(RNNTConfig(context_dim=16)).eval()
    torch.nn.init.normal_(model.biaser.pred_write.weight, std=0.1)  # as if trained: the write-back starts at zero
    verifier = PhraseVerifier(model)
    enc = torch.randn(1, 20, model.config.enc_hidden)
    memory = model.biaser.memory([["meg bauer", "lee"]])
    texts = [words("call meg bauer"), words("lee"), words("turn on the kitchen lights please")]
    learned = verifier.log_likelihoods(enc, memory, texts)
    plain = verifier.log_likelihoods(enc, None, texts)
    assert abs(learned[1] - verifier.log_likelihoods(enc, memory, texts[1:2])[0]) < 1e-4
    assert abs(plain[1] - verifier.log_likelihoods(enc, None, texts[1:2])[0]) < 1e-4
    labels = torch.tensor([encode("lee")])
    with torch.no_grad():
        pred, _ = model.predictor(torch.cat([torch.zeros(1, 1, dtype=torch.long), labels], 1))
        nll = rnnt_loss(model.joint(enc, pred), labels, torch.tensor([20]), torch.tensor([3]), reduction="none")
    assert abs(plain[1] + float(nll[0])) < 1e-4
    assert learned[1] != plain[1]  # the learned biasing read the context


def demo_frames(name: str) -> np.ndarray:
    """Log-mel frames of a demo recording after its wake word, as the gate hands them on."""
    meta = json.loads((DEMO / "transcripts.json").read_text())[name]
    audio = load(DEMO / name)
    return LogMel().frames(audio[int(meta["wake_end"] * SAMPLE_RATE) :])


def test_the_second_pass_turns_a_near_miss_into_the_contact_that_was_said():
    model = RNNT.from_checkpoint(torch.load(ROOT / "weights" / "asr_rnnt.pt", weights_only=False))
    assert model.ctc_head is not None  # the shipped recogniser has the CTC layer the pass reads
    search = BeamSearch(model)
    graph = ContextGraph(["meg bauer", "meg jones", "living room lamp"], bonus=0.25)
    st = search.start()
    search.accept(st, demo_frames("alexa_call_meg_bauer.wav"), graph)
    assert search.lattice(st, graph).best() == "call meg bauer"
    reading = search.lattice(st, graph).reading  # what the CTC layer alone reads ("call megboer"): near it
    assert reading is not None and Levenshtein.distance(reading, "call meg bauer") <= 4
    # A first pass that missed: only a near miss and an unrelated path in the lattice.
    missed = Lattice()
    for text, score in (("call meg bower", -1.0), ("call me power", -2.0)):
        w = words(text)
        for i, word in enumerate(w):
            missed.add_arc(w[:i], word, 0.3 * i, 0.3 * (i + 1), -1.0, 0.0)
        missed.add_final(w, score)
    enc = torch.cat(st.enc, dim=1)  # (all of it: the lattice below was not found by this search)
    fixed = search.verifier.rescore(missed, enc, search._memory(graph), graph.phrases)
    assert fixed.best() == "call meg bauer"
    assert "call meg bower" in dict(fixed.nbest(8))  # the search's own paths stay as runners-up
    assert fixed.arcs[(words("call meg"), "bauer")].start == 0.6  # the new word takes the time of the one it replaced
    # Without the contact in the context, nothing is put in.
    other = ContextGraph(["living room lamp"], bonus=0.25)
    assert search.verifier.rescore(missed, enc, search._memory(other), other.phrases).best() == "call meg bower"


def test_an_utterance_past_the_limit_keeps_no_more_frames_and_is_left_as_the_search_found_it():
    torch.manual_seed(0)
    search = BeamSearch(RNNT(RNNTConfig(context_dim=16)), beam=2)
    graph = ContextGraph(["meg bauer"], bonus=0.25)
    frames = np.random.default_rng(0).normal(-5, 2, size=(4 * (MAX_FRAMES + 10), 64)).astype(np.float32)
    st = search.start()
    for i in range(0, len(frames), 400):
        search.accept(st, frames[i : i + 400], graph)
    assert st.enc_frames == MAX_FRAMES + 10
    assert sum(e.shape[1] for e in st.enc) <= MAX_FRAMES  # memory stays bounded, however long it runs
    off = BeamSearch(search.model, beam=2, verify=False)
    assert search.lattice(st, graph).finals == off.lattice(st, graph).finals
    assert search.lattice(st, graph).reading is None  # the CTC layer did not read what was not kept
