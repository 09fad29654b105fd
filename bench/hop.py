"""Per-hop latency and message throughput of the runtimes.

A chain source -> relay x N carries real audio chunks. Latency: one stream
paced at real time; a hop is the time from one node emitting a batch to the
next node taking it (from the trace stamps), and the CPU the real-time run
cost every process of the run (a local Ray cluster's raylet and workers are the
driver's descendants; joining a cluster with `--address`, only the driver's
share is counted): per chunk through the chain, and in cores. Throughput: many streams as
fast as possible; chunks per second delivered at the end of the chain.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import soundfile as sf

from audio import SAMPLE_RATE
from nodes.file_source import FileSource
from nodes.messages import AudioChunk
from pipeline import Graph, Message, Node, make_runtime
from pipeline.usage import cpu_since, process_tree_cpu

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo"


class Relay(Node):
    """Forwards audio chunks unchanged: what a hop costs with no work in it."""

    def on_message(self, msg: Message, state: None) -> Iterable[Message]:
        return (msg,) if isinstance(msg, AudioChunk) else ()


def chain(paths: list[str], hops: int, realtime: bool, chunk_ms: int) -> Graph:
    g = Graph("hop-chain")
    g.add("source", FileSource, paths=paths, realtime=realtime, chunk_ms=chunk_ms)
    prev = "source"
    for i in range(hops):
        g.add(f"relay{i}", Relay)
        g.connect(prev, f"relay{i}")
        prev = f"relay{i}"
    return g.validate()


RUNTIMES: dict[str, tuple[str, dict]] = {
    "local": ("local", {}),
    "ray": ("ray", {}),
    "ray-unbatched": ("ray", {"batch": False}),
    "ray-fused": ("ray", {"fuse": True}),
}


def audio_file(seconds: float, folder: str) -> str:
    """A recording of `seconds`, cut from the shipped demo speech (or noise if it is absent)."""
    demo = sorted(DEMO.glob("*.wav"))
    if demo:
        from audio.files import load

        speech = np.concatenate([load(p) for p in demo])
        reps = int(np.ceil(seconds * SAMPLE_RATE / len(speech)))
        x = np.tile(speech, reps)[: int(seconds * SAMPLE_RATE)]
    else:
        x = np.random.default_rng(0).normal(0, 0.05, int(seconds * SAMPLE_RATE)).astype(np.float32)
    path = os.path.join(folder, f"bench-{seconds:.2f}s.wav")
    sf.write(path, x, SAMPLE_RATE, subtype="PCM_16")
    return path


def run(kind: str, options: dict, graph: Graph) -> tuple[list[Message], float, float]:
    """The chunks that left the chain, the wall seconds to the last, and the CPU seconds of the run (all
    processes, the runtime's start and close left out)."""
    with make_runtime(graph, kind, **options) as rt:
        cpu0 = process_tree_cpu()
        out = [m for m in rt.run() if isinstance(m, AudioChunk)]
        cpu = cpu_since(cpu0)
        wall = max(m.trace[-1][2] for m in out) - rt.t0_ns if out else 0
    return out, wall / 1e9, cpu


def hop_latencies_ms(msgs: list[Message]) -> np.ndarray:
    gaps = [(b[1] - a[2]) / 1e6 for m in msgs for a, b in zip(m.trace, m.trace[1:])]
    return np.asarray(gaps)


def measure(args: argparse.Namespace) -> list[dict]:
    rows = []
    chunks = [int(c) for c in args.chunks.split(",")]
    names = [r for r in args.runtimes.split(",") if r]
    if any(RUNTIMES[n][0] == "ray" for n in names):
        from pipeline.ray_runtime import init_ray

        init_ray(args.address)
    with tempfile.TemporaryDirectory() as tmp:
        latency_file = audio_file(args.seconds, tmp)
        for chunk_ms in chunks:
            per_stream_s = max(0.5, min(args.seconds, 800 * chunk_ms / 1000 / args.streams))
            tput_file = audio_file(per_stream_s, tmp)
            for name in names:
                kind, options = RUNTIMES[name]
                opts = dict(options, address=args.address) if kind == "ray" else dict(options)
                msgs, _, cpu = run(kind, opts, chain([latency_file], args.hops, True, chunk_ms))
                lat = hop_latencies_ms(msgs)
                out, wall, _ = run(kind, opts, chain([tput_file] * args.streams, args.hops, False, chunk_ms))
                rows.append(
                    {
                        "runtime": name,
                        "chunk_ms": chunk_ms,
                        "hop_p50_ms": round(float(np.percentile(lat, 50)), 3),
                        "hop_p99_ms": round(float(np.percentile(lat, 99)), 3),
                        "cpu_ms_per_chunk": round(1000 * cpu / max(1, len(msgs)), 3),
                        "cores_realtime": round(cpu / args.seconds, 2),
                        "chunks_per_s": round(len(out) / wall, 1) if wall else 0.0,
                        "x_realtime": round(len(out) * chunk_ms / 1000 / wall, 1) if wall else 0.0,
                        "streams": args.streams,
                        "hops": args.hops,
                    }
                )
                print(_format_row(rows[-1]), flush=True)
    return rows


HEADER = (
    f"{'runtime':<14} {'chunk':>6} {'hop p50':>9} {'hop p99':>9} {'cpu/chunk':>10} {'cores':>6} "
    f"{'chunks/s':>10} {'x realtime':>11}"
)


def _format_row(r: dict) -> str:
    return (
        f"{r['runtime']:<14} {r['chunk_ms']:>4}ms {r['hop_p50_ms']:>7.3f}ms {r['hop_p99_ms']:>7.3f}ms "
        f"{r['cpu_ms_per_chunk']:>8.3f}ms {r['cores_realtime']:>6.2f} "
        f"{r['chunks_per_s']:>10.0f} {r['x_realtime']:>11.1f}"
    )


def main(args: argparse.Namespace) -> list[dict]:
    print(
        f"chain of {args.hops} relay hops; latency and CPU (per chunk through the chain, and in cores): "
        f"1 stream at real time; throughput: {args.streams} streams, fast"
    )
    print(HEADER)
    rows = measure(args)
    if args.json:
        json.dump(rows, args.json, indent=2)
    return rows


if __name__ == "__main__":
    from bench.options import hop_arguments

    parser = argparse.ArgumentParser(prog="python3 -m bench.hop", description=__doc__)
    hop_arguments(parser)
    main(parser.parse_args())
