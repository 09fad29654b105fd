"""The two-stage wake-word gate: nothing passes before the wake word.

Stage 1 runs on every chunk of frames (causal, so scoring only the new frames
with enough past context is exact). When its smoothed score crosses the
threshold outside the refractory period it proposes a detection with an
estimated start and end. Stage 2 then scores the 195-frame window that begins
0.5 s before the estimated start, `verify_delay_ms` after stage 1's estimated
end: the part of the window still in the future is padded, as in training, so
the verifier costs ~100 ms of latency rather than the window's full 1.95 s.
Frames after the wake word are held meanwhile. On acceptance the gate opens a new
utterance, emits a `wake` event and forwards the held frames and what follows
as `UtteranceFeatures`; on rejection it drops them and keeps listening. While
closed it sends Watermarks, so nodes downstream never wait for audio that will
not come. An utterance closes after `max_utterance_s` (the end-pointers will
close it sooner).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from models.wakeword import PAD, PREROLL_FRAMES, STAGE2_FRAMES, Stage1, Stage2
from nodes.messages import FeatureFrames, UtteranceFeatures
from pipeline import Event, Message, Node, Watermark

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
SETTINGS = WEIGHTS / "wakeword.json"
"""Operating thresholds chosen on dev by `speechgraph bench wakeword --split dev --tune`."""
HOP, WIN = 160, 400
HISTORY = 600  # frames kept: stage 1's context plus the stage-2 window and the hold


@dataclass
class _Proposal:
    start: int
    end: int
    score1: float


@dataclass
class _Stream:
    frames: np.ndarray
    first: int = 0  # index of frames[0] in the stream
    scores: list[float] = field(default_factory=list)
    last_detection: int = -(10**9)
    proposal: _Proposal | None = None
    utterance: int = -1
    open_from: int | None = None  # first frame forwarded in the open utterance
    device_playing: bool = False  # the device's own playback is on (from a `device_playing` event)

    @property
    def next_frame(self) -> int:
        return self.first + len(self.frames)


class WakeWordGate(Node):
    def __init__(
        self,
        *,
        stage1: str | None = None,
        stage2: str | None = None,
        threshold1: float | None = None,
        threshold2: float | None = None,
        smooth: int = 3,
        refractory_s: float = 1.0,
        max_utterance_s: float = 10.0,
        verify_delay_ms: float = 100.0,
    ) -> None:
        super().__init__()
        p1 = Path(stage1) if stage1 else WEIGHTS / "wakeword_stage1.pt"
        p2 = Path(stage2) if stage2 else WEIGHTS / "wakeword_stage2.pt"
        for p in (p1, p2):
            if not p.exists():
                raise FileNotFoundError(f"no wake-word weights at {p} (train them: speechgraph train wakeword)")
        self.stage1 = Stage1.from_checkpoint(torch.load(p1, weights_only=False)).eval()
        self.stage2 = Stage2.from_checkpoint(torch.load(p2, weights_only=False)).eval()
        tuned = gate_settings()
        self.t1 = tuned["threshold1"] if threshold1 is None else threshold1
        self.t2 = tuned["threshold2"] if threshold2 is None else threshold2
        self.smooth = smooth
        self.refractory = int(refractory_s * 100)
        self.max_frames = int(max_utterance_s * 100)
        self.verify_delay = int(verify_delay_ms / 10)

    def new_state(self, stream: str) -> _Stream:
        return _Stream(frames=np.zeros((0, self.stage1.config.n_mels), np.float32))

    def on_control(self, msg: Message, st: _Stream) -> Iterable[Message]:
        """The sink's `result` (on a feedback edge) closes the utterance it commits; `device_playing`
        tells stage 2 that the device's own audio is on; the rest passes."""
        if isinstance(msg, Event) and msg.name == "device_playing":
            st.device_playing = bool(msg.data.get("playing"))
            return (msg,)
        if isinstance(msg, Event) and msg.name == "result":
            if st.open_from is not None and msg.data.get("utterance") == st.utterance:
                self.close_utterance(st)
            return ()
        return (msg,)

    def on_message(self, msg: Message, st: _Stream) -> Iterable[Message]:
        if not isinstance(msg, FeatureFrames):
            return ()
        out: list[Message] = []
        new = np.asarray(msg.frames, dtype=np.float32)
        start_new = st.next_frame
        st.frames = np.concatenate([st.frames, new])
        was_open = st.open_from is not None
        if not was_open:
            self._listen(msg, st, start_new, out)
        if st.open_from is not None:  # just opened: the frames held since the wake word go first
            self._forward(msg, st, start_new if was_open else st.open_from, out)
        else:
            out.append(Watermark(stream=msg.stream, start=msg.start, end=msg.end))
        if len(st.frames) > HISTORY:
            cut = len(st.frames) - HISTORY
            st.frames = st.frames[cut:]
            st.first += cut
        return out

    # -- closed: stage 1, then stage 2 ---------------------------------------------

    @torch.no_grad()
    def _listen(self, msg: FeatureFrames, st: _Stream, start_new: int, out: list[Message]) -> None:
        ctx = self.stage1.receptive_field - 1
        lo = max(0, start_new - st.first - ctx)
        logits, starts = self.stage1(torch.from_numpy(st.frames[lo:])[None])
        n_new = st.next_frame - start_new
        probs = torch.sigmoid(logits[0, -n_new:]).tolist()
        start_est = starts[0, -n_new:].tolist()
        for k, p in enumerate(probs):
            f = start_new + k
            st.scores = ([*st.scores, p])[-self.smooth :]
            score = sum(st.scores) / len(st.scores)
            if st.proposal is None and score >= self.t1 and f - st.last_detection > self.refractory:
                st.proposal = _Proposal(start=round(f - start_est[k]), end=f, score1=score)
                st.last_detection = f
        prop = st.proposal
        if prop is not None and st.next_frame > min(
            prop.end + self.verify_delay, prop.start - PREROLL_FRAMES + STAGE2_FRAMES - 1
        ):
            self._verify(msg, st, out)

    @torch.no_grad()
    def _verify(self, msg: FeatureFrames, st: _Stream, out: list[Message]) -> None:
        prop = st.proposal
        assert prop is not None
        st.proposal = None
        window = stage2_window(st.frames, st.first, prop.start, prop.end + self.verify_delay + 1)
        flag = torch.tensor([float(st.device_playing)])
        score2 = float(torch.sigmoid(self.stage2(torch.from_numpy(window)[None], flag))[0])
        fields = dict(
            start_s=round(_tick(prop.start) / 16000, 3),
            end_s=round(_end_tick(prop.end) / 16000, 3),
            stage1=round(prop.score1, 4),
            stage2=round(score2, 4),
        )
        if score2 < self.t2:
            out.append(Event.make("wake_rejected", stream=msg.stream, start=msg.end, end=msg.end, **fields))
            return
        st.utterance += 1
        st.open_from = prop.end + 1
        out.append(
            Event.make(
                "wake",
                stream=msg.stream,
                start=_tick(prop.start),
                end=msg.end,
                utterance=st.utterance,
                **fields,
            )
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
                    start=_tick(first),
                    end=_end_tick(st.next_frame - 1),
                    utterance=st.utterance,
                    revision=0,
                    frames=frames.copy(),
                    first_frame=first,
                )
            )
        if st.next_frame - st.open_from >= self.max_frames:
            out.append(
                Event.make(
                    "gate_closed",
                    stream=msg.stream,
                    start=msg.end,
                    end=msg.end,
                    utterance=st.utterance,
                    reason="max_utterance",
                )
            )
            self.close_utterance(st)

    def close_utterance(self, st: _Stream) -> None:
        """Back to listening (the commit feedback and the length limit call this)."""
        st.open_from = None
        st.scores = []
        st.last_detection = st.next_frame


