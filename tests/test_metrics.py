"""Every metric of the evaluation harness on small hand-built cases with known answers."""

from __future__ import annotations

import json

import pytest

from bench import metrics
from bench.evaluate import evaluate, table


def row(uid, text, *, wake=True, accent="en-us", label="clean", names=(), wake_end=1.0, speech_end=3.0, dur=4.0):
    return {
        "id": uid,
        "text": text,
        "wake_word": wake,
        "accent": accent,
        "voice": f"{accent}+v",
        "condition": {"label": label},
        "names": list(names),
        "wake_end": wake_end if wake else None,
        "speech_end": speech_end,
        "duration_s": dur,
    }


def ev(uid, event, wall_ms, audio_s=0.0, **fields):
    return {"event": event, "stream": f"corpus/test/{uid}.flac", "wall_ms": wall_ms, "audio_s": audio_s, **fields}


def test_wer_counts_substitutions_deletions_and_insertions():
    assert metrics.wer(["call meg bauer"], ["call meg bauer"]) == 0.0
    assert metrics.wer(["call meg bauer"], ["call meg power"]) == pytest.approx(1 / 3)
    assert metrics.wer(["call meg bauer"], [""]) == 1.0
    assert metrics.wer(["turn on the lights", "stop"], ["turn on lights", "stop now"]) == pytest.approx(2 / 5)


def test_name_recall_counts_name_words_found():
    names = [["meg", "bauer"], ["humidifier"], []]
    hyps = ["call meg power", "turn on the humidifier", "stop"]
    assert metrics.name_recall(names, hyps) == pytest.approx(2 / 3)
    assert metrics.name_recall([[]], ["x"]) is None


def test_recognition_per_group_and_cohort_gap():
    rows = [
        row("a", "call meg bauer", accent="en-us"),
        row("b", "play jazz", accent="en-gb"),
        row("n", "alexander is here", wake=False),
    ]
    rec = metrics.recognition(rows, {"a": "call meg bauer", "b": "play"})
    assert rec.per_group == {"en-gb": 0.5, "en-us": 0.0}
    assert rec.cohort_gap == 0.5
    assert rec.wer == pytest.approx(1 / 5)  # negatives have no reference


