"""How far a quiet speaker's log-mel frames are raised into the range a model was trained on.

A gain adds one constant to every log-mel value (natural log of power), and a model knows only the
levels of its training set. The level of some frames is the `quantile`th percentile of their mean
log-mel (the loud part of speech, whatever the pauses); a level under a model's trained range is
raised to its lower edge, other levels are left as they are. Frames whose loud part stands less than
`min_spread` above their quiet part (silence, a steady hum) hold no speaker to measure.
"""

from __future__ import annotations

import numpy as np


def raise_to(energies: np.ndarray, low: float, quantile: float = 90.0, min_spread: float = 2.0) -> float:
    """The constant to add to frames whose mean log-mels are `energies` so that their level is at least
    `low` (0: already there, or no speaker heard)."""
    quiet, level = percentiles(energies, (100 - quantile, quantile))
    if level - quiet < min_spread:
        return 0.0
    return max(0.0, low - float(level))


def percentiles(values: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """`np.percentile(values, qs)` (its default, linear method) by one partial sort: the decoder asks at
    every encoder step of every stream, and numpy's general path costs five times as much."""
    n = len(values)
    if n == 0:
        raise ValueError("percentiles of no values")
    positions = [q / 100 * (n - 1) for q in qs]
    below = [int(p) for p in positions]
    part = np.partition(values, sorted({i for b in below for i in (b, min(b + 1, n - 1))}))
    out = []
    for p, b in zip(positions, below, strict=True):
        lo, hi, t = float(part[b]), float(part[min(b + 1, n - 1)]), p - b
        out.append(lo + (hi - lo) * t if t < 0.5 else hi - (hi - lo) * (1 - t))  # numpy's lerp, as it rounds
    return out
