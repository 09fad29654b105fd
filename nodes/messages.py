"""Messages of the speech graph: the data on its edges, and the notices by which its nodes act together.

Spans are in audio ticks: samples of 16 kHz mono audio (`audio.SAMPLE_RATE`).
A notice's span is the audio time it speaks for, so it reaches a node in
audio-time order with the data. The notices users also see leave the graph as
the events of the README's table (`Notice.event`), with the same fields.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audio import SAMPLE_RATE
from pipeline.messages import Event, Message, Notice, UtteranceMessage


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioChunk(Message):
    """Mono float32 samples in [-1, 1] covering ticks [start, end)."""

    samples: np.ndarray

    def __post_init__(self) -> None:
        self.samples.setflags(write=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeatureFrames(Message):
    """Log-mel frames `first_frame ...` (shape frames x bands).

    Frame i is computed from ticks [i*hop, i*hop + window); the message spans
    from the first frame's first sample to the last frame's last sample.
    """

    frames: np.ndarray
    first_frame: int

    def __post_init__(self) -> None:
        self.frames.setflags(write=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class UtteranceFeatures(UtteranceMessage):
    """Log-mel frames that belong to an utterance the wake gate opened (same layout as FeatureFrames)."""

    frames: np.ndarray
    first_frame: int

    def __post_init__(self) -> None:
        self.frames.setflags(write=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceActivity(Message):
    """Speech probabilities of consecutive `window`-sample windows covering ticks [start, end)."""

    probs: np.ndarray
    window: int = 512

    def __post_init__(self) -> None:
        self.probs.setflags(write=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class DecoderSignal(UtteranceMessage):
    """What the decoder knows after each chunk of an utterance, for the end-pointers.

    `end` is how far it has decoded; `last_token_s` is the audio time (seconds) of the
    best hypothesis's last non-blank output, so `seconds(end) - last_token_s` is the
    trailing-blank time.
    """

    text: str
    last_token_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class LatticeMessage(UtteranceMessage):
    """One revision of an utterance's first-pass result: the word lattice cut at an end-point.

    `lattice` is `Lattice.to_dict()`; `nbest` holds (text, first-pass score) pairs;
    `context` the stream's context phrases (contacts, devices) for the rescorer;
    `final` is true when the final end-pointer already stands behind this revision
    (no confirmation will follow).
    """

    lattice: dict
    text: str
    nbest: tuple[tuple[str, float], ...]
    context: tuple[str, ...] = ()
    endpoint: str = "final"
    endpoint_s: float = 0.0
    final: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Transcript(UtteranceMessage):
    """A rescored (or first-pass) revision on its way to being committed; the NLU fills intent and slots."""

    text: str
    first_pass_text: str
    nbest: tuple[tuple[str, float], ...]
    context: tuple[str, ...] = ()
    rescored: bool = False
    rescore_note: str = ""
    rescore_ms: float = 0.0
    endpoint: str = "final"
    endpoint_s: float = 0.0
    final: bool = True
    intent: str | None = None
    slots: tuple[tuple[str, str], ...] = ()
    confidence: float | None = None
    """How likely the whole text is right (`nodes.confidence`); None when nothing estimated it."""
    word_confidence: tuple[float, ...] = ()
    """One per word of `text`: the posterior mass of the lattice paths that agree on it."""
    nbest_confidence: tuple[float, ...] = ()
    """Posterior of each `nbest` entry."""


# -- notices -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Context(Notice):
    """The stream's context phrases (contacts, device names) arrived: the decoder biases towards them."""

    phrases: tuple[str, ...]

    def event(self) -> Event:
        return self.as_event("context", phrases=list(self.phrases))


@dataclass(frozen=True, slots=True, kw_only=True)
class DevicePlaying(Notice):
    """The device's own playback is on (or off): the wake word's stage 2 scores with that in mind."""

    playing: bool

    def event(self) -> Event:
        return self.as_event("device_playing", playing=self.playing)


@dataclass(frozen=True, slots=True, kw_only=True)
class Wake(Notice):
    """The gate accepted the wake word and opened `utterance`: the decoder, end-pointers and sink take it up.

    `start_s` and `end_s` are where the wake word began and ended (seconds, as users see them); the
    span runs from its start to the audio the gate had heard when stage 2 accepted it.
    """

    utterance: int
    start_s: float
    end_s: float
    stage1: float
    stage2: float

    def event(self) -> Event:
        return self.as_event(
            "wake", utterance=self.utterance, start_s=self.start_s, end_s=self.end_s, stage1=self.stage1,
            stage2=self.stage2,
        )  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class GateClosed(Notice):
    """The gate closed `utterance` before it was committed (its length limit, or a failure): the
    decoder finalises it and the end-pointers stop waiting for the decoder."""

    utterance: int
    reason: str

    def event(self) -> Event:
        return self.as_event("gate_closed", utterance=self.utterance, reason=self.reason)


@dataclass(frozen=True, slots=True, kw_only=True)
class EndPoint(Notice):
    """An end-pointer decided that `utterance` ends at audio time `end`: the decoder cuts its lattice there.

    `kind` is "speculative" or "final"; the rest says why, for users and benchmarks: the rule that
    fired, the trailing silence and decoder blank (seconds; blank None without the decoder), and the
    decoder's hypothesis and whether it is a complete request (None without the decoder).
    """

    utterance: int
    kind: str
    reason: str
    trailing_silence_s: float
    trailing_blank_s: float | None = None
    complete: bool | None = None
    text: str | None = None

    @property
    def at_s(self) -> float:
        return round(self.end / SAMPLE_RATE, 3)

    def event(self) -> Event:
        return self.as_event(
            "endpoint", utterance=self.utterance, kind=self.kind, at_s=self.at_s, reason=self.reason,
            trailing_silence_s=self.trailing_silence_s, trailing_blank_s=self.trailing_blank_s,
            complete=self.complete, text=self.text,
        )  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class Confirm(Notice):
    """The final end-point agrees with the speculative one: the sink may commit `revision` of `utterance`
    (it was sent not final). Users see the `result` it leads to, not this."""

    utterance: int
    revision: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Committed(Notice):
    """The sink committed `utterance` (users see its `result` event): the gate closes it."""

    utterance: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Lost(Notice):
    """A failure cost these utterances their result (users see the sink's `error` event): the gate closes
    the one it holds open, so the rest of it is not decoded as a request of its own."""

    utterances: tuple[int, ...]
