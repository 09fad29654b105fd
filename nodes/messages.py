"""Data messages of the speech graph.

Spans are in audio ticks: samples of 16 kHz mono audio (`audio.SAMPLE_RATE`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.messages import Message, UtteranceMessage


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
