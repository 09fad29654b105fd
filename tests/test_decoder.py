"""Decoder pieces: the biasing graph, the lattice, and streaming beam search."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from models.rnnt import RNNT, RNNTConfig
from models.tokens import CHARS, encode
from nodes.decoder.beam import BeamSearch
from nodes.decoder.context import ContextGraph
from nodes.decoder.lattice import Lattice


def bias_of(graph: ContextGraph, text: str) -> tuple[float, float]:
    """(score while decoding, score at the end) of `text` under `graph`."""
    state, total = 0, 0.0
    for tok in encode(text):
        state, delta = graph.step(state, tok)
        total += delta
    return total, total + graph.finish(state)


def test_completed_phrases_keep_their_bonus():
    g = ContextGraph(["meg bauer", "kitchen lights"], bonus=1.0)
    assert bias_of(g, "call meg bauer") == (8.0, 8.0)  # one bonus per letter
    assert bias_of(g, "turn on the kitchen lights") == (13.0, 13.0)
    assert bias_of(g, "call meg bauer now") == (8.0, 8.0)


def test_a_failed_partial_match_is_taken_back():
    g = ContextGraph(["meg bauer"], bonus=1.0)
    assert bias_of(g, "call meg baker") == (0.0, 0.0)
    assert bias_of(g, "call meg bau") == (6.0, 0.0)  # boosted while it might match, taken back at the end


def test_matches_are_whole_words():
    g = ContextGraph(["meg"], bonus=1.0)
    assert bias_of(g, "call omega") == (0.0, 0.0)
    assert bias_of(g, "call megan") == (0.0, 0.0)
    assert bias_of(g, "call meg") == (3.0, 3.0)


def test_a_phrase_that_begins_a_longer_one_keeps_its_bonus():
    g = ContextGraph(["meg", "meg bauer"], bonus=1.0)
    assert bias_of(g, "call meg bauer") == (8.0, 8.0)
    assert bias_of(g, "call meg baker") == (3.0, 3.0)
    assert bias_of(g, "meg meg bauer") == (11.0, 11.0)


def test_failure_arcs_find_a_match_that_starts_at_a_later_word():
    g = ContextGraph(["meg baker", "bauer"], bonus=1.0)
    assert bias_of(g, "call meg bauer") == (5.0, 5.0)  # "meg ba" fails at "u", " ba" goes on as "bauer"
    assert ContextGraph([]).step(0, encode("a")[0]) == (0, 0.0)


def test_a_long_phrase_earns_at_most_the_cap():
    g = ContextGraph(["tobias lindqvist", "meg"], bonus=2.0, max_bonus=10.0)
    assert bias_of(g, "in boston tobias lindqvist") == (10.0, 10.0)  # 15 letters, capped at 5 of them
    assert bias_of(g, "in boston tobi") == (8.0, 0.0)
    assert bias_of(g, "call tobias lind") == (10.0, 0.0)  # boosted up to the cap while it may match
    assert bias_of(g, "call tobias lindberg") == (0.0, 0.0)  # and all of it taken back when it fails
    assert bias_of(g, "call meg") == (6.0, 6.0)  # short phrases are not affected


words = st.text(alphabet="abem ", min_size=1, max_size=12)


@settings(max_examples=40, deadline=None)
@given(phrases=st.lists(words, min_size=1, max_size=4), said=words)
def test_the_moves_table_agrees_with_stepping_one_unit_at_a_time(phrases, said):
    """The beam search scores a hypothesis's every next unit from `moves`: it must be `step` for each."""
    g = ContextGraph(phrases, bonus=1.0, max_bonus=4.0)
    state = 0
    for tok in encode(said):
        m = g.moves(state)
        for unit in range(1, len(CHARS) + 1):
            to, delta = g.step(state, unit)
            assert (m.to[unit - 1], m.delta[unit - 1]) == (to, delta)
            assert m.matching[unit - 1] == g.matching(to)
            assert m.expands[unit - 1] == (unit in g.expansions(state))
        state, _ = g.step(state, tok)


