"""`speechgraph eval`: every metric of a replay, as a JSON summary and a readable table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import metrics


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def evaluate(manifest: str, events: str, negatives: str | None = None, negative_events: str | None = None) -> dict:
    by_utt = metrics.group_events(read_jsonl(events))
    rows = [r for r in read_jsonl(manifest) if r["id"] in by_utt]  # the rows this replay covered
    neg_hours = 0.0
    neg_wakes = 0
    if negatives and negative_events:
        neg_hours = sum(r["duration_s"] for r in read_jsonl(negatives)) / 3600
        neg_wakes = sum(e["event"] == "wake" for e in read_jsonl(negative_events))
    summary: dict[str, Any] = {"utterances": len(rows)}
    for name, field in (("first_pass", "first_pass_text"), ("rescored", "text")):
        hyps = metrics.hypotheses(by_utt, field)
        rec = metrics.recognition(rows, hyps, "accent")
        summary[name] = {
            "wer": rec.wer,
            "name_recall": rec.name_recall,
            "wer_by_accent": rec.per_group,
            "cohort_gap": rec.cohort_gap,
            "wer_by_condition": metrics.recognition(rows, hyps, "condition").per_group,
            "wer_by_voice": metrics.recognition(rows, hyps, "voice").per_group,
        }
    summary["wake"] = metrics.wake(rows, by_utt, neg_hours, neg_wakes)
    summary["endpointing"] = metrics.endpointing(rows, by_utt)
    summary["errors"] = sum(e["event"] == "error" for evs in by_utt.values() for e in evs)
    summary["actions"] = metrics.actions(rows, by_utt)
    return summary


def table(summary: dict) -> str:
    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = [f"utterances: {summary['utterances']}   errors: {summary['errors']}", ""]
    lines.append(f"{'':<22}{'first pass':>12}{'rescored':>12}")
    for key in ("wer", "name_recall", "cohort_gap"):
        lines.append(f"{key:<22}{fmt(summary['first_pass'][key]):>12}{fmt(summary['rescored'][key]):>12}")
    for cond, v in summary["rescored"]["wer_by_condition"].items():
        lines.append(f"{'wer ' + cond:<22}{fmt(summary['first_pass']['wer_by_condition'].get(cond)):>12}{fmt(v):>12}")
    w = summary["wake"]
    lines += [
        "",
        f"wake: false-reject rate {fmt(w['false_reject_rate'])} on {w['positives']} positives, "
        f"{w['false_accepts']} false accepts in {w['hours']} h ({fmt(w['false_accepts_per_hour'])}/h), "
        f"detection latency p50 {fmt(w['detection_latency_ms']['p50'])} ms p90 "
        f"{fmt(w['detection_latency_ms']['p90'])} ms",
    ]
    ep = summary["endpointing"]
    for key in ("speculative_latency_ms", "final_latency_ms", "user_perceived_latency_ms"):
        lines.append(f"{key:<28} p50 {fmt(ep[key]['p50']):>8}  p90 {fmt(ep[key]['p90']):>8}  (n={ep[key]['n']})")
    lines.append(f"premature cut rate {fmt(ep['premature_cut_rate'])}")
    act = summary.get("actions")
    if act:
        lines.append(
            f"actions: false-action rate {fmt(act['false_action_rate'])} with {act['rejected']} of "
            f"{act['utterances']} refused as unsure ({fmt(act['reject_correct_rate'])} of the correct requests)"
        )
        lines.append("  threshold  false actions  correct requests rejected")
        for c in act["curve"][::4]:
            lines.append(
                f"  {c['threshold']:>9.2f}  {fmt(c['false_action_rate']):>13}  {fmt(c['reject_correct_rate']):>25}"
            )
    return "\n".join(lines)
