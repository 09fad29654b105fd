"""`speechgraph bench scale`: how many real-time streams the machine sustains, and what each costs.

For N = 1, 2, 4, ... concurrent streams, each stream plays back-to-back requests
of a split for `--seconds`, paced at real time, through the whole graph. A load
is sustained when the graph keeps up (every recording finishes within
`--max-lag-s` of its audio) and the latency the graph adds (p90) stays within
`--max-upl-ratio` times that of one stream. `--load duty` plays a smart
speaker's day instead: each stream listens to audio without the wake word
(the split's rows without it) and a request comes about every
`--request-every-s` (default 60 s) per stream, staggered across streams.
Lanes start on the chunk grid (`FileSource(aligned=True)`), so the streams'
chunks of one moment share a batch, as on a server that gathers its streams'
audio once a chunk; `--unaligned` starts them anywhere. Reports per N: UPL p50/p90, how
late the recordings finished, CPU seconds per audio second per stream (the
cores one stream needs), resident memory per stream, and each node's share of
the CPU (where the time goes when it breaks). Overload policy: the sources are
slowed by backpressure (bounded queues everywhere) and a late source sends what
is due in fewer, larger batches; nothing is dropped, so a load beyond capacity
shows up as lag. `--soak MINUTES` runs one load that long and samples memory.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from bench import metrics
from bench.latency import RUNTIMES
from pipeline.usage import process_tree_rss_mb

log = logging.getLogger(__name__)

DEFAULT_STREAMS = {"requests": "1,2,4,8,16,32", "duty": "1,8,16,32,64,100,128"}


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", default="corpus_out", help="corpus folder (default corpus_out)")
    p.add_argument("--split", default="test", choices=("dev", "test"), help="split to measure (default test)")
    p.add_argument(
        "--streams",
        default=None,
        help=f"loads to try, in order (default {DEFAULT_STREAMS['requests']}; with --load duty "
        f"{DEFAULT_STREAMS['duty']})",
    )
    p.add_argument(
        "--load",
        default="requests",
        choices=tuple(DEFAULT_STREAMS),
        help="requests: back-to-back requests (the worst case); duty: audio without the wake word, a request "
        "about every --request-every-s per stream (a smart speaker)",
    )
    p.add_argument("--request-every-s", type=float, default=60.0, help="--load duty: seconds between requests")
    p.add_argument("--unaligned", action="store_true", help="start the streams anywhere, not on the chunk grid")
    p.add_argument(
        "--chunk-ms",
        type=int,
        default=10,
        help="audio per chunk (default 10, as replay and the microphone send it; more: fewer messages per second)",
    )
    p.add_argument("--runtime", default="local", choices=tuple(RUNTIMES), help="runtime (default local)")
    p.add_argument("--address", default=None, help="Ray: join the cluster at this address")
    p.add_argument("--seconds", type=float, default=20.0, help="audio per stream in each load (default 20)")
    p.add_argument("--max-lag-s", type=float, default=1.0, help="sustained: recordings finish this close to real time")
    p.add_argument(
        "--max-upl-ratio", type=float, default=1.5, help="sustained: processing latency p90 within this x one stream's"
    )
    p.add_argument("--all", action="store_true", help="try every load, not only up to the first that breaks")
    p.add_argument("--soak", type=float, default=0.0, help="minutes: run the first load this long, sample memory")
    p.add_argument("--out", default="bench/results/scale", help="folder for report.md, PNG and summary.json")


class MemorySampler:
    """Samples the process tree's resident memory every `every_s` in a thread of its own."""

    def __init__(self, every_s: float = 2.0) -> None:
        self.every_s = every_s
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.monotonic()

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic() - self._t0, process_tree_rss_mb()))
            self._stop.wait(self.every_s)

    @property
    def peak_mb(self) -> float:
        return max((m for _, m in self.samples), default=0.0)


