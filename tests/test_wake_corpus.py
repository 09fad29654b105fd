"""The wake word's set: held-out engine and voices really are, and spans say where the wake word is."""

from __future__ import annotations

import dataclasses
import json

import pytest

from audio.files import load
from corpus import wake
from corpus.tts import FLITE_VOICES, RHVOICE_VOICES


@pytest.fixture(scope="module")
def full_plan() -> dict[str, list[dict]]:
    return wake.plan(seed=0, size="default")


def test_engines_voices_and_phrasings_are_held_out(full_plan):
    train_voices = {r["voice"] for r in full_plan["train"]}
    for split in ("dev", "test"):
        assert not train_voices & {r["voice"] for r in full_plan[split]}
    for split, rows in full_plan.items():
        for r in rows:
            held_out = r["engine"] == wake.HELD_OUT_ENGINE.get(split)
            assert held_out == (r["slice"] == "engine") and r["wake_word"] >= held_out, r
            if r["engine"] == "flite":
                assert split == "test" and r["variant"] in FLITE_VOICES
            if r["engine"] == "rhvoice":
                assert split == "dev" and r["variant"] in RHVOICE_VOICES, r  # never a speaker flite has
            if r["engine"] in ("piper", "mbrola", "pico"):
                assert split == "train"
    voices_rows = [r for r in full_plan["train"] if r["engine"] in ("mbrola", "pico")]
    assert len({r["voice"] for r in voices_rows}) >= 10 and sum(r["wake_word"] for r in voices_rows) > 500
    dev_engine = [r for r in full_plan["dev"] if r["slice"] == "engine"]
    assert len(dev_engine) == 200 and {r["variant"] for r in dev_engine} == set(RHVOICE_VOICES)
    train_texts = {r["text"] for r in full_plan["train"] if r["text_kind"] != "in_template"}  # the old grammar's
    # short fixed requests ("the second one") are in every split's in_template rows, as in the speech set
    held_out = [r for r in full_plan["test"] if r["text_kind"] in ("phrasing", "ood")]
    assert len(held_out) > 1000 and not any(r["text"] in train_texts for r in held_out)


def test_speaker_rows_add_the_word_in_many_voices_and_keep_the_rows_before(full_plan, monkeypatch):
    train = full_plan["train"]
    speakers = [r for r in train if "-speakers-" in r["id"]]
    assert len(speakers) == wake.SIZES["default"].speakers and train[-len(speakers) :] == speakers
    assert {r["slice"] for r in speakers} == set(wake.SPEAKER_KINDS)
    assert sum(r["wake_word"] for r in speakers) > len(speakers) // 2
    assert len({r["voice"] for r in speakers}) > 300 and {r["engine"] for r in speakers} == {"espeak", "mbrola", "pico"}
    monkeypatch.setitem(wake.SIZES, "without", dataclasses.replace(wake.SIZES["tiny"], speakers=0))
    tiny = wake.plan(seed=0, size="tiny")["train"]
    assert tiny[: -wake.SIZES["tiny"].speakers] == wake.plan(seed=0, size="without")["train"]


def test_test_negatives_are_look_alikes_and_speech(full_plan):
    negatives = [r for r in full_plan["test"] if not r["wake_word"]]
    assert len(negatives) >= 1000  # with the speech set's 1,700 test rows: more than two hours
    assert {r["slice"] for r in negatives} == {"lookalike", "no_wake"}


def test_rows_carry_the_wake_words_span(tiny_wake):
    rows = [json.loads(line) for line in (tiny_wake / "test.jsonl").read_text().splitlines()]
    assert {r["slice"] for r in rows} == {"positive", "engine", "lookalike", "no_wake"}
    for r in rows:
        audio = load(tiny_wake / r["audio"])
        assert abs(len(audio) / 16_000 - r["duration_s"]) < 0.01
        if r["wake_word"]:
            assert 0.2 <= r["wake_start"] < r["wake_end"] < r["speech_end"] <= r["duration_s"]
            assert 0.2 < r["wake_end"] - r["wake_start"] < 1.5  # "alexa", not the whole request
        else:
            assert r["wake_start"] is None and r["wake_end"] is None
    again = wake.render(rows[0])[0]
    assert abs(len(again) - len(load(tiny_wake / rows[0]["audio"]))) == 0
