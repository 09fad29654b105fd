"""CPU cost of the always-on front end (log-mel + wake-word gate) for N concurrent streams.

Each stream is speech without the wake word (the demo recordings played backwards, each stream from
its own offset), so the gate stays closed and runs stage 1 on every chunk, as it does almost all of
the time. The streams are fed as 10 ms chunks, one batch per moment holding every stream's chunk,
which is how the runtime delivers them (`pipeline.pacing.interleave`, then `NodeHost` hands a node's
data messages of one batch to `on_batch` together). Prints CPU seconds per audio second per stream,
for the features node, the gate, and both, on one thread.

    python3 -m bench.gate_batching --streams 1 4 16 --seconds 10 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from audio import SAMPLE_RATE
from nodes.features import LogMelFeatures
from nodes.messages import AudioChunk, FeatureFrames, Wake
from pipeline import Node

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo"


def speech_without_wake_word(seconds: float) -> np.ndarray:
    """The demo recordings backwards, end to end, repeated to at least `seconds` (plus a spare second)."""
    from audio.files import load

    demo = sorted(p for p in DEMO.iterdir() if p.suffix in (".wav", ".flac", ".ogg"))
    rng = np.random.default_rng(0)
    if demo:
        x = np.concatenate([load(p)[::-1] for p in demo])
    else:
        x = rng.normal(0, 0.05, SAMPLE_RATE).astype(np.float32)
    need = int((seconds + 1) * SAMPLE_RATE)
    x = np.tile(x, need // len(x) + 1)
    return (x + rng.normal(0, 1e-3, len(x))).astype(np.float32)


def run(
    streams: int, seconds: float, *, chunk_ms: int = 10, unbatched: bool = False, audio: np.ndarray | None = None
) -> dict:
    """Feed `streams` streams of `seconds` each through LogMelFeatures and WakeWordGate; CPU per node."""
    from nodes.wake_gate import WakeWordGate

    audio = speech_without_wake_word(seconds) if audio is None else audio
    features, gate = LogMelFeatures(), WakeWordGate()
    call = (lambda node, items: Node.on_batch(node, items)) if unbatched else (lambda node, items: node.on_batch(items))
    names = [f"s{i}" for i in range(streams)]
    fstate = {s: features.new_state(s) for s in names}
    gstate = {s: gate.new_state(s) for s in names}
    offsets = [(i * 7919 * 160) % max(1, len(audio) - int(seconds * SAMPLE_RATE)) for i in range(streams)]
    chunk = SAMPLE_RATE * chunk_ms // 1000
    n_chunks = int(seconds * SAMPLE_RATE) // chunk
    cpu_f = cpu_g = 0.0
    wakes = 0
    for k in range(n_chunks):
        batch = [
            AudioChunk(
                stream=s, start=k * chunk, end=(k + 1) * chunk, samples=audio[o + k * chunk : o + (k + 1) * chunk]
            )
            for s, o in zip(names, offsets)
        ]
        t0 = time.process_time()
        frames = call(features, [(m, fstate[m.stream]) for m in batch])
        t1 = time.process_time()
        out = call(gate, [(m, gstate[m.stream]) for m in frames if isinstance(m, FeatureFrames)])
        t2 = time.process_time()
        cpu_f += t1 - t0
        cpu_g += t2 - t1
        wakes += sum(isinstance(m, Wake) for m in out)
    audio_s = streams * n_chunks * chunk / SAMPLE_RATE
    return {
        "streams": streams,
        "audio_s_per_stream": n_chunks * chunk / SAMPLE_RATE,
        "mode": "unbatched" if unbatched else "on_batch",
        "features_cpu_per_audio_s": cpu_f / audio_s,
        "gate_cpu_per_audio_s": cpu_g / audio_s,
        "total_cpu_per_audio_s": (cpu_f + cpu_g) / audio_s,
        "wakes": wakes,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, nargs="+", default=[1, 4, 16], help="stream counts to measure")
    ap.add_argument("--seconds", type=float, default=10.0, help="audio per stream")
    ap.add_argument("--chunk-ms", type=int, default=10, help="audio per chunk in ms (default 10)")
    ap.add_argument("--unbatched", action="store_true", help="call on_message one by one (Node.on_batch's default)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per row; the least CPU is reported (a busy machine)")
    ap.add_argument("--json", help="write the rows to this file")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    audio = speech_without_wake_word(args.seconds)
    run(1, 1.0, chunk_ms=args.chunk_ms, unbatched=args.unbatched, audio=audio)  # warm up
    rows = []
    print("s CPU per audio second per stream (1 thread)")
    print(f"{'streams':>7} {'mode':>10} {'features':>9} {'gate':>9} {'total':>9} {'x realtime/core':>15} {'wakes':>5}")
    for n in args.streams:
        runs = [run(n, args.seconds, chunk_ms=args.chunk_ms, unbatched=args.unbatched, audio=audio)]
        runs += [
            run(n, args.seconds, chunk_ms=args.chunk_ms, unbatched=args.unbatched, audio=audio)
            for _ in range(args.repeat - 1)
        ]
        r = min(runs, key=lambda r: r["total_cpu_per_audio_s"])
        rows.append(r)
        print(
            f"{n:>7} {r['mode']:>10} {r['features_cpu_per_audio_s']:>9.4f} {r['gate_cpu_per_audio_s']:>9.4f} "
            f"{r['total_cpu_per_audio_s']:>9.4f} {1 / r['total_cpu_per_audio_s']:>15.1f} {r['wakes']:>5}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