def lanes(rows: list[dict], n: int, seconds: float) -> list[int]:
    """Row indices for `n` lanes of about `seconds` of audio each, in the order FileSource fills lanes;
    a long soak plays the split again (those repeats count for lag and memory, not for latency)."""
    per_lane = max(1, round(seconds / (sum(r["duration_s"] for r in rows) / len(rows))))
    return [i % len(rows) for i in range(n * per_lane)]


def duty_lanes(rows: list[dict], n: int, seconds: float, every_s: float) -> list[int]:
    """Row indices for `n` lanes of about `seconds` each of audio without the wake word, with a request (a
    row with it) after every `every_s` of the list's audio. FileSource shares the list out among the lanes
    as they play it, n seconds of it per second, so each lane gets a request about every `every_s`, and the
    lanes' requests are staggered. The first comes after half of `every_s`."""
    quiet = [i for i, r in enumerate(rows) if not r.get("wake_word", True)]
    asks = [i for i, r in enumerate(rows) if r.get("wake_word", True)]
    if not quiet or not asks:
        raise ValueError("--load duty needs rows with and without the wake word in the split")
    chosen: list[int] = []
    total, since = 0.0, every_s / 2
    while total < n * seconds:
        if since >= every_s:
            i, since = asks[len(chosen) % len(asks)], 0.0
        else:
            i = quiet[len(chosen) % len(quiet)]
        chosen.append(i)
        total += rows[i]["duration_s"]
        since += rows[i]["duration_s"]
    return chosen


def run_load(args: argparse.Namespace, n: int, seconds: float) -> dict[str, Any]:
    import graphs
    from nodes.file_source import FileSource
    from speechgraph.replay import replay, source_options

    manifest = Path(args.corpus) / f"{args.split}.jsonl"
    rows = [json.loads(line) for line in manifest.open() if line.strip()]
    if args.load == "duty":
        # one stream alone is the latency baseline: a request every tenth of the run, so its p90 rests on several
        every_s = args.request_every_s if n > 1 else min(args.request_every_s, seconds / 10)
        chosen = duty_lanes(rows, n, seconds, every_s)
    else:
        chosen = lanes(rows, n, seconds)
    every = source_options(manifest=str(manifest), realtime=True, concurrency=n, chunk_ms=args.chunk_ms)
    source = {k: [v[i] for i in chosen] if isinstance(v, list) else v for k, v in every.items()}
    source["aligned"] = not args.unaligned
    graph = graphs.build(graphs.DEFAULT, FileSource, source)
    kind, options = RUNTIMES[args.runtime]
    if kind == "ray" and args.address:
        options = {**options, "address": args.address}
    log.info("%d streams x %.0f s (%d recordings) on %s", n, seconds, len(chosen), args.runtime)
    with MemorySampler() as memory:
        result = replay(graph, kind, options)
    cpu = result.run_cpu_s
    ends = {e["stream"]: e for e in result.records if e["event"] == "end"}
    starts = {e["stream"]: e for e in result.records if e["event"] == "stream"}
    lag = [  # how long after its audio ended each recording was done with
        ends[s]["wall_ms"] / 1000 - (starts[s]["start_offset_s"] + starts[s]["duration_s"]) for s in ends if s in starts
    ]
    by_utt = metrics.group_events(result.records)  # (makes wall_ms relative to each recording's start)
    covered = [rows[i] for i in dict.fromkeys(chosen)]
    ep = metrics.endpointing(covered, by_utt)
    processing = [e["since_audio_ms"] for e in result.records if e["event"] == "result" and e.get("since_audio_ms")]
    audio = result.audio_s or 1.0
    node_cpu = {k: v["cpu_s"] for k, v in result.stats.nodes.items()}
    total_node = sum(node_cpu.values()) or 1.0
    return {
        "streams": n,
        "load": args.load,
        "recordings": len(chosen),
        "requests": sum(1 for i in chosen if rows[i].get("wake_word", True)),
        "audio_s": round(result.audio_s, 1),
        "wall_s": round(result.wall_s, 1),
        "upl_ms": ep["user_perceived_latency_ms"],
        "processing_ms": metrics.percentiles(processing),
        "finish_lag_s": metrics.percentiles(lag),
        "cores_per_stream": round(cpu / audio, 4),
        "node_cpu_share": {k: round(v / total_node, 3) for k, v in sorted(node_cpu.items(), key=lambda kv: -kv[1])},
        "node_rtf": {k: round(v / audio, 4) for k, v in node_cpu.items()},
        "peak_rss_mb": round(memory.peak_mb, 1),
        "rss_mb_per_stream": round(memory.peak_mb / n, 1),
        "memory_samples": memory.samples,
        "errors": result.count("error"),
        "results": result.count("result"),
    }


