"""CPU cost of the decoder node for N concurrent streams, its encoder batched across them or not.

Each stream is the demo recordings end to end (forwards), from its own offset, decoded without a gate
(every frame is one utterance's) with the demo contacts by the int8 recogniser the assistant graph runs.
The streams' 10 ms chunks are fed one delivery per moment, as the runtime hands them over, so every
stream completes an encoder step at the same frame: the case batching is for. Prints CPU ms per audio
second per stream, batched (`DecoderConfig(batch=True)`: one encoder call for all the streams' steps)
and one stream at a time (`batch=False`).

    python3 -m bench.decoder_batching --streams 1 8 16 --seconds 10
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from audio import SAMPLE_RATE
from bench.gate_batching import DEMO
from nodes.decoder.node import RNNTDecoder
from nodes.features import LogMelFeatures
from nodes.messages import AudioChunk, FeatureFrames
from pipeline import Message


def speech(seconds: float) -> np.ndarray:
    """The demo recordings end to end, repeated to at least `seconds` (plus a spare second)."""
    from audio.files import load

    x = np.concatenate([load(p) for p in sorted(DEMO.iterdir()) if p.suffix in (".wav", ".flac", ".ogg")])
    return np.tile(x, int((seconds + 1) * SAMPLE_RATE) // len(x) + 1)


def feature_batches(streams: int, seconds: float, audio: np.ndarray) -> list[list[Message]]:
    """The streams' log-mel frames, one delivery per 10 ms moment holding every stream's frame."""
    features = LogMelFeatures()
    names = [f"s{i}" for i in range(streams)]
    states = {s: features.new_state(s) for s in names}
    chunk = SAMPLE_RATE // 100
    n_chunks = int(seconds * SAMPLE_RATE) // chunk
    offsets = [(i * 7919 * chunk) % max(1, len(audio) - n_chunks * chunk) for i in range(streams)]
    out = []
    for k in range(n_chunks):
        batch = [
            AudioChunk(stream=s, start=a, end=a + chunk, samples=audio[o + a : o + a + chunk])
            for s, o in zip(names, offsets, strict=True)
            for a in [k * chunk]
        ]
        frames = features.on_batch([(m, states[m.stream]) for m in batch])
        out.append([m for m in frames if isinstance(m, FeatureFrames)])
    return out


def run(batches: list[list[Message]], seconds: float, *, batch: bool, context: list[str]) -> float:
    """CPU ms per audio second per stream of decoding `batches`."""
    decoder = RNNTDecoder(context=context, int8=True, batch=batch)
    states: dict[str, object] = {}
    started = time.process_time()
    for delivery in batches:
        decoder.on_batch([(m, states.setdefault(m.stream, decoder.new_state(m.stream))) for m in delivery])
    return 1000 * (time.process_time() - started) / (len(states) * seconds)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, nargs="+", default=[1, 8, 16], help="stream counts to measure")
    ap.add_argument("--seconds", type=float, default=10.0, help="audio per stream")
    ap.add_argument("--repeat", type=int, default=1, help="runs per row; the least CPU is reported (a busy machine)")
    ap.add_argument("--json", help="write the rows to this file")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    context = [line for line in (DEMO / "contacts.txt").read_text().splitlines() if line]
    audio = speech(args.seconds)
    run(feature_batches(1, 1.0, audio), 1.0, batch=True, context=context)  # warm up
    rows = []
    print("decoder CPU ms per audio second per stream (1 thread, int8, demo contacts)")
    print(f"{'streams':>7} {'one by one':>10} {'batched':>9}")
    for n in args.streams:
        batches = feature_batches(n, args.seconds, audio)
        alone = min(run(batches, args.seconds, batch=False, context=context) for _ in range(args.repeat))
        together = min(run(batches, args.seconds, batch=True, context=context) for _ in range(args.repeat))
        rows.append({"streams": n, "one_by_one_ms": round(alone, 1), "batched_ms": round(together, 1)})
        print(f"{n:>7} {alone:>10.1f} {together:>9.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
