"""Log-mel filterbank energies (LFBE): the features every model reads.

Frames are not centred: frame i uses samples [i*hop, i*hop + window), so the
frames of a stream do not depend on how its audio was cut into chunks, and a
frame is ready as soon as its last sample has arrived. `frame_start` and
`frame_end` give those ticks for the shipped configuration, so every node and
benchmark maps frames to audio time the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from audio.clock import SAMPLE_RATE

LOG_FLOOR = 1e-10
"""Power floor before the log: silence reads as log(LOG_FLOOR), never as -inf."""


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, fmin: float, fmax: float) -> np.ndarray:
    """Triangular filters on the HTK mel scale, shape (n_fft // 2 + 1, n_mels)."""
    bins_hz = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins_hz - lower) / (centre - lower)
    falling = (upper - bins_hz) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).T


@dataclass(frozen=True)
class LogMelConfig:
    """The features every model was trained on: the features node and the training recipes share it, so
    changing a value means retraining the models."""

    n_mels: int = 64
    """Mel bands per frame."""
    win_ms: float = 25.0
    """Analysis window (Hann)."""
    hop_ms: float = 10.0
    """Frame step: 100 frames a second."""
    n_fft: int = 512
    """FFT size (at least the window's samples)."""
    fmin: float = 20.0
    """Lowest edge of the mel filterbank (Hz)."""
    fmax: float = 7600.0
    """Highest edge, just under the 8 kHz Nyquist frequency of 16 kHz audio (Hz)."""

    @cached_property  # read for every chunk of every stream
    def win(self) -> int:
        return round(SAMPLE_RATE * self.win_ms / 1000)

    @cached_property
    def hop(self) -> int:
        return round(SAMPLE_RATE * self.hop_ms / 1000)


class LogMel:
    """The computation itself, shared by the node and by training code."""

    def __init__(self, config: LogMelConfig | None = None) -> None:
        self.config = c = config or LogMelConfig()
        if c.win > c.n_fft:
            raise ValueError(f"window ({c.win} samples) is longer than n_fft ({c.n_fft})")
        self.window = np.hanning(c.win + 1)[:-1]  # periodic Hann
        self._index: dict[int, np.ndarray] = {}  # frame count -> sample index of each frame's window
        self.filters = mel_filterbank(c.n_mels, c.n_fft, SAMPLE_RATE, c.fmin, c.fmax)

    def n_frames(self, n_samples: int) -> int:
        c = self.config
        return 0 if n_samples < c.win else (n_samples - c.win) // c.hop + 1

    def frames(self, samples: np.ndarray) -> np.ndarray:
        """Log-mel frames of a whole signal: shape (n_frames, n_mels), float32."""
        c = self.config
        n = self.n_frames(len(samples))
        if n == 0:
            return np.zeros((0, c.n_mels), np.float32)
        return self._logmel(self._windows(samples, n))

    def frames_many(self, signals: list[np.ndarray]) -> list[np.ndarray]:
        """`frames` of several signals, through one FFT and one filterbank product (many streams at once)."""
        counts = [self.n_frames(len(x)) for x in signals]
        parts = [self._windows(x, n) for x, n in zip(signals, counts, strict=True) if n]
        if not parts:
            return [np.zeros((0, self.config.n_mels), np.float32) for _ in signals]
        out = self._logmel(np.concatenate(parts) if len(parts) > 1 else parts[0])
        return np.split(out, np.cumsum(counts)[:-1])

    def _windows(self, samples: np.ndarray, n: int) -> np.ndarray:
        c = self.config
        idx = self._index.get(n)
        if idx is None:  # a stream's chunks complete the same few frame counts: one index array each
            idx = self._index[n] = np.arange(c.win)[None, :] + c.hop * np.arange(n)[:, None]
        return np.asarray(samples, dtype=np.float64)[idx] * self.window

    def _logmel(self, windowed: np.ndarray) -> np.ndarray:
        spectrum = np.fft.rfft(windowed, n=self.config.n_fft)
        power = spectrum.real**2 + spectrum.imag**2
        return np.log(np.maximum(power @ self.filters, LOG_FLOOR)).astype(np.float32)


DEFAULT = LogMelConfig()
"""The configuration of the shipped models (10 ms hop, 25 ms window)."""


def frame_start(frame: int, config: LogMelConfig = DEFAULT) -> int:
    """The first tick log-mel frame `frame` reads."""
    return frame * config.hop


def frame_end(frame: int, config: LogMelConfig = DEFAULT) -> int:
    """The tick after the last sample log-mel frame `frame` reads: when it can be computed."""
    return frame * config.hop + config.win


GAIN_PER_DB = math.log(10) / 10
"""What 1 dB of gain adds to a log-mel (natural log of power) value."""


def played_at(frames: np.ndarray, gain_db: float) -> np.ndarray:
    """Log-mel frames as if the audio were played `gain_db` louder: every value moves by the same amount,
    but none below the features' floor, and digital silence (at the floor) stays silent. Clipping is not
    modelled."""
    if not gain_db:
        return frames
    floor = math.log(LOG_FLOOR)
    return np.where(frames <= floor + 1e-3, frames, np.maximum(frames + gain_db * GAIN_PER_DB, floor))


@lru_cache(maxsize=4)
def _filterbank(config: LogMelConfig) -> np.ndarray:
    """`mel_filterbank` of a configuration, built once (training narrows a channel for many utterances)."""
    return mel_filterbank(config.n_mels, config.n_fft, SAMPLE_RATE, config.fmin, config.fmax)


def band_gains(low_hz: float, high_hz: float, config: LogMelConfig = DEFAULT) -> np.ndarray:
    """Each mel band's share of its filter inside [low_hz, high_hz]: what a channel that passes only that band
    (a telephone's 300-3400 Hz) leaves of a spectrum flat across the band."""
    filters = _filterbank(config)
    bins_hz = np.linspace(0.0, SAMPLE_RATE / 2, config.n_fft // 2 + 1)
    passed = ((bins_hz >= low_hz) & (bins_hz <= high_hz)).astype(np.float64)
    return (passed @ filters) / np.maximum(filters.sum(axis=0), 1e-12)


def band_limited(frames: np.ndarray, low_hz: float, high_hz: float, config: LogMelConfig = DEFAULT) -> np.ndarray:
    """Log-mel frames as if the audio had passed a channel of [low_hz, high_hz] (`band_gains`): bands outside
    fall to the floor, bands across an edge lose their share outside it."""
    floor = math.log(LOG_FLOOR)
    with np.errstate(divide="ignore"):
        shift = np.log(band_gains(low_hz, high_hz, config)).astype(np.float32)
    return np.maximum(frames + shift, floor).astype(np.float32)


def band_passed(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Samples through an ideal channel of [low, high] Hz (what `band_limited` does to log-mel bands)."""
    spectrum = np.fft.rfft(x)
    hz = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
    spectrum[(hz < low) | (hz > high)] = 0
    return np.fft.irfft(spectrum, n=len(x)).astype(np.float32)
