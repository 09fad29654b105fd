"""Metrics from event logs and manifests, as docs/architecture.md defines them.

Inputs are plain dicts: manifest rows (corpus JSON lines) and events (the JSON
lines of `speechgraph replay`). An event belongs to the utterance whose id is
the stem of its stream's path. Latencies follow the definitions of docs/architecture.md and so
need a replay paced at real time: wall time of the event minus the wall time at
which the ground-truth audio time was captured (t0 + t).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jiwer
import numpy as np


def utterance_id(stream: str) -> str:
    return Path(stream).stem


def group_events(events: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Events per recording, with `wall_ms` counted from the recording's own start: a replay with
    limited concurrency starts recordings later (their `stream` event gives `start_offset_s`)."""
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        by[utterance_id(e["stream"])].append(e)
    for evs in by.values():
        offset = next((e.get("start_offset_s", 0.0) for e in evs if e["event"] == "stream"), 0.0) * 1000
        if offset:
            for e in evs:
                if "wall_ms" in e:
                    e["wall_ms"] = e["wall_ms"] - offset
    return by


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"n": 0, "p50": None, "p90": None, "p99": None, "mean": None}
    a = np.asarray(values, dtype=float)
    return {
        "n": len(values),
        "p50": round(float(np.percentile(a, 50)), 1),
        "p90": round(float(np.percentile(a, 90)), 1),
        "p99": round(float(np.percentile(a, 99)), 1),
        "mean": round(float(a.mean()), 1),
    }


# -- recognition ------------------------------------------------------------------


def wer(refs: list[str], hyps: list[str]) -> float:
    """Word error rate over a set (errors / reference words); empty hypotheses count as deletions."""
    pairs = [(r, h) for r, h in zip(refs, hyps, strict=True) if r.strip()]
    if not pairs:
        return 0.0
    out = jiwer.process_words([r for r, _ in pairs], [h if h.strip() else "" for _, h in pairs])
    return float(out.wer)


def name_recall(names: list[list[str]], hyps: list[str]) -> float | None:
    """Share of the contact and device name words of the references that appear in the hypotheses."""
    total = found = 0
    for words, hyp in zip(names, hyps, strict=True):
        said = hyp.split()
        for w in words:
            total += 1
            found += w in said
    return None if total == 0 else found / total


@dataclass
class Recognition:
    wer: float
    name_recall: float | None
    per_group: dict[str, float]
    cohort_gap: float | None


def heard(row: dict) -> bool:
    """Whether the recogniser is meant to hear a row: a request after the wake word, or any row of the
    speech set (`corpus.speech`, rows with a `slice`), which is spoken without one."""
    return bool(row.get("wake_word", True)) or "slice" in row


def recognition(rows: list[dict], hyps: dict[str, str], group_key: str = "accent") -> Recognition:
    """WER and name recall over the rows that have a reference; per-group WER and the best-worst gap."""
    rows = [r for r in rows if heard(r)]
    refs = [r["text"] for r in rows]
    hs = [hyps.get(r["id"], "") for r in rows]
    groups: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for r, h in zip(rows, hs, strict=True):
        key = r[group_key] if group_key != "condition" else r["condition"]["label"]
        groups[key][0].append(r["text"])
        groups[key][1].append(h)
    per = {k: round(wer(a, b), 4) for k, (a, b) in sorted(groups.items())}
    gap = round(max(per.values()) - min(per.values()), 4) if len(per) > 1 else None
    return Recognition(round(wer(refs, hs), 4), name_recall([r.get("names", []) for r in rows], hs), per, gap)


# -- wake word --------------------------------------------------------------------


def wake(rows: list[dict], events: dict[str, list[dict]], negative_hours: float, negative_wakes: int) -> dict:
    """False-reject rate on positives, false accepts per hour, detection latency from the wake word's end.

    A wake event on an utterance without the wake word is a false accept too; its audio counts in the hours.
    """
    positives = [r for r in rows if r["wake_word"]]
    rejected = 0
    latencies = []
    false_accepts = negative_wakes
    hours = negative_hours
    for r in rows:
        wakes = [e for e in events.get(r["id"], []) if e["event"] == "wake"]
        if r["wake_word"]:
            if not wakes:
                rejected += 1
            else:
                latencies.append(wakes[0]["wall_ms"] - r["wake_end"] * 1000)
        else:
            false_accepts += len(wakes)
            hours += r["duration_s"] / 3600
    return {
        "positives": len(positives),
        "false_reject_rate": round(rejected / len(positives), 4) if positives else None,
        "false_accepts": false_accepts,
        "hours": round(hours, 4),
        "false_accepts_per_hour": round(false_accepts / hours, 3) if hours else None,
        "detection_latency_ms": percentiles(latencies),
    }


# -- end-pointing and user-perceived latency -------------------------------------------


