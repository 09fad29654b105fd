"""A quiet speaker's level raised into the range the recogniser was trained on.

A gain is a constant added to every log-mel value, and the recogniser was
trained on a limited range of levels: played 20 dB quieter, the dev rows went
from 0.303 to 0.444 WER, 30 dB quieter to 0.732. The tracker measures an
utterance's level as it streams (the 90th percentile of its frames' mean
log-mel: the loud part of speech, whatever the pauses) and, once it has heard
`min_frames`, raises the frames still to come so that a level under the
trained range sits at its lower edge. Other levels are left as they are, so
ordinary input decodes as without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from audio.level import raise_to

TRAINED_LOW = -4.7
"""5th percentile of the train utterances' level (2,000 rows of the speech set's train features; dev's is
the same within 0.1; the median is -1.65)."""


@dataclass(frozen=True)
class LevelConfig:
    """When and how far a quiet level is raised. Chosen on the 700 dev rows (`bench asr --gain-db`, WER at the
    usual level / 20 dB quieter): after 100 frames 0.303 / 0.387; after 30 frames with `min_spread` 2 0.305 /
    0.330, with 3 0.305 / 0.341; after 50 with 2 (shipped) 0.303 / 0.334. Raising levels under the 1st
    percentile (-5.7) to it, or to the 10th (-4.0), did no better; lowering loud levels to the 95th
    percentile made them worse (at +10 dB, 0.319 -> 0.329: noise, not gain, makes most of them loud), so
    louder levels are left alone."""

    low: float = TRAINED_LOW
    """A level under it is raised to it."""
    min_frames: int = 50
    """Frames (10 ms) heard before any correction."""
    quantile: float = 90.0
    """Percentile of the frames' mean log-mel taken as the level (the loud part of speech, whatever the pauses)."""
    min_spread: float = 2.0
    """Raise only once the loud frames stand this far above the quiet ones (90th minus 10th percentile of the
    frames' mean log-mel): leading silence or steady noise alone is not a quiet speaker. Without it, after
    30 frames, leading silence read as a quiet speaker (80 dev rows at the usual level: 0.333 -> 0.406)."""


CORRECTED = LevelConfig()
"""The shipped correction."""


@dataclass
class LevelTracker:
    """One utterance's level so far, and the shift it calls for."""

    config: LevelConfig = field(default_factory=LevelConfig)
    energies: list[np.ndarray] = field(default_factory=list)
    heard: int = 0

    def shift(self, frames: np.ndarray) -> float:
        """The constant to add to raw log-mel frames (n x mels) heard after those taken so far: 0 while too
        few are heard or the level is not under the trained range. Takes nothing in (`take` does)."""
        c = self.config
        if self.heard + len(frames) < c.min_frames:
            return 0.0
        energies = np.concatenate([*self.energies, frames.mean(axis=1)])
        return raise_to(energies, c.low, c.quantile, c.min_spread)

    def take(self, frames: np.ndarray) -> None:
        """Count `frames` as heard."""
        if len(frames):
            self.energies.append(frames.mean(axis=1))
            self.heard += len(frames)
            if len(self.energies) > 32:  # the node takes a frame or two at a time: keep the list short
                self.energies = [np.concatenate(self.energies)]

    def copy(self) -> LevelTracker:
        return LevelTracker(self.config, list(self.energies), self.heard)
