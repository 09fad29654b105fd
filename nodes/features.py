"""Log-mel filterbank energies (LFBE), computed chunk by chunk.

Frames are not centred: frame i uses samples [i*hop, i*hop + window), so the
frames of a stream do not depend on how its audio was cut into chunks, and a
frame is ready as soon as its last sample has arrived.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from nodes.messages import SAMPLE_RATE, AudioChunk, FeatureFrames
from pipeline import Message, Node

LOG_FLOOR = 1e-10


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
    n_mels: int = 64
    win_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int = 512
    fmin: float = 20.0
    fmax: float = 7600.0

    @property
    def win(self) -> int:
        return round(SAMPLE_RATE * self.win_ms / 1000)

    @property
    def hop(self) -> int:
        return round(SAMPLE_RATE * self.hop_ms / 1000)


class LogMel:
    """The computation itself, shared by the node and by training code."""

    def __init__(self, config: LogMelConfig | None = None) -> None:
        self.config = c = config or LogMelConfig()
        if c.win > c.n_fft:
            raise ValueError(f"window ({c.win} samples) is longer than n_fft ({c.n_fft})")
        self.window = np.hanning(c.win + 1)[:-1]  # periodic Hann
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
        x = np.asarray(samples, dtype=np.float64)
        idx = np.arange(c.win)[None, :] + c.hop * np.arange(n)[:, None]
        spectrum = np.fft.rfft(x[idx] * self.window, n=c.n_fft)
        power = spectrum.real**2 + spectrum.imag**2
        return np.log(np.maximum(power @ self.filters, LOG_FLOOR)).astype(np.float32)


@dataclass
class _StreamBuffer:
    tail: np.ndarray
    next_frame: int = 0


class LogMelFeatures(Node):
    """AudioChunk in, FeatureFrames out (one message per chunk that completes a frame)."""

    def __init__(self, **options: float) -> None:
        super().__init__()
        self.logmel = LogMel(LogMelConfig(**options))

    def new_state(self, stream: str) -> _StreamBuffer:
        return _StreamBuffer(tail=np.zeros(0, np.float32))

    def on_message(self, msg: Message, state: _StreamBuffer) -> Iterable[Message]:
        if not isinstance(msg, AudioChunk):
            return ()
        c = self.logmel.config
        buf = np.concatenate([state.tail, msg.samples]) if state.tail.size else msg.samples
        frames = self.logmel.frames(buf)
        n = len(frames)
        state.tail = buf[n * c.hop :].copy() if n else buf.copy()
        if n == 0:
            return ()
        first = state.next_frame
        state.next_frame += n
        start = first * c.hop
        return (
            FeatureFrames(
                stream=msg.stream, start=start, end=(first + n - 1) * c.hop + c.win, frames=frames, first_frame=first
            ),
        )
