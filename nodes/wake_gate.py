"""The two-stage wake-word gate: nothing passes before the wake word.

Stage 1 runs on every chunk of frames. Being causal, it keeps a cache of its
past activations per stream and computes only the new frames; the streams of
one delivered batch (`on_batch`) run as one batched step, so one gate serves
many concurrent streams at little more than the cost of one. After an open
utterance, the first step rebuilds the cache from the receptive field of held
frames, which is exact. When its smoothed score crosses the
threshold outside the refractory period it proposes a detection with an
estimated start and end. Stage 2 then scores the 195-frame window that begins
0.5 s before the estimated start, `verify_delay_ms` after stage 1's estimated
end: the part of the window still in the future is padded, as in training, so
the verifier costs ~100 ms of latency rather than the window's full 1.95 s.
Frames after the wake word are held meanwhile. On acceptance the gate opens a new
utterance, sends a `Wake` notice and forwards the held frames and what follows
as `UtteranceFeatures`; on rejection it drops them, reports `wake_rejected` and
keeps listening. While closed it sends Watermarks, so nodes downstream never wait
for audio that will not come. An utterance closes when the sink commits it (`Committed`) or a failure
costs it (`Lost`), or after `max_utterance_s` (`GateClosed`; the end-pointers will
close it sooner). The gate then listens again from the utterance's end-point, not from
the moment the news arrived, and where no end-point came (the length limit, a failure) from
where the utterance began: a wake word said while a late end-point was on its way (a busy
machine, a node restarting after a crash) is still heard, from the held frames.

Everything after stage 1 (smoothing, proposals, stage 2, forwarding) runs per
stream, in the order of the batch. A stream whose message fails (malformed
frames, say) gets an `Error` and starts afresh; the others in its batch go on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audio import SAMPLE_RATE, seconds
from audio.logmel import DEFAULT as LOGMEL
from audio.logmel import frame_end, frame_start
from models.wakeword import (
    PREROLL_FRAMES,
    STAGE2_FRAMES,
    STAGE2_TRAINED_LOW,
    Stage1,
    Stage1Stream,
    Stage2,
    proposes,
    stage2_input,
)
from nodes.config import WEIGHTS, TunedConfig, compute_threads, configure
from nodes.messages import (
    Committed,
    DevicePlaying,
    EndPoint,
    FeatureFrames,
    GateClosed,
    Lost,
    UtteranceFeatures,
    Wake,
)
from pipeline import MAX_ERRORS_PER_STREAM, Error, Event, Message, Node, Watermark, one_line, rounds

log = logging.getLogger(__name__)

HISTORY = 600  # frames kept: stage 1's context plus the stage-2 window and the hold
FRAMES_PER_S = 100  # log-mel frames (10 ms hop)


@dataclass(frozen=True)
class WakeGateConfig(TunedConfig):
    """The gate's models and decision rule. `load()` takes the operating thresholds from `FILE`, chosen on
    dev by `speechgraph bench wakeword --split dev --tune`; the benchmark scores the same rule with them."""

    FILE = WEIGHTS / "wakeword.json"
    TUNED = ("threshold1", "threshold2")

    stage1: str | None = None
    """Stage 1's checkpoint (None: the shipped `weights/wakeword_stage1.pt`)."""
    stage2: str | None = None
    """Stage 2's checkpoint (None: the shipped `weights/wakeword_stage2.pt`)."""
    threshold1: float = 0.5
    """Stage 1's smoothed score at or above which it proposes a detection (lower: more stage-2 runs)."""
    threshold2: float = 0.5
    """Stage 2's score at or above which a proposal wakes the gate (the false accept / false reject trade)."""
    smooth: int = 3
    """Stage-1 scores averaged (frames): one noisy frame does not propose."""
    refractory_s: float = 1.0
    """After a proposal, no other for this long: one wake word is verified once."""
    max_utterance_s: float = 10.0
    """An open utterance closes after this long (`GateClosed`) if nothing closed it before."""
    verify_delay_ms: float = 100.0
    """Audio after stage 1's estimated end that stage 2 waits for: its latency, against the window's full 1.95 s."""
    watermark_ms: float = 100.0
    """While closed, a `Watermark` at most this often (and at once after an utterance): nothing downstream waits
    for the audio the gate keeps back, so a sparse watermark only saves messages (a smart speaker is closed
    most of the time)."""
    level_low: float | None = STAGE2_TRAINED_LOW
    """Stage 2's window of a quieter speaker is raised to this level (`models.wakeword.level_raised`; None: as
    heard)."""

    @property
    def refractory_frames(self) -> int:
        return int(self.refractory_s * FRAMES_PER_S)

    @property
    def max_frames(self) -> int:
        return int(self.max_utterance_s * FRAMES_PER_S)

    @property
    def verify_delay_frames(self) -> int:
        return int(self.verify_delay_ms / (1000 / FRAMES_PER_S))


