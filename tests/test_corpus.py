"""The corpus builder: the tiny corpus builds in seconds, splits leak nothing, truth times are right."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import soundfile as sf

from audio import SAMPLE_RATE
from corpus import augment, grammar
from corpus.build import build
from corpus.splits import make_splits, split_of
from corpus.tts import Prosody, Voice, all_voices, speech_bounds, synthesize


def rows(out: Path, split: str) -> list[dict]:
    return [json.loads(line) for line in (out / f"{split}.jsonl").read_text().splitlines()]


def test_tiny_corpus_has_manifests_audio_and_a_data_card(tiny):
    summary = json.loads((tiny / "summary.json").read_text())
    assert summary["splits"]["test"]["negative_stream_hours"] > 0
    for split in ("train", "dev", "test"):
        for r in rows(tiny, split):
            info = sf.info(tiny / r["audio"])
            assert info.samplerate == SAMPLE_RATE and info.channels == 1
            assert abs(info.duration - r["duration_s"]) < 0.01
            assert r["text"] and r["intent"] and r["voice"] and r["condition"]["label"]
            assert 0 < r["speech_start"] < r["speech_end"] < r["duration_s"]
            if r["wake_word"]:
                assert r["wake_start"] < r["wake_end"] <= r["speech_start"]
    assert "Piper voice provenance" in (tiny / "DATA_CARD.md").read_text()


def test_rebuilding_resumes_and_is_identical(tiny, tmp_path):
    before = (tiny / "test.jsonl").read_text()
    build(tiny, size="tiny", seed=3, jobs=1, progress=False)  # every entry exists: nothing is redone
    assert (tiny / "test.jsonl").read_text() == before
    other = tmp_path / "again"
    build(other, size="tiny", seed=3, jobs=1, progress=False)
    assert (other / "test.jsonl").read_text().replace(str(other), "") == before.replace(str(tiny), "")
    a, _ = sf.read(tiny / rows(tiny, "test")[0]["audio"])
    b, _ = sf.read(other / rows(tiny, "test")[0]["audio"])
    np.testing.assert_array_equal(a, b)


def test_truth_times_match_an_energy_alignment_on_clean_audio(tiny):
    clean = [r for s in ("train", "dev", "test") for r in rows(tiny, s) if r["condition"]["label"] == "clean"]
    assert clean
    for r in clean:
        x, _ = sf.read(tiny / r["audio"], dtype="float32")
        start, end = speech_bounds(x)
        truth_start = r["wake_start"] if r["wake_word"] else r["speech_start"]
        assert abs(start / SAMPLE_RATE - truth_start) < 0.03, r["id"]
        assert abs(end / SAMPLE_RATE - r["speech_end"]) < 0.03, r["id"]


def test_no_voice_or_name_is_shared_between_splits():
    splits = make_splits(all_voices(), seed=0)
    for a in splits.values():
        for b in splits.values():
            if a.name == b.name:
                continue
            assert not set(a.voices) & set(b.voices)
            assert not set(a.names.first_names) & set(b.names.first_names)
            assert not set(a.names.last_names) & set(b.names.last_names)
            assert not set(a.names.devices) & set(b.names.devices)
    assert all(v.engine == "espeak" for v in splits["test"].voices)


def test_test_manifests_only_use_test_names_and_voices(tiny):
    splits = json.loads((tiny / "splits.json").read_text())
    train_names = set(splits["train"]["first_names"] + splits["train"]["last_names"] + splits["train"]["devices"])
    for split in ("dev", "test"):
        for r in rows(tiny, split):
            assert r["voice"] in splits[split]["voices"] and r["voice"] not in splits["train"]["voices"]
            assert not set(r["names"]) & train_names, r


def test_split_of_is_stable_and_roughly_proportional():
    assert split_of("first:meg", 0) == split_of("first:meg", 0)
    counts = {"train": 0, "dev": 0, "test": 0}
    for i in range(3000):
        counts[split_of(f"k{i}", 1)] += 1
    assert 0.70 < counts["train"] / 3000 < 0.80 and 0.12 < counts["test"] / 3000 < 0.18


def test_grammar_makes_many_distinct_requests_with_slots():
    pool = make_splits(all_voices(), seed=0)["train"].names
    rng = random.Random(0)
    reqs = [grammar.request(rng, pool) for _ in range(20000)]
    assert len({r.text for r in reqs}) > 8000
    assert {r.intent for r in reqs} >= {
        "call",
        "send_message",
        "device_power",
        "play_music",
        "set_timer",
        "weather",
        "shopping_list",
        "question",
        "select",
    }
    for r in reqs:
        assert r.text == r.text.lower() and not any(ch.isdigit() for ch in r.text)
        for name in r.names:
            assert name in r.text.split()
    assert grammar.number_words(75) == "seventy five" and grammar.number_words(105) == "one hundred five"


def test_tts_gives_16k_speech():
    x = synthesize("call meg bauer", Voice("espeak", "en-gb", "f3"), Prosody(rate_wpm=170))
    assert x.dtype == np.float32 and 0.5 < len(x) / SAMPLE_RATE < 2.5
    assert speech_bounds(x) == (0, len(x)) or speech_bounds(x)[1] - speech_bounds(x)[0] > 0.9 * len(x)


def test_snr_mixing_hits_its_target():
    rng = np.random.default_rng(0)
    speech = np.sin(np.arange(16000) / 5).astype(np.float32)
    n = augment.colored_noise(rng, 16000, 1.0)
    mixed = augment.mix_at_snr(speech, n, 10.0)
    noise_part = mixed - speech
    snr = 10 * np.log10(np.mean(speech**2) / np.mean(noise_part**2))
    assert abs(snr - 10.0) < 0.01


def test_the_name_drill_speaks_made_up_names_never_a_held_out_one(tiny):
    from corpus.pseudonames import drill_pool

    pools = drill_pool(seed=0), drill_pool(seed=0, style="world")
    words = {w for p in pools for names in (p.first_names, p.last_names, p.devices) for n in names for w in n.split()}
    assert all(len(p.first_names) == len(set(p.first_names)) == 3000 for p in pools)
    splits = make_splits(all_voices(), seed=0)
    heard = {w for d in splits["train"].names.devices for w in d.split()}  # "lamp" of "desk lamp"
    for held_out in ("dev", "test"):
        names = splits[held_out].names
        held = {w for n in (*names.first_names, *names.last_names, *names.devices) for w in n.split()}
        assert not (words & held) - heard
    drill = sorted((r for r in rows(tiny, "train") if r["id"].startswith("train-drill-")), key=lambda r: r["id"])
    assert len(drill) == 3 and all(r["names"] for r in drill)
    for rows_, style in ((drill[:2], "english"), (drill[2:], "world")):
        tiny_pool = drill_pool(seed=3, style=style)
        made_up = set(tiny_pool.first_names + tiny_pool.last_names) | {w for d in tiny_pool.devices for w in d.split()}
        assert all(set(r["names"]) <= made_up for r in rows_)
