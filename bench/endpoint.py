"""End-pointer benchmark: latency after the end of speech and premature cuts, offline.

    python3 -m bench.endpoint --corpus corpus_out --split dev --limit 100   # fit the rule, print the grid's best
    python3 -m bench.endpoint --corpus corpus_out --split test --limit 100  # the shipped defaults, held out

For each recording with the wake word it runs silero-vad over the whole file and
the real decoder (`weights/asr_rnnt.pt`, beam search fed 40 ms chunks, with the
character LM fused as the decoder node fuses it) from the wake word's end, and
caches the VAD probabilities and the decoder's per-chunk signals (text as it
stands and flushed, last token time) in `runs/endpoint/` (keyed by the weights,
the character LM and the flush, so a better recogniser is decoded afresh; an
interrupted run resumes). Parameter grids are then evaluated from the cache
without decoding again.

The recordings end 0.8-1.5 s after the end of speech, sooner than a slow rule
would fire, so each is extended with mirrored copies of its own audio from 0.5 s
after the end of speech (the same noise, music or device audio) up to
`--extend-s` after it; a rule that has still not fired there is counted at
`max_length_s`. Latency is end-point audio time minus the manifest's
`speech_end`; a premature cut is an end-point before it.

The rule is the node's own (`nodes.endpoint_rule`), applied to every window and
every setting of a grid at once; `node_fire` runs the `EndPointer` node itself on
the same inputs, and the report says on how many recordings the two agree.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from audio import SAMPLE_RATE
from audio.logmel import frame_start
from bench.options import char_lm_arguments
from nodes.decoder import BEAM
from nodes.endpoint_rule import NEVER, EndpointParams, first_fire, first_reason
from training.endpoint_signals import WINDOW, Steps, Utterance, collect, eoq_inputs, situation, steps

log = logging.getLogger(__name__)

# The VAD-only baseline's trailing silence, fitted on dev like the rule's defaults (premature cuts <= 2 %).
BASELINE_SILENCE_S = 1.0
BASELINE_THRESHOLD = 0.5

GRID = {
    "threshold": (0.3, 0.5, 0.7),
    "complete_silence_s": tuple(round(0.05 + 0.05 * i, 2) for i in range(22)),  # 0.05 .. 1.1
    "silence_s": tuple(round(0.3 + 0.1 * i, 2) for i in range(18)),  # 0.3 .. 2.0
    "blank_s": (0.0, 0.1, 0.2, 0.3, 0.4),
    "complete_blank_s": (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.5, 2.0, 2.5, None),
}
COMPLETE_PROBS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
"""End-of-sentence probabilities tried as the completeness level (`EndpointParams.complete_prob`)."""
PAUSE_S = 1.0
"""Trailing silence the final end-pointer waits out while the hypothesis is not a complete request: a speaker's
pause mid-request ("call ... meg bauer") must not end it, and the fitting recordings have no such pauses."""
SPECULATIVE_MAX_PREMATURE = 0.2
"""Share of speakers the speculative end-pointer may cut off: each cut costs a reset and the work redone.
Resets where the hypothesis changed between the two end-points come on top (`confirmed`): with the decoder's
flushed results they are rare (0.7% of test recordings, docs/measurements.md)."""
BASELINE_GRID = tuple(round(0.2 + 0.05 * i, 2) for i in range(37))  # 0.2 .. 2.0
IDLE_GRID = (None, 3.0, 2.5, 2.0, 1.5, 1.2, 1.0)
"""Decoder silences tried as the pair's `idle_blank_s` once the rest is fitted (at least `PAUSE_S`: a speaker's
pause must not end a request by this road either)."""


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", default="corpus_out", help="corpus folder (default corpus_out)")
    p.add_argument("--split", default="dev", choices=("dev", "test"), help="split to measure (default dev)")
    p.add_argument("--eoq", default=None, help="end-of-query weights to compare (default: the shipped ones)")
    p.add_argument("--limit", type=int, default=100, help="recordings with the wake word to use (0: all)")
    p.add_argument("--weights", default="weights/asr_rnnt.pt", help="the recogniser (default: the shipped one)")
    p.add_argument("--beam", type=int, default=BEAM, help=f"beam width of the search (default {BEAM})")
    char_lm_arguments(p)
    p.add_argument("--cache", default="runs/endpoint", help="folder of the cached VAD and decoder signals")
    p.add_argument("--extend-s", type=float, default=3.0, help="audio kept after the end of speech (extended)")
    p.add_argument("--max-premature", type=float, default=0.02, help="premature cut rate the final kind may have")
    p.add_argument("--json", default=None, help="write the rows as JSON here")


# -- the rule over whole recordings and grids of settings ---------------------------------------------


def fires(s: Steps, u: Utterance, p: EndpointParams) -> np.ndarray:
    """The end-point tick for each setting of `p` (whose thresholds may be arrays: a grid), as the node decides.

    A setting that has not fired by the end of the extended audio is counted at the length limit.
    """
    t = first_fire(p, situation(s, u, p.threshold, p.complete_prob), s.t)
    return np.where(t == NEVER, u.start + np.round(np.asarray(p.max_length_s) * SAMPLE_RATE).astype(np.int64), t)


def fire(s: Steps, u: Utterance, p: EndpointParams) -> tuple[int, str]:
    """(tick, reason) of the end-point under one setting `p`, as the node decides."""
    first = first_reason(p, situation(s, u, p.threshold, p.complete_prob))
    if first is None:  # beyond the extended audio: the length limit ends it
        return u.start + round(p.max_length_s * SAMPLE_RATE), "max_length"
    k, reason = first
    return int(s.t[k]), reason


def hypothesis_at(utts: list[Utterance], at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The decoder's best hypothesis at each tick of `at` (one row per utterance) as it stands and flushed
    (`Utterance.sig_flushed`), as ids: equal ids, equal text (-1: none yet)."""
    ids: dict[str, int] = {}
    out = np.empty((2, *at.shape), dtype=np.int32)
    for n, u in enumerate(utts):
        for k, texts in enumerate((u.sig_text, u.sig_flushed or u.sig_text)):
            text_ids = np.array([ids.setdefault(t, len(ids)) for t in texts] + [-1], dtype=np.int32)
            out[k, n] = text_ids[np.searchsorted(u.sig_end, at[n], side="right") - 1]  # index -1: the trailing -1
    return out[0], out[1]


