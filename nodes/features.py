"""The features node: log-mel filterbank energies (`audio.logmel`), computed chunk by chunk.

`ChunkCheck` guards every node that keeps audio state (this one and the VAD):
a stream's chunks must follow each other and hold finite samples in [-1, 1].
Bad audio is repaired so the node's state and the times of what it sends stay
true, and reported as an `Error` line on the stream; the stream goes on.

The chunks of all the streams in one delivery (`on_batch`) go through one FFT
and one filterbank product: the frames are the same as one stream at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audio.clock import SAMPLE_RATE
from audio.logmel import LogMel, LogMelConfig, frame_end, frame_start
from nodes.config import compute_threads, configure
from nodes.messages import AudioChunk, FeatureFrames
from pipeline import MAX_ERRORS_PER_STREAM, Error, Message, Node, one_line, rounds

log = logging.getLogger(__name__)

MAX_FILL = SAMPLE_RATE
"""Ticks of missing audio (a gap, a chunk whose samples do not fit its span) replaced by silence;
beyond that a stream that jumps ahead restarts where it landed."""
MAX_REPORTS = 10
"""Bad chunks reported per stream and node; later ones are repaired without a report."""


@dataclass
class ChunkCheck:
    """One stream's audio as a node that keeps audio state takes it: contiguous, finite, within full scale.

    `take` returns the samples to append, the tick where they start, whether the stream jumped (the
    node restarts there: always on the first chunk), and the problem as one line, or None:

    - NaN and infinite samples become silence; samples beyond full scale are clipped;
    - a chunk whose samples are not a float vector of `end - start` values becomes that much silence
      (dropped if its span is negative or longer than MAX_FILL);
    - a gap of up to MAX_FILL ticks before a chunk is filled with silence; a longer jump restarts there;
    - the part of a chunk that repeats ticks already taken is dropped.
    """

    next: int | None = None
    """The tick the next chunk should start at (None: wherever the first one starts)."""
    reports: int = 0

    def take(self, msg: AudioChunk) -> tuple[np.ndarray, int, bool, str | None]:
        problems: list[str] = []
        span = msg.end - msg.start
        x = msg.samples
        if not (isinstance(x, np.ndarray) and x.dtype.kind == "f" and x.ndim == 1 and len(x) == span):
            shape = f"{x.dtype} array of shape {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
            if 0 <= span <= MAX_FILL:
                problems.append(f"holds a {shape} for a span of {span} ticks: replaced by silence")
                x = np.zeros(span, np.float32)
            else:
                problems.append(f"holds a {shape} for a span of {span} ticks: dropped")
                return np.zeros(0, np.float32), self.next or 0, False, self._report(msg, problems)
        if not (len(x) == 0 or (-1.0 <= x.min() and x.max() <= 1.0)):  # False for NaN: the usual chunk costs two calls
            bad = ~np.isfinite(x)
            if bad.any():
                problems.append(f"{_count(bad, 'NaN or infinite sample')}: replaced by silence")
                x = np.where(bad, 0.0, x)
            over = np.abs(x) > 1.0
            if over.any():
                problems.append(f"{_count(over, 'sample')} beyond full scale: clipped")
                x = np.clip(x, -1.0, 1.0)
        x = np.asarray(x, dtype=np.float32)
        start, jumped = msg.start, False
        if self.next is None:
            if start < 0:
                cut = min(-start, len(x))
                problems.append(f"starts at tick {msg.start}, before the stream: the audio before tick 0 dropped")
                x, start = x[cut:], start + cut
                if start < 0:
                    return x, 0, False, self._report(msg, problems)
            jumped = True
        elif start > self.next:
            gap = start - self.next
            if gap <= MAX_FILL:
                problems.append(f"a gap of {gap} ticks before it: filled with silence")
                x, start = np.concatenate([np.zeros(gap, np.float32), x]), self.next
            else:
                problems.append(f"jumps {gap / SAMPLE_RATE:.3f} s ahead of the stream: restarting there")
                jumped = True
        elif start < self.next:
            repeat = min(self.next - start, len(x))
            problems.append(f"repeats {repeat} ticks already heard: dropped")
            x, start = x[self.next - start :], self.next
        self.next = start + len(x)
        return x, start, jumped, self._report(msg, problems) if problems else None

    def _report(self, msg: AudioChunk, problems: list[str]) -> str | None:
        self.reports += 1
        if self.reports > MAX_REPORTS:
            return None
        text = f"bad audio at {msg.start / SAMPLE_RATE:.3f}-{msg.end / SAMPLE_RATE:.3f} s: {'; '.join(problems)}"
        if self.reports == MAX_REPORTS:
            text += " (more bad audio on this stream is repaired without a report)"
        return text


def _count(mask: np.ndarray, what: str) -> str:
    n = int(mask.sum())
    return f"{n} {what}{'' if n == 1 else 's'}"


@dataclass
class _StreamBuffer:
    tail: np.ndarray
    next_frame: int = 0
    check: ChunkCheck = field(default_factory=ChunkCheck)
    errors: int = 0


class LogMelFeatures(Node):
    """AudioChunk in, FeatureFrames out (one message per chunk that completes a frame)."""

    def __init__(self, config: LogMelConfig | None = None, **overrides: Any) -> None:
        """`config`: the features the models were trained on (`audio.logmel.LogMelConfig`, shared with
        training); `overrides`: of its fields (`n_mels=40`)."""
        super().__init__()
        self.config = configure(config or LogMelConfig(), overrides)
        self.logmel = LogMel(self.config)
        compute_threads(1)  # one small filterbank product per delivery

    def new_state(self, stream: str) -> _StreamBuffer:
        return _StreamBuffer(tail=np.zeros(0, np.float32))

    def on_message(self, msg: Message, state: _StreamBuffer) -> Iterable[Message]:
        return self.on_batch([(msg, state)])

    def on_batch(self, items: list[tuple[Message, _StreamBuffer]]) -> list[Message]:
        """The chunks of all the streams in `items`, their frames through one FFT (`LogMel.frames_many`):
        the same frames as one stream at a time. A stream with several messages in `items` takes them in
        turn (rounds of one message per stream)."""
        out: list[Message] = []
        wanted = [(msg, st) for msg, st in items if isinstance(msg, AudioChunk) and st.errors < MAX_ERRORS_PER_STREAM]
        for round_ in rounds(wanted):
            self._round([(msg, st) for msg, st in round_], out)
        return out

    def _round(self, items: list[tuple[AudioChunk, _StreamBuffer]], out: list[Message]) -> None:
        c = self.logmel.config
        bufs: list[tuple[AudioChunk, _StreamBuffer, np.ndarray]] = []
        for msg, state in items:
            try:
                samples, at, jumped, problem = state.check.take(msg)
            except Exception as exc:  # ChunkCheck repairs bad audio: this is a bug, and only this stream's
                self._fail(msg, state, exc, out)
                continue
            if problem:
                out.append(Error(stream=msg.stream, start=msg.start, end=msg.end, node=self.name, error=problem))
            if not len(samples) and not jumped:
                continue
            if jumped:  # frame i starts at tick i*hop, wherever the stream starts or lands
                state.next_frame = -(-at // c.hop)
                samples = samples[state.next_frame * c.hop - at :]
                state.tail = np.zeros(0, np.float32)
            bufs.append((msg, state, np.concatenate([state.tail, samples]) if state.tail.size else samples))
        if not bufs:
            return
        frames_of = self.logmel.frames_many([b for _, _, b in bufs])
        for (msg, state, buf), frames in zip(bufs, frames_of, strict=True):
            n = len(frames)
            state.tail = buf[n * c.hop :].copy() if n else buf.copy()
            if n == 0:
                continue
            first = state.next_frame
            state.next_frame += n
            start, end = frame_start(first, c), frame_end(first + n - 1, c)
            out.append(FeatureFrames(stream=msg.stream, start=start, end=end, frames=frames, first_frame=first))

    def _fail(self, msg: AudioChunk, state: _StreamBuffer, exc: Exception, out: list[Message]) -> None:
        """What NodeHost does for a failed stream, for one stream of the batch: an `Error`, and the stream
        starts afresh (its next chunk starts the frame grid)."""
        log.error("node %s failed on stream %s: %s", self.name, msg.stream, one_line(exc), exc_info=exc)
        state.errors += 1
        text = one_line(exc)
        if state.errors >= MAX_ERRORS_PER_STREAM:
            text += f" (failed {state.errors} times: stream dropped at this node)"
        state.tail, state.next_frame, state.check = np.zeros(0, np.float32), 0, ChunkCheck()
        out.append(Error(stream=msg.stream, start=msg.start, end=msg.end, node=self.name, error=text))