@dataclass
class _Proposal:
    start: int
    end: int
    score1: float


class FrameHistory:
    """A stream's recent frames, appended and dropped in place: copying the whole history for every 10 ms
    chunk cost more than the chunk's own stage-1 step at many streams. The frames live in a buffer of twice
    what is kept, moved to its front only when it fills (once per `keep` frames appended)."""

    def __init__(self, bands: int, keep: int = HISTORY) -> None:
        self.buf = np.zeros((2 * keep, bands), np.float32)
        self.lo = self.hi = 0

    @property
    def frames(self) -> np.ndarray:
        """The frames held (a view: valid until the next `append`)."""
        return self.buf[self.lo : self.hi]

    def append(self, new: np.ndarray) -> None:
        n = self.hi - self.lo
        if self.hi + len(new) > len(self.buf):
            if n + len(new) > len(self.buf):  # more than the buffer holds at once (a long open utterance)
                grown = np.zeros((2 * (n + len(new)), self.buf.shape[1]), np.float32)
                grown[:n] = self.frames
                self.buf = grown
            else:
                self.buf[:n] = self.frames
            self.lo, self.hi = 0, n
        self.buf[self.hi : self.hi + len(new)] = new
        self.hi += len(new)

    def drop(self, n: int) -> None:
        """Forget the `n` oldest frames."""
        self.lo = min(self.hi, self.lo + n)


@dataclass
class _Stream:
    held: FrameHistory
    first: int = 0  # index of frames[0] in the stream
    scores: list[float] = field(default_factory=list)
    last_detection: int = -(10**9)
    proposal: _Proposal | None = None
    utterance: int = -1
    open_from: int | None = None  # first frame forwarded in the open utterance
    device_playing: bool = False  # the device's own playback is on (from a `DevicePlaying` notice)
    cache: np.ndarray | None = None  # stage 1's cache after frame `cached_to - 1` (None: zeros)
    cached_to: int = 0
    errors: int = 0
    dead: bool = False  # failed MAX_ERRORS_PER_STREAM times: its data is dropped
    resumed: bool = False  # began before this gate restarted after a crash: see `_next_utterance`
    rescan_from: int | None = None  # closed at an earlier end-point: stage 1 reads the held frames from here
    watermarked: int | None = None  # the last closed `Watermark`'s end (None: none since the gate was open)

    @property
    def frames(self) -> np.ndarray:
        return self.held.frames

    @property
    def next_frame(self) -> int:
        return self.first + len(self.frames)


def _next_utterance(st: _Stream, wake_frame: int) -> int:
    """The next utterance number: one more than the last, except for the first after a restart, which goes
    on from the audio time instead (one number per 100 ms, more than a count of requests can reach):
    the restarted gate does not know the numbers it gave before the crash, and the nodes that outlived it
    (the cloud side) must not take a new utterance for one they already closed."""
    if st.resumed:
        st.resumed = False
        return max(st.utterance + 1, wake_frame // 10)
    return st.utterance + 1


@dataclass
class _Step:
    """One stream's message on its way through `on_batch`."""

    msg: FeatureFrames
    st: _Stream
    start_new: int = 0
    feats: np.ndarray | None = None  # stage 1's input: the new frames, or the receptive field and them
    cache: np.ndarray | None = None
    probs: list[float] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)
    error: Exception | None = None


