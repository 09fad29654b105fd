"""Data messages of the speech graph."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.messages import Message, UtteranceMessage

SAMPLE_RATE = 16_000
"""Every node works on 16 kHz mono audio; one audio-time tick is one sample."""


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