def confirmed(spec: tuple[np.ndarray, np.ndarray], final: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Whether the decoder node confirms the speculative result at the final end-point: its flushed
    hypothesis at the speculative end-point (`spec`, as `hypothesis_at` gives it) is the one at the final
    (`final`) as it stands or flushed."""
    return (spec[1] == final[0]) | (spec[1] == final[1])


def grid(th: float, base: EndpointParams) -> EndpointParams:
    """`base` with VAD threshold `th` and GRID's other thresholds as arrays on axes of their own (in
    the order complete_silence_s, silence_s, blank_s, complete_blank_s; None as inf)."""
    axes = [np.array(GRID[k], dtype=float) for k in ("complete_silence_s", "silence_s", "blank_s")]
    axes.append(np.array([np.inf if v is None else v for v in GRID["complete_blank_s"]]))
    a, b, c, d = (x.reshape([-1 if i == j else 1 for j in range(4)]) for i, x in enumerate(axes))
    return replace(base, threshold=th, complete_silence_s=a, silence_s=b, blank_s=c, complete_blank_s=d)


def summarise(
    name: str, params: Any, ticks: list[int], utts: list[Utterance], reasons: list[str] | None = None
) -> dict:
    lat = np.array([tk / SAMPLE_RATE - u.speech_end for tk, u in zip(ticks, utts)]) * 1000
    premature = np.array([tk / SAMPLE_RATE < u.speech_end for tk, u in zip(ticks, utts)])
    paused = np.array([bool(u.pauses) for u in utts])
    beyond = np.array([tk / SAMPLE_RATE > u.duration for tk, u in zip(ticks, utts)])
    row = {
        "name": name,
        "n": len(utts),
        "premature_cut_rate": round(float(premature.mean()), 4),
        "premature_with_pause": round(float(premature[paused].mean()), 4) if paused.any() else None,
        "latency_ms_p50": round(float(np.percentile(lat, 50)), 1),
        "latency_ms_p90": round(float(np.percentile(lat, 90)), 1),
        "latency_ms_mean": round(float(lat.mean()), 1),
        "beyond_recording": round(float(beyond.mean()), 4),
        "params": asdict(params) if params else None,
        "params_obj": params,
    }
    if reasons is not None:
        row["reasons"] = {r: reasons.count(r) for r in sorted(set(reasons))}
    return row


def evaluate(utts: list[Utterance], params: Any, all_steps: list[Steps], name: str) -> tuple[dict, list[int]]:
    fired = [fire(s, u, params) for s, u in zip(all_steps, utts)]
    ticks = [f[0] for f in fired]
    return summarise(name, params, ticks, utts, [f[1] for f in fired]), ticks


def fit(utts: list[Utterance], all_steps: list[Steps], max_premature: float) -> dict[str, Any]:
    """Parameters per variant: the lowest latency (p50 + p90) within the premature-cut budget.

    `vad_only` and `vad_blank` (VAD + decoder blank, no completeness) are the
    baselines; `final` and `speculative` are the whole rule, chosen as a pair (`pair`)
    at the completeness level (`complete_prob`, of `COMPLETE_PROBS`) that gives the best final.
    """
    from nodes.endpointer import FINAL

    se = np.array([u.speech_end for u in utts])
    chosen: dict[str, Any] = {}
    best_cost = np.inf
    for th in GRID["threshold"]:
        for sil in BASELINE_GRID:
            p = replace(FINAL, use_decoder=False, threshold=th, silence_s=sil, complete_blank_s=None)
            lat = np.array([fire(st, u, p)[0] for st, u in zip(all_steps, utts)]) / SAMPLE_RATE - se
            cost = np.percentile(lat, 50) + np.percentile(lat, 90)
            if (lat < 0).mean() <= max_premature and cost < best_cost:
                best_cost, chosen["vad_only"] = cost, p
    best: tuple[bool, float, dict[str, Any]] | None = None
    for cp in COMPLETE_PROBS:
        cost, rule = fit_rule(utts, all_steps, max_premature, replace(FINAL, complete_prob=cp))
        paired = rule.get("speculative") is not None
        log.info("complete_prob %.2f: final p50 + p90 %.3f s, speculative partner: %s", cp, cost, paired)
        if best is None or (paired, -cost) > (best[0], -best[1]):
            best = (paired, cost, rule)
    rule = best[2] if best else {}
    if rule.get("final") is not None:
        rule["final"], rule["speculative"] = fit_idle(
            utts, all_steps, max_premature, rule["final"], rule["speculative"]
        )
    return chosen | rule


def fit_idle(
    utts: list[Utterance], all_steps: list[Steps], max_premature: float, final: Any, speculative: Any
) -> tuple[Any, Any]:
    """The pair with the `IDLE_GRID` decoder silence that gives the fastest final (p50 + p90, then the mean:
    the tail past p90 is where a stuck VAD waits for the length limit) within the premature-cut budget (the
    same for both: the speculative one then never waits longer)."""
    se = np.array([u.speech_end for u in utts])
    best: tuple[tuple[float, float], float | None] | None = None
    for idle in IDLE_GRID:
        p = replace(final, idle_blank_s=idle)
        lat = np.array([fire(st, u, p)[0] for st, u in zip(all_steps, utts)]) / SAMPLE_RATE - se
        cost = (float(np.percentile(lat, 50) + np.percentile(lat, 90)), float(lat.mean()))
        log.info("idle_blank_s %s: final p50 + p90 %.3f s, mean %.3f s, premature %.3f", idle, *cost, (lat < 0).mean())
        if (lat < 0).mean() <= max_premature and (best is None or cost < best[0]):
            best = (cost, idle)
    idle = best[1] if best else None
    return replace(final, idle_blank_s=idle), None if speculative is None else replace(speculative, idle_blank_s=idle)


def fit_rule(
    utts: list[Utterance], all_steps: list[Steps], max_premature: float, base: EndpointParams
) -> tuple[float, dict[str, Any]]:
    """(the final's p50 + p90, {vad_blank, final, speculative}) over GRID, from `base`'s other settings.

    The committed result waits for the final end-point, so the final is what the user waits for: the
    fastest final that waits out a pause of `PAUSE_S` and has a speculative partner (`pair`) is chosen."""
    se = np.array([u.speech_end for u in utts])
    chosen: dict[str, Any] = {}
    g = grid(GRID["threshold"][0], base)
    a, b, c, d = np.broadcast_arrays(g.complete_silence_s, g.silence_s, g.blank_s, g.complete_blank_s)

    def params(th: float, i: tuple) -> Any:
        cb = None if np.isinf(d[i]) else float(d[i])
        return replace(
            base, threshold=th, complete_silence_s=float(a[i]), silence_s=float(b[i]), blank_s=float(c[i]),
            complete_blank_s=cb,
        )  # fmt: skip

    costs: dict[str, float] = {}
    where: dict[str, tuple[float, tuple]] = {}
    fires_at: dict[float, np.ndarray] = {}
    for th in GRID["threshold"]:
        at = fires_at[th] = np.stack([fires(st, u, grid(th, base)) for st, u in zip(all_steps, utts)])
        lat = at / SAMPLE_RATE - se.reshape(-1, 1, 1, 1, 1)
        cost = np.percentile(lat, 50, axis=0) + np.percentile(lat, 90, axis=0)
        valid = ((lat < 0).mean(0) <= max_premature) & (a <= b)
        for name, mask in (("final", valid & (b >= PAUSE_S)), ("vad_blank", valid & (a == b) & np.isinf(d))):
            if mask.any():
                i = np.unravel_index(np.argmin(np.where(mask, cost, np.inf)), cost.shape)
                if cost[i] < costs.get(name, np.inf):
                    costs[name], where[name], chosen[name] = float(cost[i]), (th, i), params(th, i)
    if "final" not in where:
        return np.inf, chosen
    th, _ = where["final"]
    chosen["final"], chosen["speculative"], final_cost = pair(
        fires_at[th], se, (a, b, c, d), max_premature, lambda i: params(th, i), hypothesis_at(utts, fires_at[th])
    )
    return final_cost, chosen


def pair(
    at: np.ndarray, se: np.ndarray, axes: tuple, max_premature: float, params: Any, hyp: tuple, top: int = 100
) -> tuple:
    """(final, speculative, the final's p50 + p90): the fastest final (p50 + p90) that has a speculative
    partner, and of its partners the one whose effective latency is lowest (p50 + p90).

    Effective latency is the speculative end-point's when its result stands (it did not cut the speaker
    off and the decoder confirms it at the final end-point: `stands` on `hyp`, the hypotheses at each tick
    as `hypothesis_at` gives them), else the final's. The
    final may cut at most `max_premature`; the speculative one waits no longer than the final on any axis
    (so it never fires after it), leads it by 150-250 ms (p50) and cuts at most
    `SPECULATIVE_MAX_PREMATURE` of the speakers off. Only the `top` lowest-latency finals are tried as
    partners.
    """
    a, b, c, d = axes
    n = len(se)
    lat = at / SAMPLE_RATE - se.reshape(-1, 1, 1, 1, 1)
    premature = (lat < 0).mean(0)
    cost = np.percentile(lat, 50, axis=0) + np.percentile(lat, 90, axis=0)
    valid = (premature <= max_premature) & (a <= b) & (b >= PAUSE_S)
    order = np.argsort(np.where(valid, cost, np.inf), axis=None)[: min(top, int(valid.sum()))]
    for flat in order:
        i = np.unravel_index(flat, a.shape)
        f = at[(slice(None), *i)].reshape(n, 1, 1, 1, 1)
        lead = np.median((f - at) / SAMPLE_RATE, axis=0)
        ok = (a <= a[i]) & (b <= b[i]) & (c <= c[i]) & (d <= d[i]) & (a <= b) & (lead >= 0.15) & (lead <= 0.25)
        ok &= premature <= SPECULATIVE_MAX_PREMATURE
        if not ok.any():
            continue
        final = tuple(h[(slice(None), *i)].reshape(n, 1, 1, 1, 1) for h in hyp)
        stands = (lat >= 0) & confirmed(hyp, final)
        effective = np.where(stands, lat, f / SAMPLE_RATE - se.reshape(-1, 1, 1, 1, 1))
        eff_cost = np.percentile(effective, 50, axis=0) + np.percentile(effective, 90, axis=0)
        j = np.unravel_index(np.argmin(np.where(ok, eff_cost, np.inf)), a.shape)
        return params(i), params(j), float(cost[i])
    i = np.unravel_index(order[0], a.shape)
    return params(i), None, float(cost[i])


def fit_eoq(utts: list[Utterance], all_steps: list[Steps], max_premature: float) -> tuple[Any, Any] | None:
    """(final, speculative) end-of-query settings (threshold, fallback silence), chosen like the rule's `pair`."""
    from models.eoq import SPEECH
    from nodes.endpointer import FINAL

    base = replace(FINAL, threshold=SPEECH, complete_blank_s=None, idle_blank_s=None)
    probs = np.round(np.concatenate([np.arange(0.05, 0.95, 0.05), 1 - np.geomspace(0.05, 1e-4, 40)]), 6)
    silences = np.round(np.arange(0.5, 2.01, 0.1), 2)
    se = np.array([u.speech_end for u in utts])
    settings = replace(base, eoq_threshold=probs[:, None], silence_s=silences[None, :])
    at = np.stack([fires(s, u, settings) for s, u in zip(all_steps, utts)])  # n x probs x silences
    lat = at / SAMPLE_RATE - se[:, None, None]
    cost = np.percentile(lat, 50, axis=0) + np.percentile(lat, 90, axis=0)
    valid = (lat < 0).mean(0) <= max_premature
    if not valid.any():
        return None
    f = np.unravel_index(np.argmin(np.where(valid, cost, np.inf)), cost.shape)
    final_fires = at[(slice(None), *f)][:, None, None]
    lead = np.median((final_fires - at) / SAMPLE_RATE, axis=0)
    effective = np.where(lat >= 0, lat, lat[(slice(None), *f)][:, None, None])
    eff_cost = np.percentile(effective, 50, axis=0) + np.percentile(effective, 90, axis=0)
    p, sil = np.meshgrid(probs, silences, indexing="ij")
    ok = (p <= probs[f[0]]) & (sil <= silences[f[1]]) & (lead >= 0.15) & (lead <= 0.25)
    final = replace(base, eoq_threshold=float(probs[f[0]]), silence_s=float(silences[f[1]]))
    if not ok.any():
        return final, None
    j = np.unravel_index(np.argmin(np.where(ok, eff_cost, np.inf)), eff_cost.shape)
    return final, replace(base, eoq_threshold=float(probs[j[0]]), silence_s=float(silences[j[1]]))


# -- checking the node against the vectorised rule ------------------------------------------------------


def node_fire(u: Utterance, kind: str, params: Any, vad_chunk: int = 7, seed: int | None = None) -> tuple[int, str]:
    """(tick, reason) of the EndPointer node's end-point on the cached inputs, delivered as a graph delivers
    them: the VAD and the decoder on two edges, merged by audio time (or at random with `seed`)."""
    from nodes.endpointer import EndPointer
    from nodes.messages import DecoderSignal, EndPoint, VoiceActivity, Wake
    from pipeline.testing import run_node

    end_s = u.start / SAMPLE_RATE
    decoder: list = [
        Wake(stream=u.id, start=u.start, end=u.start + 1600, utterance=1, start_s=end_s, end_s=end_s, stage1=1.0,
             stage2=1.0)
    ]  # fmt: skip
    prev = u.start - u.start % frame_start(1)
    for end, last, text in zip(u.sig_end, u.sig_last, u.sig_text):
        last_s = (int(last) if last >= 0 else prev) / SAMPLE_RATE
        decoder.append(
            DecoderSignal(stream=u.id, start=prev, end=int(end), utterance=1, text=text, last_token_s=last_s)
        )
        prev = int(end)
    vad = [
        VoiceActivity(stream=u.id, start=i * WINDOW, end=(i + len(p)) * WINDOW, probs=p)
        for i in range(0, len(u.probs), vad_chunk)
        for p in [u.probs[i : i + vad_chunk]]
    ]
    out = run_node(EndPointer, {"vad": vad, "decoder": decoder}, seed=seed, kind=kind, **asdict(params))
    ends = [e for e in out if isinstance(e, EndPoint)]
    assert len(ends) == 1, ends
    if ends[0].reason == "end_of_stream":
        return u.start + round(params.max_length_s * SAMPLE_RATE), "max_length"
    return ends[0].end, ends[0].reason


# -- main ----------------------------------------------------------------------------------------------


def _describe(p: Any) -> str:
    if p is None:
        return "-"
    if p.eoq_threshold is not None:
        return f"end-of-query model >= {p.eoq_threshold}, or strict silence_s={p.silence_s}"
    keys = ("threshold", "silence_s") if not p.use_decoder else (
        "threshold", "complete_prob", "complete_silence_s", "silence_s", "blank_s", "complete_blank_s",
        "idle_blank_s",
    )  # fmt: skip
    return ", ".join(f"{k}={getattr(p, k)}" for k in keys)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="speechgraph bench endpoint", description=__doc__.split("\n\n")[0])
    arguments(parser)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return report(parser.parse_args(argv))