def endpointing(rows: list[dict], events: dict[str, list[dict]]) -> dict:
    """End-point latencies, premature cut rate and user-perceived latency (docs/architecture.md definitions)."""
    spec, final, upl = [], [], []
    premature = judged = 0
    for r in rows:
        if not r["wake_word"]:
            continue
        evs = events.get(r["id"], [])
        eos_ms = r["speech_end"] * 1000
        specs = [e for e in evs if e["event"] == "endpoint" and e.get("kind") == "speculative"]
        finals = [e for e in evs if e["event"] == "endpoint" and e.get("kind") == "final"]
        resets = [e for e in evs if e["event"] == "reset"]
        results = [e for e in evs if e["event"] == "result"]
        if specs:
            judged += 1
            spec.append(specs[-1]["wall_ms"] - eos_ms)
            if any(s["audio_s"] < r["speech_end"] for s in specs) and resets:
                premature += 1
        if finals:
            final.append(finals[-1]["wall_ms"] - eos_ms)
        if results:
            upl.append(results[-1]["wall_ms"] - eos_ms)
    return {
        "speculative_latency_ms": percentiles(spec),
        "final_latency_ms": percentiles(final),
        "premature_cut_rate": round(premature / judged, 4) if judged else None,
        "user_perceived_latency_ms": percentiles(upl),
    }


def hypotheses(events: dict[str, list[dict]], field: str = "text") -> dict[str, str]:
    """The committed text per recording: every committed `result` in order (a false wake adds insertions)."""
    out = {}
    for uid, evs in events.items():
        results = [e for e in evs if e["event"] == "result"]
        if results:
            out[uid] = " ".join(r.get(field, "") for r in results if r.get(field))
    return out


# -- entities and actions ------------------------------------------------------------

CONTEXT_SLOTS = ("contact", "device")
"""Entities a user's device holds in its context (`corpus.contexts`)."""
CATALOG_SLOTS = ("city", "country", "item", "item2", "artist")
"""Entities only the cloud's catalogs know: never in a device's context."""


def entities(row: dict, slots: tuple[str, ...]) -> list[str]:
    """The row's slot values of those kinds that are spelt out in its text (a few templates drop one)."""
    text = f" {row['text']} "
    return [v for k in slots if (v := row.get("slots", {}).get(k)) and f" {v} " in text]


def entity_errors(rows: list[dict], hyps: dict[str, str], slots: tuple[str, ...]) -> dict[str, Any]:
    """Entities of `slots` kinds whose words are not all there, in order, in the hypothesis (errors / entities)."""
    total = wrong = 0
    for r in rows:
        said = f" {hyps.get(r['id'], '')} "
        for value in entities(r, slots):
            total += 1
            wrong += f" {value} " not in said
    return {"entities": total, "errors": wrong, "rate": round(wrong / total, 4) if total else None}


def acted(intent: str | None) -> bool:
    """Whether the assistant does something: an intent other than none and unknown (it asks again)."""
    return intent not in (None, "none", "unknown")


def action_curve(items: list[dict[str, Any]], thresholds: list[float]) -> list[dict[str, Any]]:
    """False actions and rejections at each confidence threshold.

    Each item: `confidence`, `action` (intent, slots) the NLU reads in the hypothesis, `truth` (intent, slots).
    A false action: the assistant acts (not `none` / `unknown`) and the action differs from the truth; a correctly
    recognised request: it acts and the action is the truth. Rejected: below the threshold (`unknown`). Rates:
    false actions over all items; rejections over correctly recognised requests.
    """
    n = len(items)
    good = [it for it in items if acted(it["action"][0]) and it["action"] == it["truth"]]
    out = []
    for t in thresholds:
        kept = [it for it in items if it["confidence"] is None or it["confidence"] >= t]
        false = sum(acted(it["action"][0]) and it["action"] != it["truth"] for it in kept)
        rejected = sum(it["confidence"] is not None and it["confidence"] < t for it in good)
        out.append(
            {
                "threshold": round(t, 4),
                "false_action_rate": round(false / n, 4) if n else None,
                "false_actions": false,
                "reject_correct_rate": round(rejected / len(good), 4) if good else None,
                "rejected_correct": rejected,
                "rejected_all": n - len(kept),
                "utterances": n,
                "correct_requests": len(good),
            }
        )
    return out


def actions(rows: list[dict], events: dict[str, list[dict]]) -> dict[str, Any] | None:
    """False actions against rejections of correct requests, from a replay's `result` events (their intent,
    slots, confidence and text): at the shipped threshold (what the NLU did) and as a curve over thresholds
    (the NLU's reading of each text, refused below the threshold). Truth: the manifest's intent and slots.
    None when no result carried a confidence (a graph without the rescorer)."""
    from nodes.nlu import parse

    items = []
    for r in rows:
        results = [e for e in events.get(r["id"], []) if e["event"] == "result"]
        if not results or not heard(r) or "intent" not in r:
            continue
        e = results[-1]
        reading = parse(e.get("text", ""), e.get("context", []))
        items.append(
            {
                "confidence": e.get("confidence"),
                "did": (e.get("intent"), sorted((e.get("slots") or {}).items())),
                "action": (reading.intent, sorted(reading.slots.items())),
                "truth": (r["intent"], sorted(r["slots"].items())),
            }
        )
    if not items or all(it["confidence"] is None for it in items):
        return None
    n = len(items)
    false = sum(acted(it["did"][0]) and it["did"] != it["truth"] for it in items)
    good = [it for it in items if acted(it["action"][0]) and it["action"] == it["truth"]]
    refused = sum(it["did"][0] == "unknown" for it in good)
    thresholds = sorted({0.0, *(round(k / 20, 2) for k in range(1, 20))})
    return {
        "utterances": n,
        "false_action_rate": round(false / n, 4),
        "rejected": sum(it["did"][0] == "unknown" for it in items),
        "reject_correct_rate": round(refused / len(good), 4) if good else None,
        "curve": action_curve(items, thresholds),
    }