class WakeWordGate(Node):
    def __init__(self, config: WakeGateConfig | None = None, **overrides: Any) -> None:
        """`config`: default `WakeGateConfig.load()`; `overrides`: of its fields (`threshold1=0.3`)."""
        super().__init__()
        self.config = c = configure(config or WakeGateConfig.load(), overrides)
        p1 = Path(c.stage1) if c.stage1 else WEIGHTS / "wakeword_stage1.pt"
        p2 = Path(c.stage2) if c.stage2 else WEIGHTS / "wakeword_stage2.pt"
        for p in (p1, p2):
            if not p.exists():
                raise FileNotFoundError(f"no wake-word weights at {p} (train them: speechgraph train wakeword)")
        self.stage1 = Stage1.from_checkpoint(torch.load(p1, weights_only=False)).eval()
        self.stage2 = Stage2.from_checkpoint(torch.load(p2, weights_only=False)).eval()
        compute_threads(1)  # stage 1 is one small batched step per delivery
        self.stream1 = Stage1Stream(self.stage1)
        self._zeros = self.stream1.new_cache()[0]  # the cache of a stream that starts (read only, shared)
        self._zeros.setflags(write=False)
        self.t1, self.t2 = c.threshold1, c.threshold2
        self.smooth = c.smooth
        self.refractory = c.refractory_frames
        self.max_frames = c.max_frames
        self.verify_delay = c.verify_delay_frames
        self.watermark_every = round(c.watermark_ms * SAMPLE_RATE / 1000)

    def new_state(self, stream: str) -> _Stream:
        return _Stream(held=FrameHistory(self.stage1.config.n_mels))

    def restored(self, stream: str, state: _Stream) -> None:
        state.resumed = True

    def on_control(self, msg: Message, st: _Stream) -> Iterable[Message]:
        """The final end-pointer's `EndPoint` (on a feedback edge) closes the utterance it ends: its audio is
        complete, and the gate listens for the wake word again without waiting for the result (nor for a
        sink that is restarting); the sink's `Committed` closes it too where no end-pointer spoke (a graph
        without one), and its `Lost` the utterances a failure cost (a crashed decoder would otherwise be
        fed the rest of one it never began); `DevicePlaying` tells stage 2 that the device's own audio is
        on; the rest passes."""
        if isinstance(msg, DevicePlaying):
            st.device_playing = msg.playing
            return (msg,)
        if isinstance(msg, EndPoint):
            if msg.kind == "final" and st.open_from is not None and msg.utterance == st.utterance:
                self.close_utterance(st, at=msg.end)
            return ()
        if isinstance(msg, Committed):
            if st.open_from is not None and msg.utterance == st.utterance:
                self.close_utterance(st, at=msg.end)
            return ()
        if isinstance(msg, Lost):
            if st.open_from is not None and st.utterance in msg.utterances:
                self.close_utterance(st)
            return ()
        return (msg,)

    def on_message(self, msg: Message, st: _Stream) -> Iterable[Message]:
        return self.on_batch([(msg, st)])

    def on_end_of_stream(self, msg: Message, st: _Stream) -> Iterable[Message]:
        """Closed, the last `Watermark` covers what was heard since the one before."""
        heard_to = frame_end(st.next_frame - 1) if st.next_frame else 0
        if st.open_from is None and st.watermarked is not None and heard_to > st.watermarked:
            return [Watermark(stream=msg.stream, start=st.watermarked, end=heard_to)]
        return []

    def on_batch(self, items: list[tuple[Message, _Stream]]) -> list[Message]:
        """Stage 1 of all the streams in `items` as batched steps, the rest per stream, in order.

        A stream with several messages in `items` takes them in turn: the batch is cut into rounds
        of consecutive items with one message per stream."""
        out: list[Message] = []
        wanted = [(msg, st) for msg, st in items if isinstance(msg, FeatureFrames) and not st.dead]
        for round_ in rounds(wanted):
            self._round([_Step(msg, st) for msg, st in round_], out)
        return out

    def _round(self, steps: list[_Step], out: list[Message]) -> None:
        for step in steps:
            try:
                self._take(step)
            except Exception as exc:
                step.error = exc
        groups: dict[int, list[_Step]] = {}
        for step in steps:
            if step.error is None and step.feats is not None:
                groups.setdefault(len(step.feats), []).append(step)
        for group in groups.values():
            try:
                self._stage1(group)
            except Exception as exc:
                if len(group) == 1:
                    group[0].error = exc
                    continue
                for step in group:  # find the stream at fault: the others go on
                    try:
                        self._stage1([step])
                    except Exception as exc1:
                        step.error = exc1
        for step in steps:
            produced: list[Message] = []
            if step.error is None:
                try:
                    self._decide(step, produced)
                except Exception as exc:
                    step.error = exc
            if step.error is not None:
                self._fail(step, step.error, out)
            else:
                out.extend(produced)

    def _take(self, step: _Step) -> None:
        """Append the new frames; while closed, pick stage 1's input: the new frames after the
        stream's cache, or, where the cache is stale (the gate was open), the receptive field too."""
        st, msg = step.st, step.msg
        new = np.asarray(msg.frames, dtype=np.float32)
        if new.ndim != 2 or new.shape[1] != st.frames.shape[1]:
            raise ValueError(f"expected frames of {st.frames.shape[1]} bands, got shape {new.shape}")
        if not len(st.frames) and st.next_frame != msg.first_frame:  # first heard mid-way: after a restart
            st.first = st.cached_to = int(msg.first_frame)
        step.start_new = st.next_frame
        st.held.append(new)
        if st.open_from is not None or not len(new):
            return
        if st.rescan_from is not None:  # closed at an end-point behind the frames already held: read from there
            step.start_new, st.rescan_from = max(st.rescan_from, st.first), None
        if st.cached_to == step.start_new:
            step.feats, step.cache = new, self._zeros if st.cache is None else st.cache
        else:
            lo = max(0, step.start_new - st.first - self.stream1.context)
            step.feats, step.cache = st.frames[lo:], self._zeros

    def _stage1(self, group: list[_Step]) -> None:
        """One batched stage-1 step for streams with inputs of one length; keeps their new caches."""
        logits, starts, cache = self.stream1.step(
            np.stack([s.feats for s in group]), np.stack([s.cache for s in group])
        )
        probs, starts_ = torch.sigmoid(torch.from_numpy(logits)).tolist(), starts.tolist()
        for i, s in enumerate(group):
            n = s.st.next_frame - s.start_new
            s.probs, s.starts = probs[i][-n:], starts_[i][-n:]
            s.st.cache, s.st.cached_to = cache[i], s.st.next_frame

    def _decide(self, step: _Step, out: list[Message]) -> None:
        msg, st, start_new = step.msg, step.st, step.start_new
        was_open = st.open_from is not None
        if not was_open:
            self._listen(step, out)
        if st.open_from is not None:  # just opened: the frames held since the wake word go first
            self._forward(msg, st, start_new if was_open else st.open_from, out)
            st.watermarked = None
        elif st.watermarked is None or msg.end - st.watermarked >= self.watermark_every:
            out.append(Watermark(stream=msg.stream, start=msg.start, end=msg.end))
            st.watermarked = msg.end
        if len(st.frames) > HISTORY:
            cut = len(st.frames) - HISTORY
            st.held.drop(cut)
            st.first += cut

    def _fail(self, step: _Step, exc: Exception, out: list[Message]) -> None:
        """What NodeHost does for a failed stream, for one stream of the batch: an `Error`, and the
        stream starts afresh after the failed message (its utterance count goes on)."""
        msg, st = step.msg, step.st
        log.error("node %s failed on stream %s: %s: %s", self.name, msg.stream, type(exc).__name__, exc, exc_info=exc)
        text = one_line(exc)
        if st.open_from is not None:
            out.append(
                GateClosed(stream=msg.stream, start=msg.end, end=msg.end, utterance=st.utterance, reason="error")
            )
        fresh = self.new_state(msg.stream)
        try:
            fresh.first = fresh.cached_to = int(msg.first_frame) + len(msg.frames)
        except Exception:
            fresh.first = fresh.cached_to = step.start_new
        fresh.utterance, fresh.device_playing, fresh.errors = st.utterance, st.device_playing, st.errors + 1
        if fresh.errors >= MAX_ERRORS_PER_STREAM:
            fresh.dead = True
            text += f" (failed {fresh.errors} times: stream dropped at this node)"
        st.__dict__.update(fresh.__dict__)
        out.append(Error(stream=msg.stream, start=msg.start, end=msg.end, node=self.name, error=text))

    # -- closed: stage 1, then stage 2 ---------------------------------------------

    def _listen(self, step: _Step, out: list[Message]) -> None:
        """Stage 1's smoothed scores of the new frames, in order: propose, and verify as soon as the frames
        stage 2 needs are among them, so that a long step (held frames read again, a source catching up)
        hears every wake word in it, and an accepted one opens the utterance where it ends."""
        st = step.st
        for k, p in enumerate(step.probs):
            f = step.start_new + k
            st.scores = ([*st.scores, p])[-self.smooth :]
            score = sum(st.scores) / len(st.scores)
            if st.proposal is None and proposes(score, f, st.last_detection, self.t1, self.refractory):
                st.proposal = _Proposal(start=round(f - step.starts[k]), end=f, score1=score)
                st.last_detection = f
            prop = st.proposal
            if prop is not None and f >= min(
                prop.end + self.verify_delay, prop.start - PREROLL_FRAMES + STAGE2_FRAMES - 1
            ):
                self._verify(step.msg, st, out)
                if st.open_from is not None:
                    return

    @torch.no_grad()
    def _verify(self, msg: FeatureFrames, st: _Stream, out: list[Message]) -> None:
        prop = st.proposal
        assert prop is not None
        st.proposal = None
        window = stage2_input(st.frames, st.first, prop.start, prop.end + self.verify_delay + 1, self.config.level_low)
        flag = torch.tensor([float(st.device_playing)])
        score2 = float(torch.sigmoid(self.stage2(torch.from_numpy(window)[None], flag))[0])
        fields = dict(
            start_s=round(seconds(frame_start(prop.start)), 3),
            end_s=round(seconds(frame_end(prop.end)), 3),
            stage1=round(prop.score1, 4),
            stage2=round(score2, 4),
        )
        if not score2 >= self.t2:  # NaN never wakes
            out.append(Event.make("wake_rejected", stream=msg.stream, start=msg.end, end=msg.end, **fields))
            return
        st.utterance = _next_utterance(st, prop.start)
        st.open_from = prop.end + 1
        out.append(
            Wake(stream=msg.stream, start=frame_start(prop.start), end=msg.end, utterance=st.utterance, **fields)
        )

    # -- open: forward the utterance -----------------------------------------------

    def _forward(self, msg: FeatureFrames, st: _Stream, first: int, out: list[Message]) -> None:
        assert st.open_from is not None
        first = max(first, st.first)
        if first < st.next_frame:
            frames = st.frames[first - st.first :]
            out.append(
                UtteranceFeatures(
                    stream=msg.stream,
                    start=frame_start(first),
                    end=frame_end(st.next_frame - 1),
                    utterance=st.utterance,
                    revision=0,
                    frames=frames.copy(),
                    first_frame=first,
                )
            )
        if st.next_frame - st.open_from >= self.max_frames:
            out.append(
                GateClosed(
                    stream=msg.stream, start=msg.end, end=msg.end, utterance=st.utterance, reason="max_utterance"
                )
            )
            self.close_utterance(st)

    def close_utterance(self, st: _Stream, at: int | None = None) -> None:
        """Back to listening (the end-point and commit feedback, a failure and the length limit call this).
        Stage 1 reads again the held frames from `at`, the tick where the utterance ended; where that is
        unknown (the length limit, a failure), from where the utterance began: a wake word said while the
        end-point was late (a busy machine, an end-pointer restarting after a crash) is still heard."""
        start = st.open_from if st.open_from is not None else st.next_frame
        resume = min(st.next_frame, start if at is None else max(at // LOGMEL.hop, start))
        st.open_from = None
        st.scores = []
        st.last_detection = resume
        st.rescan_from = resume if resume < st.next_frame else None
