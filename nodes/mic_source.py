"""Live capture from a sound device with sounddevice (PortAudio).

The capture callback only copies the block and notes the clock: that moment is
the block's `captured_ns`, the origin of every latency figure. A device that
cannot run at 16 kHz is captured at its own rate and resampled.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import soxr

from audio import SAMPLE_RATE
from nodes.messages import AudioChunk
from pipeline import EndOfStream, Error, Message, Source, now_ns
from pipeline.replicas import replica_of

log = logging.getLogger(__name__)


class MicrophoneError(Exception):
    """No usable input device, with the reason."""


def list_input_devices() -> list[dict[str, Any]]:
    import sounddevice as sd

    return [
        {"index": i, "name": d["name"], "channels": d["max_input_channels"], "default_rate": d["default_samplerate"]}
        for i, d in enumerate(sd.query_devices())
        if d["max_input_channels"] > 0
    ]


def resolve_device(device: str | int | None) -> tuple[Any, int]:
    """The device to open and the rate to open it at (16 kHz where it can)."""
    try:
        import sounddevice as sd
    except OSError as exc:  # PortAudio missing
        raise MicrophoneError(f"cannot load PortAudio: {exc}") from exc
    if isinstance(device, str) and device.isdigit():
        device = int(device)
    try:
        info = sd.query_devices(device, kind="input")
    except (ValueError, sd.PortAudioError) as exc:
        what = f"no input device {device!r}" if device is not None else "no input device"
        raise MicrophoneError(f"{what}: {exc} (see `speechgraph devices`)") from exc
    if info["max_input_channels"] < 1:
        raise MicrophoneError(f"device {info['name']!r} has no input channels")
    try:
        sd.check_input_settings(device=device, samplerate=SAMPLE_RATE, channels=1, dtype="float32")
        rate = SAMPLE_RATE
    except (ValueError, sd.PortAudioError):
        rate = int(info["default_samplerate"])
    return device, rate


class MicrophoneSource(Source):
    """One live stream from an input device, in `block_ms` blocks, until stopped."""

    def __init__(
        self,
        *,
        device: str | int | None = None,
        stream_id: str = "mic",
        block_ms: int = 10,
        max_seconds: float | None = None,
        latency: str | float = "low",
    ) -> None:
        super().__init__()
        self.device = device
        self.stream_id = stream_id
        self.block = SAMPLE_RATE * block_ms // 1000
        self.max_ticks = None if max_seconds is None else int(max_seconds * SAMPLE_RATE)
        self.latency = latency
        self._stop = threading.Event()
        self.overflows = 0

    def stop(self) -> None:
        self._stop.set()

    shardable = True

    def shard(self, index: int, count: int) -> MicrophoneSource | None:
        return self if replica_of(self.stream_id, count) == index else None

    def batches(self, t0_ns: int) -> Iterator[list[Message]]:
        sid = self.stream_id
        try:
            device, rate = resolve_device(self.device)
        except MicrophoneError as exc:
            yield [Error(stream=sid, node=self.name or "mic", error=str(exc))]
            yield [EndOfStream(stream=sid)]
            return
        import sounddevice as sd

        blocks: queue.Queue[tuple[np.ndarray, int]] = queue.Queue(maxsize=1000)

        def callback(indata: np.ndarray, frames: int, time_info: Any, status: sd.CallbackFlags) -> None:
            if status.input_overflow:
                self.overflows += 1
            try:
                blocks.put_nowait((indata[:, 0].copy(), now_ns()))
            except queue.Full:
                self.overflows += 1

        resampler = None if rate == SAMPLE_RATE else soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32")
        pos = 0
        try:
            stream = sd.InputStream(
                device=device,
                samplerate=rate,
                channels=1,
                dtype="float32",
                blocksize=self.block * rate // SAMPLE_RATE,
                latency=self.latency,
                callback=callback,
            )
        except (sd.PortAudioError, ValueError) as exc:
            yield [Error(stream=sid, node=self.name or "mic", error=f"cannot open input device {device!r}: {exc}")]
            yield [EndOfStream(stream=sid)]
            return
        with stream:
            log.info("capturing from %s at %d Hz", stream.device, rate)
            while not self._stop.is_set() and (self.max_ticks is None or pos < self.max_ticks):
                try:
                    samples, captured = blocks.get(timeout=0.5)
                except queue.Empty:
                    continue
                if resampler is not None:
                    samples = resampler.resample_chunk(samples)
                if not len(samples):
                    continue
                yield [AudioChunk(stream=sid, start=pos, end=pos + len(samples), captured_ns=captured, samples=samples)]
                pos += len(samples)
        if self.overflows:
            log.warning("input overflowed %d times: audio was lost", self.overflows)
        yield [EndOfStream(stream=sid, start=pos, end=pos)]
