"""File replay: each file is one stream, paced at real time or as fast as possible."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np

from audio import SAMPLE_RATE
from audio.files import AudioFileError, ReadReport, probe, read_blocks
from nodes.messages import AudioChunk, Context, DevicePlaying
from pipeline import EndOfStream, Error, Event, Message, Source
from pipeline.pacing import interleave
from pipeline.replicas import replica_of


class FileSource(Source):
    """Streams `paths` as concurrent streams of `chunk_ms` audio chunks.

    A file that cannot be read gives one `Error` for its stream (and its
    EndOfStream); the other streams go on. `contexts` (one list of phrases per
    path: the user's contacts and devices) opens each stream with a `Context`
    notice, for the decoder's biasing and the rescorer; `device_playing` marks
    recordings made while the device played audio itself (a `DevicePlaying`
    notice: a flag the gate's verifier takes). `errors` gives, per path, a reason found before the run why
    it cannot be replayed (a bad manifest row): that stream is just the error.
    """

    def __init__(
        self,
        paths: list[str],
        *,
        stream_ids: list[str] | None = None,
        realtime: bool = False,
        chunk_ms: int = 10,
        contexts: list[list[str]] | None = None,
        concurrency: int = 0,
        device_playing: list[bool] | None = None,
        errors: list[str | None] | None = None,
        aligned: bool = False,
        starts: list[int] | None = None,
    ) -> None:
        super().__init__()
        if contexts is not None and len(contexts) != len(paths):
            raise ValueError("contexts must give one list of phrases per path")
        if chunk_ms <= 0:
            raise ValueError(f"chunk_ms must be positive, not {chunk_ms}")
        if stream_ids is not None and len(stream_ids) != len(paths):
            raise ValueError("stream_ids must name every path")
        if errors is not None and len(errors) != len(paths):
            raise ValueError("errors must give one entry (a reason or None) per path")
        if starts is not None and len(starts) != len(paths):
            raise ValueError("starts must give one start tick per path")
        self.paths = list(paths)
        self.stream_ids = stream_ids or _unique_ids(self.paths)
        self.realtime = realtime
        self.contexts = contexts
        self.concurrency = concurrency
        self.device_playing = device_playing
        self.errors = errors or [None] * len(self.paths)
        self.chunk = SAMPLE_RATE * chunk_ms // 1000
        self.aligned = aligned
        """Lanes start on the chunk grid, so every stream's chunk is due at the same moments and shares one
        batch, as on a server that gathers its streams' audio once a chunk (the scale benchmark)."""
        self.starts = starts
        """Each stream's start tick, given (a shard keeps its streams' places in the whole schedule)."""
        self._stop = threading.Event()

    def batches(self, t0_ns: int) -> Iterator[list[Message]]:
        contexts = self.contexts or [None] * len(self.paths)
        playing = self.device_playing or [False] * len(self.paths)
        offsets = self._schedule()
        streams = [
            self._stream(p, s, c, o, bool(d), e)
            for p, s, c, o, d, e in zip(self.paths, self.stream_ids, contexts, offsets, playing, self.errors)
        ]
        return interleave(streams, t0_ns, realtime=self.realtime, stop=self._stop, offsets=offsets)

    def _schedule(self) -> list[int]:
        """Start ticks of the streams: given, all at once, or `concurrency` lanes of back-to-back files."""
        if self.starts is not None:
            return list(self.starts)
        if self.concurrency <= 0 or self.concurrency >= len(self.paths):
            return [0] * len(self.paths)
        lanes = [0] * self.concurrency
        offsets = []
        for path in self.paths:
            lane = min(range(len(lanes)), key=lanes.__getitem__)
            offsets.append(lanes[lane])
            try:
                seconds = probe(path).duration_s
            except AudioFileError:
                seconds = 0.0
            lanes[lane] += round(seconds * SAMPLE_RATE) + SAMPLE_RATE // 10
            if self.aligned:
                lanes[lane] = -(-lanes[lane] // self.chunk) * self.chunk
        return offsets

    def stop(self) -> None:
        self._stop.set()

    def planned_streams(self) -> list[str]:
        return list(self.stream_ids)

    shardable = True

    def shard(self, index: int, count: int) -> FileSource | None:
        mine = [i for i, s in enumerate(self.stream_ids) if replica_of(s, count) == index]
        if not mine:
            return None
        starts = self._schedule()

        def pick(values: list | None) -> list | None:
            return None if values is None else [values[i] for i in mine]

        part = FileSource(
            [self.paths[i] for i in mine],
            stream_ids=pick(self.stream_ids),
            realtime=self.realtime,
            chunk_ms=self.chunk * 1000 // SAMPLE_RATE,
            contexts=pick(self.contexts),
            device_playing=pick(self.device_playing),
            errors=pick(self.errors),
            aligned=self.aligned,
            starts=pick(starts),
        )
        part.name = self.name
        return part

    def _stream(
        self,
        path: str,
        stream: str,
        context: list[str] | None,
        offset: int = 0,
        playing: bool = False,
        error: str | None = None,
    ) -> Iterator[Message]:
        pos = 0
        try:
            if error is not None:
                raise AudioFileError(error)
            info = probe(path)
            yield Event.make(
                "stream",
                stream=stream,
                path=path,
                sample_rate=info.sample_rate,
                channels=info.channels,
                duration_s=round(info.duration_s, 3),
                format=info.format,
                start_offset_s=round(offset / SAMPLE_RATE, 3),
            )
            if info.sample_rate < SAMPLE_RATE:
                yield Event.make("warning", stream=stream, warning=narrowband(path, info.sample_rate))
            if context is not None:
                yield Context(stream=stream, phrases=tuple(context))
            if playing:
                yield DevicePlaying(stream=stream, playing=True)
            pending = np.zeros(0, np.float32)
            report = ReadReport()
            for block in read_blocks(info, report=report):
                if self._stop.is_set():
                    break
                block = np.clip(block, -1.0, 1.0)  # the resampler's overshoot on loud audio
                pending = np.concatenate([pending, block]) if pending.size else block
                while len(pending) >= self.chunk:
                    yield AudioChunk(
                        stream=stream, start=pos, end=pos + self.chunk, samples=pending[: self.chunk].copy()
                    )
                    pos += self.chunk
                    pending = pending[self.chunk :]
            if len(pending) and not self._stop.is_set():
                yield AudioChunk(stream=stream, start=pos, end=pos + len(pending), samples=pending.copy())
                pos += len(pending)
            if report.clipped:
                yield Event.make(
                    "warning",
                    stream=stream,
                    start=pos,
                    end=pos,
                    warning=f"{path}: {report.clipped} samples beyond full scale were clipped",
                )
        except AudioFileError as exc:
            text = str(exc)
            if stream == path:  # the stream already names the file
                text = text.removeprefix(f"{path}: ")
            yield Error(stream=stream, start=pos, end=pos, node=self.name or "source", error=text)
        yield EndOfStream(stream=stream, start=pos, end=pos)


def narrowband(path: str, rate: int) -> str:
    """Why audio below 16 kHz is replayed with a warning: upsampling cannot bring back the band it lacks."""
    return (
        f"{path}: narrowband audio ({rate} Hz, nothing above {rate // 2} Hz): the wake word and the recogniser "
        f"were trained on {SAMPLE_RATE // 1000} kHz audio and may miss what it holds"
    )


def _unique_ids(paths: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    ids = []
    for p in paths:
        n = seen.get(p, 0)
        seen[p] = n + 1
        ids.append(p if n == 0 else f"{p}#{n + 1}")
    return ids