def lattice() -> Lattice:
    lat = Lattice()
    lat.add_arc((), "call", 0.1, 0.4, -3.0, 0.0)
    lat.add_arc(("call",), "meg", 0.5, 0.7, -2.0, 3.0)
    lat.add_arc(("call", "meg"), "bauer", 0.8, 1.2, -4.0, 5.0)
    lat.add_arc(("call", "meg"), "power", 0.8, 1.2, -3.5, 0.0)
    lat.add_final(("call", "meg", "bauer"), -1.0)
    lat.add_final(("call", "meg", "power"), -6.5)
    return lat


def test_lattice_nbest_cut_and_json_round_trip():
    lat = lattice()
    assert lat.nbest(2) == [("call meg bauer", -1.0), ("call meg power", -6.5)]
    assert len(lat.nodes) == 5
    cut = lat.cut(0.75)
    assert cut.best() == "call meg" and all(a.end <= 0.75 for a in cut.arcs.values())
    again = Lattice.from_dict(lat.to_dict())
    assert again.nbest(2) == lat.nbest(2) and again.arcs.keys() == lat.arcs.keys() and again.reading is None
    lat.reading = "call meg bower"  # the CTC layer's reading travels with the lattice
    assert Lattice.from_dict(lat.to_dict()).reading == lat.cut(0.75).reading == lat.copy().reading == lat.reading


def test_lattice_draws_with_graphviz(tmp_path):
    import shutil

    if not shutil.which("dot"):
        pytest.skip("graphviz not installed")
    lattice().draw(str(tmp_path / "lat.svg"))
    assert "<svg" in (tmp_path / "lat.svg").read_text()


def test_streaming_decoding_does_not_depend_on_chunking():
    torch.manual_seed(0)
    search = BeamSearch(RNNT(), beam=3)
    frames = np.random.default_rng(0).normal(-5, 2, size=(120, 64)).astype(np.float32)
    results = []
    for chunk in (7, 40, 120):
        st = search.start()
        for i in range(0, len(frames), chunk):
            search.accept(st, frames[i : i + chunk])
        results.append([(h.tokens, round(h.score, 4)) for h in st.beam])
        assert st.enc_frames == 30
    assert results[0] == results[1] == results[2]


def test_biasing_raises_the_phrase_in_the_beam():
    torch.manual_seed(1)
    model = RNNT()
    search = BeamSearch(model, beam=4)
    frames = np.random.default_rng(1).normal(-5, 2, size=(200, 64)).astype(np.float32)
    plain = search.start()
    search.accept(plain, frames)
    g = ContextGraph(["zz"], bonus=30.0)
    biased = search.start()
    search.accept(biased, frames, g)
    assert "zz" in search.best_text(biased, g) and "zz" not in search.best_text(plain)


def test_a_cut_lattice_stays_connected_when_hypotheses_timed_a_prefix_differently():
    """The arc kept for "call" ends after the cut, a child "meg" (timed by another hypothesis) before it."""
    from nodes.decoder.lattice import Arc

    lat = Lattice(
        {
            ((), "call"): Arc((), "call", 0.0, 1.0, -1.0, 0.0),
            (("call",), "meg"): Arc(("call",), "meg", 0.5, 0.9, -1.0, 0.0),
        },
        {("call", "meg"): -2.0},
    )
    cut = lat.cut(0.95)
    assert cut.arcs == {}
    again = Lattice.from_dict(cut.to_dict())
    assert again.arcs == {} and list(again.finals) == [()]


def test_a_flushed_search_reaches_the_last_word_sooner_and_leaves_the_search_as_it_was():
    """The encoder emits a word's last letters a step or more after their audio; the flushed copy
    (`BeamSearch.flushed`, padded with the last step's frames) has them steps before the search itself."""
    from audio.files import load
    from audio.logmel import LogMel
    from models.char_lm import SHIPPED, CharNgram
    from nodes.config import WEIGHTS

    torch.set_num_threads(1)
    model = RNNT.from_checkpoint(torch.load(WEIGHTS / "asr_rnnt.pt", weights_only=False))
    search = BeamSearch(model, lm=CharNgram.load(SHIPPED))
    frames = LogMel().frames(load(WEIGHTS.parent / "data" / "demo" / "alexa_kitchen_lights_stereo44k.flac"))
    st = search.start()
    texts, flushed = [], []
    for k in range(0, len(frames), 4):
        search.accept(st, frames[k : k + 4])
        before = ([h.tokens for h in st.beam], st.enc_frames, len(st.enc))
        flushed.append(search.best_text(search.flushed(st)))
        assert ([h.tokens for h in st.beam], st.enc_frames, len(st.enc)) == before
        texts.append(search.best_text(st))
    assert texts[-1] == "alexa turn on the kitchen lights"
    assert flushed.index(texts[-1]) <= texts.index(texts[-1]) - 3  # 120 ms or more sooner


