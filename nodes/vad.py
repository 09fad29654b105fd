"""Voice activity: silero-vad speech probabilities for consecutive 512-sample windows.

The end-pointers measure trailing silence on this grid. Windows are aligned to
the stream's first sample and carried across chunks, so the probabilities do not
depend on how the audio was cut. Silero is recurrent: instead of its wrapper,
which keeps one hidden state inside the model object, the node calls the inner
network with a (context, state) pair it keeps per stream, so one model serves
every stream, and the streams of one delivery (`on_batch`) share each network
call: window k of every stream that has one goes in one batch, with the streams'
states side by side. Each stream's probabilities are the same whichever streams
shared its calls (`SileroVAD`; `batch=False` calls the network per stream). A
stream whose message fails gets an `Error` and starts afresh; the others in its
batch go on.

Only the end-pointers read the probabilities, and only within an utterance the
wake gate opened; a smart speaker listens for the wake word most of the time.
With `follow_gate` (the assistant graph feeds the gate's output in too) the
node runs silero only on the gate's open spans and the `preroll_s` before each:
it holds the audio until the gate has judged it, skips what no utterance wants
(sending a `Watermark` in place of probabilities, so the end-pointers never wait
for it), and starts silero afresh after a skip; the preroll warms it up and gives
the end-pointers the windows before the wake word's end that they read. That
preroll is computed over the next few messages (at most `max_windows` per
message), so the delivery that carries the gate's `Wake` is not held back by it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audio import SAMPLE_RATE
from nodes.config import compute_threads, configure
from nodes.features import ChunkCheck
from nodes.messages import AudioChunk, UtteranceFeatures, VoiceActivity
from pipeline import MAX_ERRORS_PER_STREAM, Error, Message, Node, Watermark, one_line, rounds

log = logging.getLogger(__name__)

WINDOW = 512
"""Samples per probability: silero's fixed window at 16 kHz (32 ms)."""


@dataclass(frozen=True)
class VADConfig:
    """The VAD's settings (the model and its window are silero's own)."""

    threads: int = 1
    """Torch and BLAS threads of the process the VAD runs in (`nodes.config.compute_threads`)."""
    batch: bool = True
    """Run the windows of all the streams in a delivery as one network call per window (CPU per stream falls
    about 3x at 16 streams; each stream's probabilities the same either way); False: one call per stream."""
    follow_gate: bool = False
    """Compute only where the wake gate's output (`UtteranceFeatures` on a second input) has an utterance open,
    and `preroll_s` before it; False: every window of the stream."""
    preroll_s: float = 1.5
    """With `follow_gate`: audio before an utterance's first frame that is computed too: silero's warm-up (its
    state remembers: started afresh 1 s before, a window 1.2 s later was still 0.1 off the probability of the
    VAD that runs all the time, 1.5 s before 0.01), and the windows the end-pointers read around the wake
    word's end (`models.eoq.HISTORY` is 0.5 s)."""
    max_windows: int = 3
    """With `follow_gate`: windows computed per message at most. An utterance's preroll (47 windows) is caught up
    over the next chunks (in about 180 ms of 10 ms chunks), not in the delivery that carries the `Wake`: in one
    process everything after the VAD waits for it (`bench latency`: the wake event p50 111 ms with 2 windows a
    message, 115 with 6). The end-pointers need the windows only once the request has been spoken."""


class _Held:
    """Samples held in arrival order, taken from the front: appending a chunk copies nothing, so holding
    a second and a half of audio while the gate judges it costs no more per chunk than holding a window."""

    def __init__(self) -> None:
        self.chunks: deque[np.ndarray] = deque()
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def append(self, x: np.ndarray) -> None:
        if len(x):
            self.chunks.append(x)
            self.size += len(x)

    def take(self, n: int) -> np.ndarray:
        """The first `n` samples, removed."""
        parts, need = [], n
        while need:
            x = self.chunks[0]
            if len(x) <= need:
                parts.append(self.chunks.popleft())
                need -= len(x)
            else:
                parts.append(x[:need])
                self.chunks[0] = x[need:]
                need = 0
        self.size -= n
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


