"""`speechgraph bench latency`: where every millisecond goes, through the whole graph at real time.

Replays the same recordings of a split, paced at real time, several times:
once per runtime (in-process, the floor; Ray with one actor per node; Ray with
nodes fused by placement), and with a simulated device->cloud network delay,
with and without speculation (by default on Ray fused, where the round trip
holds the cloud's process and never the device's). Reports
per utterance and as p50/p90/p99 the latencies of docs/architecture.md (wake
detection, speculative and final end-point, user-perceived latency), the time
each node adds on the result's path (from the per-node trace stamps), each
node's CPU per audio second, and the speculation saving. Writes a Markdown
report with PNG plots (timelines, histograms) and a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import metrics

log = logging.getLogger(__name__)

RUNTIMES: dict[str, tuple[str, dict[str, Any]]] = {
    "local": ("local", {}),
    "ray": ("ray", {}),
    "ray-unbatched": ("ray", {"batch": False}),
    "ray-fused": ("ray", {"fuse": True}),
    "ray-fused-2": ("ray", {"fuse": True, "replicas": 2}),
    "ray-fused-hosted": ("ray", {"fuse": True, "host_sources": True}),
    "ray-fused-2-hosted": ("ray", {"fuse": True, "replicas": 2, "host_sources": True}),
}
"""Runtime variants: name -> (runtime kind, options). `local` is the floor every ratio is taken to."""


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--corpus",
        default="corpus_wake",
        help="corpus folder (default corpus_wake: its test split opens with requests phrased in held-out ways)",
    )
    p.add_argument("--split", default="test", choices=("dev", "test"), help="split to measure (default test)")
    p.add_argument("--limit", type=int, default=16, help="recordings replayed in every run (default 16)")
    p.add_argument(
        "--concurrency", type=int, default=1, help="recordings playing at once, back to back per lane (default 1)"
    )
    p.add_argument(
        "--runtimes",
        default="local,ray,ray-fused",
        help=f"runtimes to compare, of {','.join(RUNTIMES)} (default: %(default)s)",
    )
    p.add_argument("--network-delays", default="0,50,150", help="device->cloud round trips in ms (default 0,50,150)")
    p.add_argument(
        "--network-runtime",
        default="ray-fused",
        choices=tuple(RUNTIMES),
        help="runtime of the speculation and network-delay runs (default ray-fused: the cloud nodes in a process"
        " of their own, so a round trip delays the cloud's answer and never the device's end-pointing; in"
        " process the simulated round trip blocks the whole graph)",
    )
    p.add_argument("--timelines", type=int, default=6, help="slowest utterances drawn on the timeline plot (default 6)")
    p.add_argument("--out", default="bench/results/latency", help="folder for report.md, PNGs and summary.json")
    p.add_argument(
        "--respeculate",
        type=int,
        default=None,
        help="speculative revisions the decoder may send again when the hypothesis changes before the final"
        " end-point (default: the decoder's, nodes.decoder.node.DecoderConfig.respeculate)",
    )


# -- one run ----------------------------------------------------------------------------


@dataclass
class Run:
    label: str
    runtime: str
    speculative: bool
    network_delay_ms: float
    utterances: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def replay_run(args: argparse.Namespace, rows: list[dict], runtime: str, speculative: bool, delay_ms: float) -> Run:
    import graphs
    from nodes.file_source import FileSource
    from speechgraph.replay import replay, source_options

    source = source_options(
        manifest=str(Path(args.corpus) / f"{args.split}.jsonl"),
        limit=args.limit,
        realtime=True,
        concurrency=args.concurrency,
    )
    graph = graphs.build(
        graphs.DEFAULT,
        FileSource,
        source,
        speculative=speculative,
        network_delay_ms=delay_ms,
        respeculate=args.respeculate,
    )
    kind, options = RUNTIMES[runtime]
    label = f"{runtime}, {'speculation' if speculative else 'no speculation'}, network {delay_ms:g} ms"
    log.info("replaying %d recordings: %s", len(source["paths"]), label)
    result = replay(graph, kind, options)
    by_utt = metrics.group_events(result.records)
    run = Run(label, runtime, speculative, delay_ms, events=by_utt)
    run.utterances = [per_utterance(r, by_utt.get(r["id"], [])) for r in rows]
    run.summary = summarise(run.utterances, rows, by_utt, result)
    return run


def per_utterance(row: dict, events: list[dict]) -> dict[str, Any]:
    """The latencies of docs/architecture.md of one recording, and the time each node added on its result's path."""
    eos = row["speech_end"] * 1000

    def last(name: str, kind: str | None = None) -> dict | None:
        hits = [e for e in events if e["event"] == name and (kind is None or e.get("kind") == kind)]
        return hits[-1] if hits else None

    wake = next((e for e in events if e["event"] == "wake"), None)
    spec, final, result = last("endpoint", "speculative"), last("endpoint", "final"), last("result")
    resets = [e for e in events if e["event"] == "reset"]
    out: dict[str, Any] = {
        "id": row["id"],
        "wake_word": row["wake_word"],
        "detection_ms": wake["wall_ms"] - row["wake_end"] * 1000 if wake and row["wake_word"] else None,
        "speculative_ms": spec["wall_ms"] - eos if spec else None,
        "final_ms": final["wall_ms"] - eos if final else None,
        "upl_ms": result["wall_ms"] - eos if result else None,
        "commit_after_final_ms": result["wall_ms"] - final["wall_ms"] if result and final else None,
        "reset": bool(resets),
        "premature": bool(spec and spec["audio_s"] < row["speech_end"] and resets),
        "text": result.get("text") if result else None,
        "first_pass_text": result.get("first_pass_text") if result else None,
        "nodes_ms": node_times(result["trace"]) if result else {},
    }
    return out