def sustained(row: dict, base: dict, args: argparse.Namespace) -> bool:
    """Keeps up, and the latency the graph adds has not grown past `max_upl_ratio` x one stream's.

    The ratio is taken on the processing latency (commit minus capture of the audio that decided the
    end-point: `since_audio_ms`), not on UPL itself: each load plays other recordings, whose pauses
    make the end-pointers wait differently, while what load changes is the time the graph adds.
    A floor of 50 ms keeps a ratio of small numbers from failing on noise."""
    lag = row["finish_lag_s"]["p90"]
    p90, p90_1 = row["processing_ms"]["p90"], base["processing_ms"]["p90"]
    latency_ok = p90 is not None and p90_1 is not None and p90 <= max(args.max_upl_ratio * p90_1, p90_1 + 50.0)
    if args.load == "duty" and (p90 is None or p90_1 is None):
        latency_ok = True  # no request finished in a short duty run: judged on lag alone
    return lag is not None and lag <= args.max_lag_s and latency_ok and row["errors"] == 0


def plot(rows: list[dict], soak: dict | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4 if soak else 3, figsize=(18 if soak else 14, 3.6))
    ns = [r["streams"] for r in rows]
    load = rows[0].get("load", "requests") if rows else "requests"
    axes[0].plot(ns, [r["upl_ms"]["p50"] for r in rows], "o-", label="UPL p50")
    axes[0].plot(ns, [r["upl_ms"]["p90"] for r in rows], "o-", label="UPL p90")
    axes[0].plot(ns, [r["processing_ms"]["p90"] for r in rows], "s--", label="processing p90 (the criterion)")
    axes[0].set_ylabel("ms after end of speech")
    axes[0].set_title(f"latency ({load} load)")
    axes[1].plot(ns, [r["finish_lag_s"]["p90"] for r in rows], "o-", color="tab:red", label="finish lag p90 (s)")
    axes[1].plot(ns, [r["cores_per_stream"] * r["streams"] for r in rows], "o-", color="tab:green", label="cores used")
    axes[1].set_title("keeping up")
    axes[2].plot(ns, [r["cores_per_stream"] for r in rows], "o-", color="tab:green", label="cores per stream")
    mb = axes[2].twinx()
    mb.plot(ns, [r["rss_mb_per_stream"] for r in rows], "s--", color="tab:purple", label="MB per stream")
    mb.set_ylabel("resident MB per stream")
    mb.legend(loc="upper right")
    axes[2].set_title("cost per stream")
    for ax in axes[:3]:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent real-time streams")
        ax.legend(loc="upper left")
    if soak:
        t = [s[0] / 60 for s in soak["memory_samples"]]
        axes[3].plot(t, [s[1] for s in soak["memory_samples"]])
        axes[3].set_xlabel("minutes")
        axes[3].set_ylabel("resident MB (process tree)")
        axes[3].set_title(f"soak: {soak['streams']} streams")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(rows: list[dict], best: int | None, soak: dict | None, args: argparse.Namespace) -> str:
    def f(v: Any) -> str:
        return "-" if v is None else (f"{v:.3f}" if isinstance(v, float) and abs(v) < 10 else str(v))

    lines = [
        "# Scale benchmark",
        "",
        f"`speechgraph bench scale --load {args.load} --runtime {args.runtime} --seconds {args.seconds:g}"
        + (f" --chunk-ms {args.chunk_ms}" if args.chunk_ms != 10 else "")
        + "`: "
        + (
            f"each stream plays back-to-back {args.split} requests"
            if args.load == "requests"
            else f"each stream plays {args.split} audio without the wake word with a request about every "
            f"{args.request_every_s:g} s"
        )
        + f" at real time ({'lanes anywhere' if args.unaligned else 'lanes on the chunk grid'}) on a machine with "
        f"{os.cpu_count()} cores. Sustained: "
        f"finish lag p90 <= {args.max_lag_s:g} s and processing latency p90 (commit minus capture of the audio "
        f"that decided the end-point) <= {args.max_upl_ratio:g} x one stream's (at least +50 ms allowed). "
        "Latencies in ms.",
        "",
        "| streams | requests | UPL p50 | UPL p90 | processing p50 | p90 | finish lag p90 (s) | cores per stream "
        "| MB per stream | errors | sustained |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['streams']} | {r['requests']} | {f(r['upl_ms']['p50'])} | {f(r['upl_ms']['p90'])} "
            f"| {f(r['processing_ms']['p50'])} | {f(r['processing_ms']['p90'])} | {f(r['finish_lag_s']['p90'])} "
            f"| {f(r['cores_per_stream'])} | {r['rss_mb_per_stream']} | {r['errors']} | "
            f"{'yes' if r['sustained'] else 'no'} |"
        )
    lines += [
        "",
        f"**Most real-time streams sustained: {best if best else 'none'}** ({args.load} load, {args.runtime} runtime).",
        "",
    ]
    last = rows[-1]
    share = ", ".join(f"{k} {v:.0%}" for k, v in list(last["node_cpu_share"].items())[:6])
    lines += [f"Where the CPU goes at {last['streams']} streams (share of node CPU): {share}.", ""]
    if soak:
        mem = [m for _, m in soak["memory_samples"]]
        half = len(mem) // 2
        lines += [
            f"Soak: {soak['streams']} streams for {soak['wall_s'] / 60:.1f} min: resident memory of the process "
            f"tree {min(mem):.0f}-{max(mem):.0f} MB; mean of the second half minus the first "
            f"{(sum(mem[half:]) / max(1, len(mem) - half)) - (sum(mem[:half]) / max(1, half)):+.1f} MB; "
            f"finish lag p90 {f(soak['finish_lag_s']['p90'])} s; errors {soak['errors']}.",
            "",
        ]
    lines += ["![scale](scale.png)", ""]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict[str, Any]:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    loads = [int(n) for n in (args.streams or DEFAULT_STREAMS[args.load]).split(",") if n.strip()]
    rows: list[dict] = []
    best: int | None = None
    for n in loads:
        row = run_load(args, n, args.seconds)
        row.pop("memory_samples")  # kept for the soak only
        row["sustained"] = sustained(row, rows[0] if rows else row, args)
        rows.append(row)
        log.info(
            "%d streams: UPL p90 %s ms, processing p90 %s ms, finish lag p90 %s s, %.3f cores/stream, sustained %s",
            n,
            row["upl_ms"]["p90"],
            row["processing_ms"]["p90"],
            row["finish_lag_s"]["p90"],
            row["cores_per_stream"],
            row["sustained"],
        )
        if row["sustained"]:
            best = n
        elif not args.all:
            break
    soak = run_load(args, loads[0] if not best else best, args.soak * 60) if args.soak else None
    plot(rows, soak, out / "scale.png")
    text = report(rows, best, soak, args)
    (out / "report.md").write_text(text)
    summary = {"args": vars(args), "loads": rows, "max_realtime_streams": best, "soak": soak}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(text)
    print(f"wrote {out / 'report.md'}, {out / 'scale.png'} and {out / 'summary.json'}")
    return summary


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="speechgraph bench scale", description=__doc__.split("\n\n")[0])
    arguments(parser)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", force=True)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
