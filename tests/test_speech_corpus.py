"""The recogniser's speech set: what is held out really is, and rows render the same audio everywhere."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from corpus import phrasings, speech, wordlists
from corpus.tts import FLITE_VOICES, RESERVED_MBROLA, RHVOICE_VOICES, Prosody, Voice, rhvoice_voices, synthesize
from models.rnnt import RNNT, RNNTConfig


@pytest.fixture(scope="module")
def full_plan() -> dict[str, list[dict]]:
    return speech.plan(seed=0, size="default")


@pytest.fixture(scope="module")
def tiny_set(tiny_speech):
    return tiny_speech


def test_no_dev_or_test_phrasing_can_be_made_by_a_train_template(full_plan):
    held_out = [r for s in ("dev", "test") for r in full_plan[s] if r.get("skeleton")]
    assert len(held_out) > 1000
    for r in held_out:
        assert phrasings.template_split(r["intent"])[r["template"]] == r["split"]
        assert r["skeleton"] not in phrasings.train_skeletons(r["intent"]), r
    train_skeletons = {r["skeleton"] for r in full_plan["train"] if r.get("skeleton")}
    assert not train_skeletons & {r["skeleton"] for r in held_out}


def test_word_lists_sentences_and_voices_are_divided(full_plan):
    lists = speech.word_lists(0)
    for field in ("first", "last", "cities", "items", "sentences", "words"):
        train, test = set(getattr(lists["train"], field)), set(getattr(lists["test"], field))
        assert train and test and not train & test, field
    train_texts = {r["text"] for r in full_plan["train"]}
    ood = [r for r in full_plan["test"] if r["slice"] == "ood"]
    assert ood and not any(r["text"] in train_texts for r in ood)
    train_voices = {r["voice"] for r in full_plan["train"]}
    assert not train_voices & {r["voice"] for s in ("dev", "test") for r in full_plan[s]}


def test_flite_speaks_only_the_engine_slice_and_piper_only_train(full_plan):
    for split, rows in full_plan.items():
        for r in rows:
            if r["engine"] == "flite":
                assert split == "test" and r["slice"] == "engine" and r["variant"] in FLITE_VOICES
            if r["slice"] == "engine":
                assert r["engine"] == "flite"
            if r["engine"] == "piper":
                assert split == "train"
    assert set(FLITE_VOICES) == {"awb", "rms"}  # the others are kept for evaluation outside the project


def test_mbrola_and_pico_speak_train_rows_only_and_festivals_speakers_never(full_plan):
    by_engine = {e: [r for rows in full_plan.values() for r in rows if r["engine"] == e] for e in ("mbrola", "pico")}
    assert len({r["voice"] for r in by_engine["mbrola"]}) >= 10 and len({r["voice"] for r in by_engine["pico"]}) == 2
    assert all(r["split"] == "train" for rows in by_engine.values() for r in rows)
    assert not {r["variant"] for r in by_engine["mbrola"]} & set(RESERVED_MBROLA)
    with pytest.raises(ValueError, match="may use"):
        synthesize("hello", Voice("mbrola", "en", "us1"), Prosody())
    for voice in (Voice("mbrola", "en", "nl2"), Voice("pico", "en-GB")):
        slow = synthesize("turn on the kitchen lights", voice, Prosody(rate_wpm=120, pitch=50))
        fast = synthesize("turn on the kitchen lights", voice, Prosody(rate_wpm=200, pitch=50))
        assert 0.6 < len(fast) / 16000 < len(slow) / 16000 < 3.5, voice  # the rate is heard


def test_rhvoice_speaks_train_rows_only_and_never_a_speaker_flite_has(full_plan):
    voices = rhvoice_voices()
    assert {v.variant for v in voices} == set(RHVOICE_VOICES)
    rows = [r for rows in full_plan.values() for r in rows if r["engine"] == "rhvoice"]
    assert len(rows) > 1000 and all(r["split"] == "train" for r in rows)
    assert {r["variant"] for r in rows} == set(RHVOICE_VOICES)
    others = [d.name for d in Path("/usr/share/RHVoice/voices").iterdir() if d.name not in RHVOICE_VOICES]
    # the English package ships two more CMU ARCTIC speakers whom flite speaks too: a reserved one, and
    # the held-out engine's awb ("alan"); neither is ever spoken here
    assert "alan" in others and len(others) == 2
    for name in others:
        with pytest.raises(ValueError, match="may use"):
            synthesize("hello", Voice("rhvoice", "en", name), Prosody())
    slow = synthesize("turn on the kitchen lights", voices[0], Prosody(rate_wpm=120, pitch=50))
    fast = synthesize("turn on the kitchen lights", voices[0], Prosody(rate_wpm=200, pitch=50))
    assert 0.6 < len(fast) / 16000 < len(slow) / 16000 < 3.5  # the rate is heard


def test_rebuilding_keeps_the_rows_of_a_manifest_and_adds_new_ones(tiny_set, tmp_path):
    import shutil

    out = tmp_path / "set"
    shutil.copytree(tiny_set, out)
    train = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    changed = [*train[:3], {**train[3], "voice": "kept-as-written"}]
    (out / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in changed))
    speech.build(out, size="tiny", seed=0, jobs=1, progress=False)
    again = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert again[3]["voice"] == "kept-as-written" and [r["id"] for r in again] == [r["id"] for r in train]


def test_the_evaluation_splits_build_alone_and_train_follows_without_touching_them(tiny_set, tmp_path):
    """`--splits dev,test`: the benchmarks' rows without train's Piper speech; a later full build adds train and
    keeps dev and test as they were written."""
    from speechgraph.cli import main

    out = tmp_path / "set"
    speech.build(out, size="tiny", seed=0, jobs=1, progress=False, splits=("dev", "test"))
    assert (out / "dev.jsonl").exists() and (out / "test.jsonl").exists() and not (out / "train.jsonl").exists()
    assert not (out / "train_piper").exists()
    test = (out / "test.jsonl").read_text()
    assert test == (tiny_set / "test.jsonl").read_text()  # the same rows as a whole build's
    summary = speech.build(out, size="tiny", seed=0, jobs=1, progress=False)
    assert (out / "train.jsonl").exists() and (out / "test.jsonl").read_text() == test
    assert set(summary) >= {"train", "dev", "test"}
    assert main(["corpus", "--set", "speech", "--size", "tiny", "--out", str(out), "--splits", "dev,bogus"]) == 2
    assert main(["corpus", "--set", "wake", "--size", "tiny", "--out", str(out), "--splits", "dev"]) == 2


def test_the_speech_set_is_broad(full_plan):
    train = full_plan["train"]
    assert len({r["text"] for r in train}) > 30_000
    assert len({w for r in train for w in r["text"].split()}) > 20_000
    assert sum(r["slice"] in ("sentence", "words") for r in train) > 0.3 * len(train)


def test_rows_render_the_same_audio_twice_and_eval_rows_are_files(tiny_set):
    train = [json.loads(line) for line in (tiny_set / "train.jsonl").read_text().splitlines()]
    espeak_row = next(r for r in train if r["engine"] == "espeak" and r["speed"] != 1.0)
    a, speech_a = speech.render(espeak_row)
    b, speech_b = speech.render(espeak_row)
    assert speech_a == speech_b and np.array_equal(a, b)
    assert np.abs(a).max() <= 1.0 and speech_a[1] - speech_a[0] > 1600
    piper_row = next(r for r in train if r["engine"] == "piper")
    assert (tiny_set / piper_row["clean_audio"]).exists()
    assert len(speech.render(piper_row, tiny_set)[0]) > 1600
    test = [json.loads(line) for line in (tiny_set / "test.jsonl").read_text().splitlines()]
    assert {r["slice"] for r in test} == {"phrasing", "ood", "engine", "in_template"}
    for r in test:
        assert (tiny_set / r["audio"]).exists() and 0 < r["speech_start"] < r["speech_end"] < r["duration_s"]
    assert json.loads((tiny_set / "splits.json").read_text())["test"]["first_names"]


def test_normalise_writes_what_a_recogniser_writes():
    assert wordlists.normalise("Café at 7:30, isn't it?") == "cafe at seven thirty isn't it"
    assert wordlists.normalise("'Quoted' words & 50%") == "quoted words and fifty percent"
    assert wordlists.normalise("In 1984 there were") is None
    assert wordlists.normalise("Москва") is None


def test_templates_expand_to_every_option():
    assert phrasings.expansions("[a|b|]c[ d|]") == {"ac", "bc", "c", "ac d", "bc d", "c d"}
    rng = random.Random(1)
    f = phrasings.fill("call {contact}[ at work|]", "call", {"contact": lambda r: "meg bauer"}, rng)
    assert f.text.startswith("call meg bauer") and f.slots == {"contact": "meg bauer"}
    assert f.skeleton in ("call {contact}", "call {contact} at work")


def test_the_stateless_prediction_network_streams_like_it_reads_whole():
    torch.manual_seed(0)  # float sums in another order differ by ~1e-6: fixed inputs, a tolerance above that
    model = RNNT(RNNTConfig(pred_context=4)).eval()
    labels = torch.randint(1, 29, (3, 9))
    whole, _ = model.predictor(labels)
    first, state = model.predictor(labels[:, :4])
    rest, _ = model.predictor(labels[:, 4:], state)
    assert torch.allclose(torch.cat([first, rest], dim=1), whole, atol=1e-5)
    one_by_one, state = [], None
    for u in range(labels.shape[1]):
        out, state = model.predictor(labels[:, u : u + 1], state)
        one_by_one.append(out)
    assert torch.allclose(torch.cat(one_by_one, dim=1), whole, atol=1e-5)
    changed = labels.clone()
    changed[:, 0] = (changed[:, 0] % 28) + 1  # a unit more than four back is forgotten
    assert torch.allclose(model.predictor(changed)[0][:, 4:], whole[:, 4:], atol=1e-5)


def test_real_recordings_are_read_with_the_transcripts_their_package_ships(tmp_path):
    from corpus.real import alsa_clips, pocketsphinx_recordings

    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "cards.transcription").write_text(
        "<s> ten of clubs  </s> (001)\n<s> Five five </s> (004)\nnot a transcript line\n<s> no audio </s> (009)\n"
    )
    for name in ("001", "004"):
        (cards / f"{name}.wav").write_bytes(b"")
    found = pocketsphinx_recordings(tmp_path)
    assert [(r.path.name, r.text, r.source) for r in found] == [
        ("001.wav", "ten of clubs", "pocketsphinx cards"),
        ("004.wav", "five five", "pocketsphinx cards"),
    ]
    (tmp_path / "alsa").mkdir()
    for name in ("Front_Left.wav", "Noise.wav"):
        (tmp_path / "alsa" / name).write_bytes(b"")
    assert [(r.text, r.source) for r in alsa_clips(tmp_path / "alsa")] == [("front left", "alsa-utils")]
    assert pocketsphinx_recordings(tmp_path / "absent") == [] and alsa_clips(tmp_path / "absent") == []
