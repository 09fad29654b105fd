"""The one sample rate, and conversions between audio ticks and seconds."""

from __future__ import annotations

SAMPLE_RATE = 16_000
"""Every node works on 16 kHz mono audio; one audio-time tick is one sample."""


def seconds(ticks: int) -> float:
    """Audio time of a tick, in seconds."""
    return ticks / SAMPLE_RATE


def ticks(seconds: float) -> int:
    """The tick nearest to an audio time in seconds."""
    return round(seconds * SAMPLE_RATE)