def node_times(trace: list[list]) -> dict[str, float]:
    """Per node on the result's path: time inside it (sent - received), and the hop that brought the
    message to it (received - previous node's sent) as `->node`."""
    out: dict[str, float] = {}
    prev_sent: float | None = None
    for node, recv, sent in trace:
        name = node if node not in out else f"{node} (again)"  # the decoder: signal, then lattice
        if prev_sent is not None:
            out[f"->{name}"] = round(recv - prev_sent, 3)
        out[name] = round(sent - recv, 3)
        prev_sent = sent
    return out


def summarise(utts: list[dict], rows: list[dict], by_utt: dict, result: Any) -> dict[str, Any]:
    positives = [u for u in utts if u["wake_word"]]

    def dist(key: str) -> dict:
        return metrics.percentiles([u[key] for u in positives if u[key] is not None])

    per_node: dict[str, list[float]] = defaultdict(list)
    for u in positives:
        for k, v in u["nodes_ms"].items():
            per_node[k].append(v)
    judged = [u for u in positives if u["speculative_ms"] is not None]
    audio_s = result.audio_s or 1.0
    rec = {
        field: metrics.recognition(rows, metrics.hypotheses(by_utt, field)).wer for field in ("first_pass_text", "text")
    }
    return {
        "utterances": len(positives),
        "results": sum(u["upl_ms"] is not None for u in positives),
        "errors": result.count("error"),
        "detection_ms": dist("detection_ms"),
        "speculative_ms": dist("speculative_ms"),
        "final_ms": dist("final_ms"),
        "upl_ms": dist("upl_ms"),
        "commit_after_final_ms": dist("commit_after_final_ms"),
        "premature_rate": round(sum(u["premature"] for u in judged) / len(judged), 4) if judged else None,
        "reset_rate": round(sum(u["reset"] for u in positives) / len(positives), 4) if positives else None,
        "node_ms": {k: metrics.percentiles(v) for k, v in per_node.items()},
        "node_rtf": {n: round(s["cpu_s"] / audio_s, 4) for n, s in result.stats.nodes.items()},
        "process_cpu_s": round(result.run_cpu_s, 2),
        "node_cpu_s": round(sum(s["cpu_s"] for s in result.stats.nodes.values()), 2),
        "audio_s": round(result.audio_s, 1),
        "wall_s": round(result.wall_s, 1),
        "wer_first_pass": rec["first_pass_text"],
        "wer_rescored": rec["text"],
    }