def test_the_level_tracker_leaves_usual_and_loud_voices_alone_and_raises_a_quiet_one_to_the_trained_range():
    from nodes.decoder.level import LevelConfig, LevelTracker

    config = LevelConfig(low=-4.0, min_frames=50, min_spread=0.0)
    usual = np.random.default_rng(0).normal(-2.0, 1.0, (200, 8))
    for gain in (0.0, 6.0):
        ordinary = LevelTracker(config)
        for k in range(0, 200, 10):
            assert ordinary.shift(usual[k : k + 10] + gain) == 0.0
            ordinary.take(usual[k : k + 10] + gain)
    quiet = LevelTracker(config)
    shifts = []
    for k in range(0, 200, 10):
        shifts.append(quiet.shift(usual[k : k + 10] - 6.0))
        assert quiet.shift(usual[k : k + 10] - 6.0) == shifts[-1]  # asking takes nothing in
        quiet.take(usual[k : k + 10] - 6.0)
    assert shifts[:4] == [0.0] * 4  # too little heard to tell a quiet voice from a pause
    level = np.percentile((usual - 6.0).mean(axis=1), config.quantile)
    assert shifts[-1] == pytest.approx(config.low - level) and shifts[-1] > 0
    steady = LevelTracker(LevelConfig(low=-4.0, min_frames=50, min_spread=2.0))
    for _ in range(20):  # a steady hum, loud and quiet frames alike: not a quiet speaker
        assert steady.shift(np.full((10, 8), -9.0)) == 0.0
        steady.take(np.full((10, 8), -9.0))
    copy = quiet.copy()
    copy.take(usual[:10])
    assert quiet.heard == 200 and copy.heard == 210


def test_a_quiet_request_is_heard_as_at_the_usual_level():
    """The shipped recogniser was trained on a range of levels; 30 dB under it, a demo request is decoded
    as at its own level only with the level corrected (after the first second, which it needs to hear)."""
    from audio.files import load
    from audio.logmel import LogMel
    from models.char_lm import SHIPPED, CharNgram
    from nodes.config import WEIGHTS

    torch.set_num_threads(1)
    model = RNNT.from_checkpoint(torch.load(WEIGHTS / "asr_rnnt.pt", weights_only=False))
    audio = load(WEIGHTS.parent / "data" / "demo" / "alexa_kitchen_lights_stereo44k.flac")

    def heard(gain: float, level: bool) -> str:
        search = BeamSearch(model, lm=CharNgram.load(SHIPPED), **({} if level else {"level": None}))
        st = search.start()
        frames = LogMel().frames(audio * gain)
        for k in range(0, len(frames), 10):
            search.accept(st, frames[k : k + 10])
        return search.best_text(st)

    assert heard(1.0, True) == heard(1.0, False) == "alexa turn on the kitchen lights"
    assert not heard(10 ** (-30 / 20), False).endswith("turn on the kitchen lights")
    assert heard(10 ** (-30 / 20), True).endswith("turn on the kitchen lights")


def test_each_context_in_use_is_encoded_once_however_many_streams_have_one():
    """The biasing reads a context's phrases with an LSTM over every letter: too dear for every encoder step.
    Forty streams with forty contexts each keep theirs encoded; a context no longer in use is let go."""
    import gc

    search = BeamSearch(RNNT(RNNTConfig(context_dim=16)))
    contexts = [ContextGraph([f"name{i} bauer"]) for i in range(40)]
    first = [search._memory(c) for c in contexts]
    assert all(search._memory(c) is m for c, m in zip(contexts, first, strict=True))
    del contexts, first
    gc.collect()
    assert not len(search._memories)