def gate_settings() -> dict:
    """The gate's decision rule, with the thresholds tuned on dev where they exist."""
    out = {"threshold1": 0.5, "threshold2": 0.5, "smooth": 3, "refractory_frames": 100, "verify_delay_frames": 10}
    if SETTINGS.exists():
        out |= json.loads(SETTINGS.read_text())
    return out


@torch.no_grad()
def stage1_scores(model: Stage1, frames: np.ndarray, smooth: int) -> tuple[np.ndarray, np.ndarray]:
    """Stage 1 over a whole recording (causal, so the same as streaming it): the score averaged over
    the last `smooth` frames, as the gate smooths it, and the estimated frames since the start."""
    logits, starts = model(torch.from_numpy(np.asarray(frames, dtype=np.float32))[None])
    p = torch.sigmoid(logits[0]).numpy().astype(np.float64)
    c = np.concatenate([[0.0], np.cumsum(p)])
    idx = np.arange(len(p))
    lo = np.maximum(0, idx + 1 - smooth)
    return (c[idx + 1] - c[lo]) / (idx + 1 - lo), starts[0].numpy()


def proposals(
    smoothed: np.ndarray, starts: np.ndarray, threshold: float, refractory: int
) -> list[tuple[int, int, float]]:
    """(end frame, estimated start frame, score) of each stage-1 proposal: the smoothed score
    reaches `threshold` more than `refractory` frames after the previous proposal."""
    out: list[tuple[int, int, float]] = []
    last = -(10**9)
    for f in np.flatnonzero(smoothed >= threshold):
        if f - last > refractory:
            out.append((int(f), round(f - float(starts[f])), float(smoothed[f])))
            last = f
    return out


def stage2_window(frames: np.ndarray, first: int, start: int, heard_to: int) -> np.ndarray:
    """Stage 2's input for a wake word estimated to start at frame `start`: 195 frames from 0.5 s
    before it, `PAD` where there is no audio (before the stream, or from frame `heard_to` on: not
    heard yet when the gate verifies). `frames[0]` is frame `first` of the stream."""
    lo = start - PREROLL_FRAMES
    window = np.full((STAGE2_FRAMES, frames.shape[1]), PAD, np.float32)
    a, b = max(lo, first), min(first + len(frames), lo + STAGE2_FRAMES, heard_to)
    if b > a:
        window[a - lo : b - lo] = frames[a - first : b - first]
    return window


def _tick(frame: int) -> int:
    return frame * HOP


def _end_tick(frame: int) -> int:
    return frame * HOP + WIN