def saving(with_spec: Run, without: Run) -> dict[str, Any]:
    """Speculation saving: UPL without minus UPL with, per recording, on the recordings both committed."""
    a = {u["id"]: u["upl_ms"] for u in with_spec.utterances if u["upl_ms"] is not None}
    b = {u["id"]: u["upl_ms"] for u in without.utterances if u["upl_ms"] is not None}
    paired = [b[k] - a[k] for k in a.keys() & b.keys()]
    return metrics.percentiles(paired)


# -- plots and report -----------------------------------------------------------------------


def plot_timelines(run: Run, rows: list[dict], n: int, path: Path) -> None:
    """One row per utterance, the `n` slowest results, wall time relative to the end of speech: the audio,
    the gate, partials, end-points, reset, commit, and the nodes on the result's path as bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    upl = {u["id"]: u["upl_ms"] for u in run.utterances if u["upl_ms"] is not None}
    chosen = sorted((r for r in rows if r["wake_word"] and r["id"] in upl), key=lambda r: -upl[r["id"]])[:n]
    if not chosen:
        return
    fig, axes = plt.subplots(len(chosen), 1, figsize=(11, 1.6 * len(chosen) + 0.6), sharex=True, squeeze=False)
    marks = {"wake": ("v", "tab:green"), "reset": ("x", "tab:red"), "result": ("*", "black")}
    colors: dict[str, str] = {}
    for ax, row in zip(axes[:, 0], chosen, strict=True):
        eos = row["speech_end"] * 1000
        evs = run.events[row["id"]]
        ax.axvspan(row["wake_start"] * 1000 - eos, row["wake_end"] * 1000 - eos, color="tab:green", alpha=0.15)
        ax.axvspan(row["speech_start"] * 1000 - eos, 0, color="tab:blue", alpha=0.12)
        partials = [e["wall_ms"] - eos for e in evs if e["event"] == "partial"]
        ax.plot(partials, [0.8] * len(partials), "|", color="tab:blue", ms=6, label="partial")
        for e in evs:
            t = e["wall_ms"] - eos
            if e["event"] == "endpoint":
                style = "--" if e.get("kind") == "speculative" else "-"
                ax.axvline(t, color="tab:orange", ls=style, lw=1.2)
            elif e["event"] in marks:
                m, c = marks[e["event"]]
                ax.plot([t], [0.8], m, color=c, ms=9)
        result = [e for e in evs if e["event"] == "result"][-1]
        captured = result["wall_ms"] - (result.get("since_audio_ms") or 0) - eos
        for node, recv, sent in result.get("trace", []):
            color = colors.setdefault(node, f"C{len(colors) % 10}")
            ax.barh(0.35, max(sent - recv, 2.0), left=captured + recv, height=0.3, color=color, label=node)
        ax.set_yticks([])
        ax.set_ylim(0, 1.1)
        ax.set_ylabel(row["id"].split("-")[-1], rotation=0, labelpad=22, fontsize=8)
        ax.axvline(0, color="grey", lw=0.8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    axes[0, 0].legend(unique.values(), unique.keys(), fontsize=6, ncol=5, loc="upper left")
    axes[-1, 0].set_xlabel(
        "wall ms from end of speech (green: wake word, blue: speech, orange dashed/solid: speculative/final "
        "end-point, x reset, * commit; bars: nodes on the result's path)",
        fontsize=8,
    )
    fig.suptitle(f"Utterance timelines - {run.label}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_histograms(runs: list[Run], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for run in runs:
        upl = [u["upl_ms"] for u in run.utterances if u["upl_ms"] is not None]
        if upl:
            axes[0].hist(upl, bins=20, histtype="step", lw=1.5, label=run.label)
    axes[0].set_title("user-perceived latency")
    axes[0].set_xlabel("ms after end of speech")
    axes[0].legend(fontsize=6)
    base = runs[0]
    for key, label in (("speculative_ms", "speculative"), ("final_ms", "final")):
        vals = [u[key] for u in base.utterances if u[key] is not None]
        if vals:
            axes[1].hist(vals, bins=20, histtype="step", lw=1.5, label=label)
    axes[1].set_title(f"end-point latency ({base.runtime})")
    axes[1].set_xlabel("ms after end of speech")
    axes[1].legend(fontsize=7)
    det = [u["detection_ms"] for u in base.utterances if u["detection_ms"] is not None]
    if det:
        axes[2].hist(det, bins=20, color="tab:green")
    axes[2].set_title(f"wake detection latency ({base.runtime})")
    axes[2].set_xlabel("ms after end of wake word")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_nodes(run: Run, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = [(k, v["p50"], v["p90"]) for k, v in run.summary["node_ms"].items() if v["p50"] is not None]
    if not items:
        return
    fig, ax = plt.subplots(figsize=(9, 0.3 * len(items) + 1))
    names = [k for k, _, _ in items]
    ax.barh(names, [p90 for _, _, p90 in items], color="tab:orange", alpha=0.5, label="p90")
    ax.barh(names, [p50 for _, p50, _ in items], color="tab:blue", label="p50")
    ax.invert_yaxis()
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("ms on the result's path (->node: the hop into it)")
    ax.set_title(f"time per node - {run.label}", fontsize=10)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fmt(v: Any) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" if isinstance(v, float) and abs(v) < 10 else (f"{v:.0f}" if isinstance(v, float) else str(v))


def report(runs: dict[str, Run], savings: dict[float, dict], args: argparse.Namespace, minutes: float) -> str:
    floor = runs["local"].summary["upl_ms"]
    lines = [
        "# Latency benchmark",
        "",
        f"`speechgraph bench latency --split {args.split} --limit {args.limit} --concurrency {args.concurrency}`: "
        f"{runs['local'].summary['utterances']} recordings with the wake word, replayed at real time "
        f"({args.concurrency} at a time) in every run; {minutes:.1f} min in all. Latencies in ms, as "
        "docs/architecture.md defines them (wall time minus the wall time the ground-truth audio moment was "
        "captured).",
        "",
        "## Runtimes (speculation on, no network delay)",
        "",
        "| runtime | UPL p50 | p90 | p99 | x floor (p50) | wake p50 | spec EP p50 | final EP p50 "
        "| CPU s (nodes / all processes) | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, run in runs.items():
        if not name.startswith("rt:") and name != "local":
            continue
        s = run.summary
        ratio = s["upl_ms"]["p50"] / floor["p50"] if s["upl_ms"]["p50"] and floor["p50"] else None
        lines.append(
            f"| {run.runtime} | {fmt(s['upl_ms']['p50'])} | {fmt(s['upl_ms']['p90'])} | {fmt(s['upl_ms']['p99'])} "
            f"| {fmt(ratio)} | {fmt(s['detection_ms']['p50'])} | {fmt(s['speculative_ms']['p50'])} "
            f"| {fmt(s['final_ms']['p50'])} | {s['node_cpu_s']} / {s['process_cpu_s']} | {s['errors']} |"
        )
    lines += [
        "",
        f"## Speculation and network delay ({args.network_runtime} runtime)",
        "",
        "| device->cloud delay | speculation | speculative end-point p50 | final p50 | p90 | committed result p50 "
        "| p90 | committed after final p50 | saving p50 | saving p90 | resets per utterance | premature cuts "
        "| rescored WER |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, run in runs.items():
        if not name.startswith("net:"):
            continue
        s = run.summary
        sv = savings.get(run.network_delay_ms, {}) if run.speculative else {}
        lines.append(
            f"| {run.network_delay_ms:g} ms | {'on' if run.speculative else 'off'} "
            f"| {fmt(s['speculative_ms']['p50'])} | {fmt(s['final_ms']['p50'])} | {fmt(s['final_ms']['p90'])} "
            f"| {fmt(s['upl_ms']['p50'])} | {fmt(s['upl_ms']['p90'])} | {fmt(s['commit_after_final_ms']['p50'])} "
            f"| {fmt(sv.get('p50'))} | {fmt(sv.get('p90'))} | {fmt(s['reset_rate'])} | {fmt(s['premature_rate'])} "
            f"| {fmt(s['wer_rescored'])} |"
        )
    local = runs["local"].summary
    lines += [
        "",
        "Saving = UPL without speculation minus UPL with it, per recording (positive: speculation helps).",
        "",
        "## Where the time goes (in-process runtime, result's path)",
        "",
        "| node | ms p50 | p90 | p99 | CPU s per audio s |",
        "|---|---|---|---|---|",
    ]
    for k, v in local["node_ms"].items():
        lines.append(f"| {k} | {fmt(v['p50'])} | {fmt(v['p90'])} | {fmt(v['p99'])} | {fmt(local['node_rtf'].get(k))} |")
    lines += [
        "",
        f"End-points (in-process): speculative p50/p90/p99 {fmt(local['speculative_ms']['p50'])} / "
        f"{fmt(local['speculative_ms']['p90'])} / {fmt(local['speculative_ms']['p99'])}, final "
        f"{fmt(local['final_ms']['p50'])} / {fmt(local['final_ms']['p90'])} / {fmt(local['final_ms']['p99'])}; "
        f"premature cut rate {fmt(local['premature_rate'])}; WER first pass {fmt(local['wer_first_pass'])}, "
        f"rescored {fmt(local['wer_rescored'])}.",
        "",
        "![timelines](timelines.png)",
        "",
        "![histograms](histograms.png)",
        "",
        "![nodes](nodes_local.png)",
        "",
    ]
    if "rt:ray" in runs:
        lines += ["![nodes on Ray](nodes_ray.png)", ""]
    return "\n".join(lines)


# -- entry point -----------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    manifest = Path(args.corpus) / f"{args.split}.jsonl"
    if not manifest.exists():
        raise SystemExit(f"no manifest at {manifest}: build the corpus first (speechgraph corpus)")
    rows = [json.loads(line) for line in manifest.open() if line.strip()][: args.limit]
    runtimes = [r.strip() for r in args.runtimes.split(",") if r.strip()]
    unknown = [r for r in runtimes if r not in RUNTIMES]
    if unknown:
        raise SystemExit(f"unknown runtime(s) {', '.join(unknown)}: choose from {', '.join(RUNTIMES)}")
    delays = [float(d) for d in args.network_delays.split(",") if d.strip()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    runs: dict[str, Run] = {"local": replay_run(args, rows, "local", True, 0.0)}
    for rt in runtimes:
        if rt != "local":
            runs[f"rt:{rt}"] = replay_run(args, rows, rt, True, 0.0)
    savings: dict[float, dict] = {}
    net = args.network_runtime
    for delay in delays:
        reuse = "local" if net == "local" else f"rt:{net}"
        on = runs[reuse] if delay == 0 and reuse in runs else replay_run(args, rows, net, True, delay)
        off = replay_run(args, rows, net, False, delay)
        runs[f"net:{delay:g}:on"], runs[f"net:{delay:g}:off"] = on, off
        savings[delay] = saving(on, off)
    minutes = (time.monotonic() - started) / 60

    plot_timelines(runs["local"], rows, args.timelines, out / "timelines.png")
    plot_histograms(
        [runs["local"], *(r for k, r in runs.items() if k.startswith(("rt:", "net:")) and r is not runs["local"])],
        out / "histograms.png",
    )
    plot_nodes(runs["local"], out / "nodes_local.png")
    if "rt:ray" in runs:
        plot_nodes(runs["rt:ray"], out / "nodes_ray.png")
    text = report(runs, savings, args, minutes)
    (out / "report.md").write_text(text)
    summary = {
        "args": vars(args),
        "minutes": round(minutes, 2),
        "runs": {k: {"label": r.label, **r.summary} for k, r in runs.items()},
        "speculation_saving_ms": {f"{k:g}": v for k, v in savings.items()},
        "utterances": {k: r.utterances for k, r in runs.items()},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(text)
    print(f"\nwrote {out / 'report.md'}, its PNGs and {out / 'summary.json'}")
    return summary


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="speechgraph bench latency", description=__doc__.split("\n\n")[0])
    arguments(parser)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", force=True)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