@dataclass
class _Stream:
    next_start: int | None = None  # tick where the next window starts
    pending: _Held = field(default_factory=_Held)  # the samples from there on
    context: np.ndarray | None = None  # the previous window's last samples (silero prepends them)
    state: np.ndarray | None = None  # the recurrent state
    check: ChunkCheck = field(default_factory=ChunkCheck)  # bad audio repaired before it reaches the network
    errors: int = 0
    dead: bool = False  # failed MAX_ERRORS_PER_STREAM times: its audio is dropped
    judged_to: int = 0  # following the gate: ticks the gate has judged, open or closed
    spans: list[list[int]] = field(default_factory=list)  # following the gate: its open spans [start, end) ahead


@dataclass
class _Job:
    """One stream's message on its way through `on_batch`: its complete windows and what it emits."""

    msg: Message
    st: _Stream
    out: list[Message]
    windows: np.ndarray | None = None  # n x WINDOW
    start: int = 0
    probs: np.ndarray | None = None
    error: Exception | None = None


class SileroVAD:
    """silero's 16 kHz network, its ONNX export run by onnxruntime, with the recurrent state held by the caller.

    The package's TorchScript network computes the same function; under onnxruntime a window costs about a third
    of the time for one stream, and each row of a batch comes out bit for bit as it does alone (TorchScript's
    differ in the last bits with the rows beside them)."""

    CONTEXT = 64
    """Samples of the audio before each window that the 16 kHz network reads with it."""

    def __init__(self, threads: int = 1) -> None:
        from importlib.resources import files

        import onnxruntime as ort

        path = files("silero_vad") / "data" / "silero_vad.onnx"
        if not path.is_file():
            raise RuntimeError(f"no silero ONNX network at {path} (silero-vad >= 6.2 ships one)")
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.log_severity_level = 3  # its warnings about unused initialisers in the export
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.rate = np.array(SAMPLE_RATE, dtype=np.int64)

    def initial(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((1, self.CONTEXT), np.float32), np.zeros((2, 1, 128), np.float32)

    def net(self, x: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Speech probabilities (B, 1) of windows with their context (B, 64 + 512), and the next state (2, B, 128)."""
        prob, state = self.session.run(None, {"input": x, "state": state, "sr": self.rate})
        return prob, state

    def probs(
        self, windows: np.ndarray, context: np.ndarray, state: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Speech probabilities of `windows` (n x 512), and the context and state after them."""
        out = np.empty(len(windows), np.float32)
        x = np.asarray(windows, dtype=np.float32)
        for i in range(len(windows)):
            w = x[i : i + 1]
            p, state = self.net(np.concatenate([context, w], 1), state)
            context = w[:, -self.CONTEXT :]
            out[i] = p[0, 0]
        return out, context, state

    def probs_batch(
        self, windows: list[np.ndarray], contexts: list[np.ndarray], states: list[np.ndarray]
    ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """`probs` of several streams at once: window k of every stream that has one is one network call.
        Streams are taken longest first, so the streams still running are always the first rows."""
        order = sorted(range(len(windows)), key=lambda i: -len(windows[i]))
        counts = [len(windows[i]) for i in order]
        probs = [np.empty(c, np.float32) for c in counts]
        context = np.concatenate([contexts[i] for i in order])
        state = np.concatenate([states[i] for i in order], axis=1)
        ends_ctx = [context[r : r + 1] for r in range(len(order))]
        ends_state = [state[:, r : r + 1] for r in range(len(order))]
        x = [np.asarray(windows[i], dtype=np.float32) for i in order]
        for k in range(counts[0] if counts else 0):
            rows = sum(1 for c in counts if c > k)
            w = np.stack([x[r][k] for r in range(rows)])
            p, state = self.net(np.concatenate([context[:rows], w], 1), np.ascontiguousarray(state[:, :rows]))
            context = w[:, -self.CONTEXT :]
            for r in range(rows):
                probs[r][k] = p[r, 0]
                if k == counts[r] - 1:
                    ends_ctx[r], ends_state[r] = context[r : r + 1], state[:, r : r + 1]
        out_p, out_c, out_s = [np.empty(0)] * len(order), [contexts[0]] * len(order), [states[0]] * len(order)
        for r, i in enumerate(order):
            out_p[i], out_c[i], out_s[i] = probs[r], ends_ctx[r], ends_state[r]
        return out_p, out_c, out_s


class VoiceActivityDetector(Node):
    """AudioChunk -> VoiceActivity: one message per chunk that completes at least one window."""

    def __init__(self, config: VADConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        self.config = configure(config or VADConfig(), overrides)
        compute_threads(self.config.threads)
        self.vad = SileroVAD(self.config.threads)
        self.preroll = round(self.config.preroll_s * SAMPLE_RATE)

    def new_state(self, stream: str) -> _Stream:
        st = _Stream()
        st.context, st.state = self.vad.initial()
        return st

    def on_message(self, msg: Message, state: _Stream) -> Iterable[Message]:
        return self.on_batch([(msg, state)])

    def on_control(self, msg: Message, state: _Stream) -> Iterable[Message]:
        """Following the gate, a `Watermark` at t says the gate has judged the audio up to t (a control message
        reaches a node only once its other inputs reached its time) and opened nothing new: the windows it
        decides are skipped, and the node sends its own watermark, behind the audio it holds."""
        if not self.config.follow_gate or not isinstance(msg, Watermark):
            return (msg,)
        if state.dead:
            return []
        state.judged_to = max(state.judged_to, msg.end)
        return self._skip(state, msg.stream)

    def on_end_of_stream(self, msg: Message, state: _Stream) -> Iterable[Message]:
        """Following the gate: no utterance opens any more, so every window still held is decided."""
        out: list[Message] = []
        if self.config.follow_gate and not state.dead:
            state.judged_to = 1 << 62
            held = None
            while held != (state.next_start, len(state.pending)):  # a skip and a computed run per round
                held = (state.next_start, len(state.pending))
                self._round([_Job(msg, state, [])], out)
        return out

    def on_batch(self, items: list[tuple[Message, _Stream]]) -> list[Message]:
        """The chunks of all the streams in `items`, their windows batched (`SileroVAD.probs_batch`).

        A stream with several messages in `items` takes them in turn: the batch is cut into rounds of
        consecutive items with one message per stream."""
        out: list[Message] = []
        kinds = (AudioChunk, UtteranceFeatures) if self.config.follow_gate else AudioChunk
        wanted = [(msg, st) for msg, st in items if isinstance(msg, kinds) and not st.dead]
        for round_ in rounds(wanted):
            self._round([_Job(msg, st, []) for msg, st in round_], out)
        return out

    def _round(self, jobs: list[_Job], out: list[Message]) -> None:
        for job in jobs:
            try:
                self._take(job)
            except Exception as exc:
                job.error = exc
        todo = [j for j in jobs if j.error is None and j.windows is not None]
        if len(todo) > 1 and self.config.batch:
            try:
                self._network(todo)
                todo = []
            except Exception:
                pass  # find the stream at fault: each one alone, below
        for job in todo:
            try:
                self._network([job])
            except Exception as exc:
                job.error = exc
        for job in jobs:
            if job.error is not None:
                self._fail(job, out)
                continue
            out.extend(job.out)
            if job.probs is not None:
                n = len(job.probs)
                out.append(
                    VoiceActivity(
                        stream=job.msg.stream,
                        start=job.start,
                        end=job.start + n * WINDOW,
                        probs=job.probs,
                        window=WINDOW,
                    )
                )
                if self.config.follow_gate:
                    out.extend(self._skip(job.st, job.msg.stream))

    def _take(self, job: _Job) -> None:
        """Check the chunk and cut the stream's complete windows (the rest waits for the next chunk); following
        the gate, note what it judged and cut only the windows an utterance wants."""
        msg, st = job.msg, job.st
        if isinstance(msg, UtteranceFeatures):
            self._judged(st, msg.start, msg.end)
        elif isinstance(msg, AudioChunk):
            samples, at, jumped, problem = st.check.take(msg)
            if problem:
                job.out.append(Error(stream=msg.stream, start=msg.start, end=msg.end, node=self.name, error=problem))
            if jumped:  # the first chunk, or a jump ahead (reported): the window grid starts here
                st.next_start, st.pending = at, _Held()
            elif not len(samples):
                return
            st.pending.append(samples)
        if st.next_start is None:
            return
        if self.config.follow_gate:
            job.out.extend(self._skip(st, msg.stream))
            n, most = 0, min(len(st.pending) // WINDOW, self.config.max_windows)
            while n < most and self._wanted(st, st.next_start + n * WINDOW):
                n += 1
        else:
            n = len(st.pending) // WINDOW
        if n:
            job.windows, job.start = st.pending.take(n * WINDOW).reshape(n, WINDOW), st.next_start

    def _judged(self, st: _Stream, start: int, end: int) -> None:
        """The gate forwarded [start, end) to an open utterance."""
        st.judged_to = max(st.judged_to, end)
        if st.spans and start <= st.spans[-1][1]:
            st.spans[-1][1] = max(st.spans[-1][1], end)
        else:
            st.spans.append([start, end])

    def _wanted(self, st: _Stream, start: int) -> bool | None:
        """Whether an utterance wants the window at `start` (in one or within the preroll before one); None while
        the gate has not judged far enough to say."""
        end = start + WINDOW
        if any(a < end + self.preroll and b > start for a, b in st.spans):
            return True
        return False if st.judged_to >= end + self.preroll else None

    def _skip(self, st: _Stream, stream: str) -> list[Message]:
        """Drop the held windows no utterance wants, up to the first one that is wanted or undecided: a
        `Watermark` over them, and silero starts afresh after them."""
        if st.next_start is None:
            return []
        n = 0
        while (n + 1) * WINDOW <= len(st.pending) and self._wanted(st, st.next_start + n * WINDOW) is False:
            n += 1
        if not n:
            return []
        start = st.next_start
        st.next_start += n * WINDOW
        st.pending.take(n * WINDOW)
        st.context, st.state = self.vad.initial()
        st.spans = [s for s in st.spans if s[1] > st.next_start]
        return [Watermark(stream=stream, start=start, end=st.next_start)]

    def _network(self, jobs: list[_Job]) -> None:
        """The jobs' windows through the network; each stream's context and state move on only if all succeed."""
        if len(jobs) == 1:
            j = jobs[0]
            probs, ctx, state = self.vad.probs(j.windows, j.st.context, j.st.state)
            results = [(probs, ctx, state)]
        else:
            p, c, s = self.vad.probs_batch(
                [j.windows for j in jobs], [j.st.context for j in jobs], [j.st.state for j in jobs]
            )
            results = list(zip(p, c, s))
        for j, (probs, ctx, state) in zip(jobs, results, strict=True):
            j.probs, j.st.context, j.st.state = probs, ctx, state
            j.st.next_start = j.start + len(probs) * WINDOW

    def _fail(self, job: _Job, out: list[Message]) -> None:
        """What NodeHost does for a failed stream, for one stream of the batch: an `Error`, and the stream
        starts afresh (its next chunk starts a new window grid)."""
        msg, st, exc = job.msg, job.st, job.error
        assert exc is not None
        log.error("node %s failed on stream %s: %s", self.name, msg.stream, one_line(exc), exc_info=exc)
        text = one_line(exc)
        fresh = self.new_state(msg.stream)
        fresh.errors = st.errors + 1
        if fresh.errors >= MAX_ERRORS_PER_STREAM:
            fresh.dead = True
            text += f" (failed {fresh.errors} times: stream dropped at this node)"
        st.__dict__.update(fresh.__dict__)
        out.append(Error(stream=msg.stream, start=msg.start, end=msg.end, node=self.name, error=text))


def speech_probs(samples: np.ndarray, vad: SileroVAD | None = None) -> np.ndarray:
    """Probabilities of every complete window of a whole signal (tools, benchmarks)."""
    vad = vad or SileroVAD()
    n = len(samples) // WINDOW
    context, state = vad.initial()
    probs, _, _ = vad.probs(np.asarray(samples[: n * WINDOW], np.float32).reshape(n, WINDOW), context, state)
    return probs