def report(args: argparse.Namespace) -> dict:
    """Run the benchmark and print its table."""
    from models.eoq import EndOfQuery
    from nodes.endpointer import DEFAULTS, FINAL, LEARNED

    utts = collect(args)
    all_steps = [steps(u, GRID["threshold"]) for u in utts]
    eoq_path = Path(args.eoq) if args.eoq else None
    if eoq_path and not eoq_path.exists():
        raise SystemExit(f"error: {eoq_path}: no such end-of-query weights")
    try:
        model = EndOfQuery.load(eoq_path)
    except FileNotFoundError:
        model = None  # nothing trained yet: the rules only
    if model is not None:
        for s, u in zip(all_steps, utts):
            s.eoq = model.prob(eoq_inputs(s, u))
    baseline = replace(
        FINAL, use_decoder=False, threshold=BASELINE_THRESHOLD, silence_s=BASELINE_SILENCE_S, complete_blank_s=None
    )
    rows, ticks = [], {}
    if args.split == "dev":
        chosen = fit(utts, all_steps, args.max_premature)
        eoq_pair = fit_eoq(utts, all_steps, args.max_premature) if model is not None else None
        if eoq_pair is not None:
            chosen["eoq_final"], chosen["eoq_speculative"] = eoq_pair
        for key in ("vad_only", "vad_blank", "final", "speculative", "eoq_final", "eoq_speculative"):
            if chosen.get(key) is not None:
                row, ticks[f"fitted: {key}"] = evaluate(utts, chosen[key], all_steps, f"fitted: {key}")
                rows.append(row)
    learned = [(f"shipped: eoq_{k}", LEARNED[k]) for k in ("final", "speculative")] if model is not None else []
    for name, p in (
        ("shipped: vad_only", baseline),
        *((f"shipped: {k}", DEFAULTS[k]) for k in ("final", "speculative")),
        *learned,
    ):
        row, ticks[name] = evaluate(utts, p, all_steps, name)
        rows.append(row)
    for prefix, kind in (("fitted", ""), ("fitted", "eoq_"), ("shipped", ""), ("shipped", "eoq_")):
        f, s = ticks.get(f"{prefix}: {kind}final"), ticks.get(f"{prefix}: {kind}speculative")
        if f is not None and s is not None:
            plain, flushed = hypothesis_at(utts, np.array([s, f]).T)
            f, s = np.array(f) / SAMPLE_RATE, np.array(s) / SAMPLE_RATE
            se = np.array([u.speech_end for u in utts])
            stands = (s >= se) & confirmed((plain[:, 0], flushed[:, 0]), (plain[:, 1], flushed[:, 1]))
            effective = np.where(stands, s, f) - se  # the speculative result stands unless the final resets it
            row = rows[[r["name"] for r in rows].index(f"{prefix}: {kind}speculative")]
            row["reset_rate"] = round(float(1 - stands.mean()), 4)
            row["lead_ms_p50"] = round(float(np.median(f - s)) * 1000, 1)
            row["effective_ms_p50"] = round(float(np.percentile(effective, 50)) * 1000, 1)
            row["effective_ms_p90"] = round(float(np.percentile(effective, 90)) * 1000, 1)

    agree = sum(
        node_fire(u, kind, DEFAULTS[kind])[0] == ticks[f"shipped: {kind}"][n]
        for n, u in enumerate(utts)
        for kind in ("final", "speculative")
    )
    print(
        f"{len(utts)} {args.split} recordings with the wake word; the EndPointer node agrees on {agree}/{2 * len(utts)}"
    )
    print(f"{'':<22}{'premature':>10}{'w/ pause':>9}{'p50 ms':>8}{'p90 ms':>8}{'lead':>6}{'>file':>6}  parameters")
    for r in rows:
        wp = "-" if r["premature_with_pause"] is None else f"{r['premature_with_pause']:.3f}"
        lead = f"{r['lead_ms_p50']:.0f}" if "lead_ms_p50" in r else ""
        print(
            f"{r['name']:<22}{r['premature_cut_rate']:>10.3f}{wp:>9}{r['latency_ms_p50']:>8.0f}"
            f"{r['latency_ms_p90']:>8.0f}{lead:>6}{r['beyond_recording']:>6.2f}  {_describe(r['params_obj'])}"
        )
        extra = ""
        if "effective_ms_p50" in r:
            extra = (
                f"; reset {r['reset_rate']:.3f} (cut off or hypothesis changed); effective latency"
                f" p50 {r['effective_ms_p50']:.0f} ms, p90 {r['effective_ms_p90']:.0f} ms"
            )
        print(f"{'':<22}reasons: {r['reasons']}{extra}")
    for r in rows:
        r.pop("params_obj")
    result = {"split": args.split, "recordings": len(utts), "node_agrees": agree, "rows": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