def test_wake_metrics():
    rows = [
        row("p1", "x", wake_end=1.0),
        row("p2", "x", wake_end=1.2),
        row("p3", "x"),
        row("n1", "x", wake=False, dur=3600.0),
    ]
    events = metrics.group_events([ev("p1", "wake", 1250.0), ev("p2", "wake", 1400.0), ev("n1", "wake", 10.0)])
    w = metrics.wake(rows, events, negative_hours=1.0, negative_wakes=1)
    assert w["false_reject_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert w["false_accepts"] == 2 and w["hours"] == 2.0 and w["false_accepts_per_hour"] == 1.0
    assert w["detection_latency_ms"]["n"] == 2 and w["detection_latency_ms"]["p50"] == pytest.approx(225.0)


def test_endpointing_latencies_and_premature_cuts():
    rows = [row("a", "x", speech_end=2.0), row("b", "x", speech_end=3.0)]
    events = metrics.group_events(
        [
            # a: speculative at 2.2 s, final agrees at 2.45 s, committed at 2.5 s
            ev("a", "endpoint", 2200.0, 2.15, kind="speculative"),
            ev("a", "endpoint", 2450.0, 2.15, kind="final"),
            ev("a", "result", 2500.0, text="x"),
            # b: speculative cut the speaker off at 1.5 s; reset; final at 3.6 s, committed at 3.7 s
            ev("b", "endpoint", 1600.0, 1.5, kind="speculative"),
            ev("b", "reset", 3550.0),
            ev("b", "endpoint", 3600.0, 3.2, kind="final"),
            ev("b", "result", 3700.0, text="x"),
        ]
    )
    ep = metrics.endpointing(rows, events)
    assert ep["premature_cut_rate"] == 0.5
    assert ep["final_latency_ms"]["p50"] == pytest.approx((450 + 600) / 2)
    assert ep["user_perceived_latency_ms"]["mean"] == pytest.approx((500 + 700) / 2)
    assert ep["speculative_latency_ms"]["n"] == 2


def test_evaluate_reads_files_and_prints_a_table(tmp_path):
    manifest = tmp_path / "test.jsonl"
    rows = [row("a", "call meg bauer", names=["meg", "bauer"]), row("b", "play jazz", accent="en-gb")]
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    events = tmp_path / "events.jsonl"
    evs = [
        ev("a", "wake", 1200.0),
        ev("a", "result", 3300.0, text="call meg bauer", first_pass_text="call meg power"),
        ev("b", "wake", 1100.0),
        ev("b", "result", 3400.0, text="play jazz", first_pass_text="play jazz"),
    ]
    events.write_text("".join(json.dumps(e) + "\n" for e in evs))
    summary = evaluate(str(manifest), str(events))
    assert summary["first_pass"]["wer"] == pytest.approx(1 / 5) and summary["rescored"]["wer"] == 0.0
    assert summary["first_pass"]["name_recall"] == 0.5 and summary["rescored"]["name_recall"] == 1.0
    assert summary["wake"]["false_reject_rate"] == 0.0
    assert set(summary["first_pass"]["wer_by_accent"]) == {"en-us", "en-gb"}
    assert summary["endpointing"]["user_perceived_latency_ms"]["p50"] == pytest.approx(350.0)
    text = table(summary)
    assert "wer" in text and "false-reject rate 0.000" in text


def _result(uid: str, text: str, intent: str, slots: dict, confidence: float | None) -> dict:
    return {"event": "result", "stream": f"{uid}.flac", "text": text, "intent": intent, "slots": slots,
            "confidence": confidence, "context": ["meg bauer"]}  # fmt: skip


def test_false_actions_against_rejected_correct_requests():
    rows = [
        {"id": "a", "text": "call meg bauer", "intent": "call", "slots": {"contact": "meg bauer"}, "slice": "phrasing"},
        {"id": "b", "text": "call meg bauer", "intent": "call", "slots": {"contact": "meg bauer"}, "slice": "phrasing"},
        {"id": "c", "text": "our neighbours have a new puppy", "intent": "none", "slots": {}, "slice": "ood"},
        {"id": "d", "text": "call meg bauer", "intent": "call", "slots": {"contact": "meg bauer"}, "slice": "phrasing"},
    ]
    events = {
        "a": [_result("a", "call meg bauer", "call", {"contact": "meg bauer"}, 0.9)],  # right, acted
        "b": [_result("b", "call meg bauer", "unknown", {}, 0.2)],  # right, but refused as unsure
        "c": [_result("c", "call our neighbours", "call", {"contact": "our neighbours"}, 0.6)],  # a false action
        "d": [_result("d", "tell meg bauer", "unknown", {}, 0.1)],  # wrong and refused: no harm done
    }
    out = metrics.actions(rows, events)
    assert out["utterances"] == 4 and out["rejected"] == 2
    assert out["false_action_rate"] == 0.25  # c
    assert out["reject_correct_rate"] == 0.5  # b of a and b
    by = {c["threshold"]: c for c in out["curve"]}
    assert by[0.0]["false_actions"] == 2  # without a threshold d's misheard "tell meg bauer" is acted on too
    assert by[0.7]["false_actions"] == 0 and by[0.7]["reject_correct_rate"] == 0.5
    assert by[0.95]["reject_correct_rate"] == 1.0
    assert metrics.actions(rows, {k: [dict(e[0], confidence=None)] for k, e in events.items()}) is None


def test_entity_errors_count_whole_entities():
    rows = [{"id": "a", "text": "will it rain in kokomo today", "slots": {"city": "kokomo", "date": "today"}}]
    assert metrics.entity_errors(rows, {"a": "will it rain in cocomo today"}, metrics.CATALOG_SLOTS)["rate"] == 1.0
    assert metrics.entity_errors(rows, {"a": "it rain in kokomo"}, metrics.CATALOG_SLOTS)["errors"] == 0
