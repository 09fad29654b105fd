"""Acoustic conditions, reproducible from a seed: noise, reverberation, gain, clipping,
and a device that is playing audio under the request.

Every function takes a numpy Generator, so one seed per utterance rebuilds it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.signal import fftconvolve

from audio import SAMPLE_RATE

NOISE_KINDS = ("white", "pink", "brown", "babble", "music")


def colored_noise(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Noise with a 1/f**exponent power spectrum (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.normal(size=n))
    f = np.fft.rfftfreq(n)
    f[0] = f[1] if n > 1 else 1.0
    spectrum /= f ** (exponent / 2)
    x = np.fft.irfft(spectrum, n)
    return (x / (np.abs(x).max() + 1e-9)).astype(np.float32)


def music(rng: np.random.Generator, n: int) -> np.ndarray:
    """Music-like audio: a random melody of harmonic notes with a beat."""
    out = np.zeros(n, np.float32)
    note_len = int(SAMPLE_RATE * rng.uniform(0.15, 0.45))
    base = rng.uniform(110, 330)
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12])
    t = np.arange(note_len) / SAMPLE_RATE
    envelope = np.exp(-t * rng.uniform(3, 8)).astype(np.float32)
    for start in range(0, n, note_len):
        freq = base * 2 ** (rng.choice(scale) / 12)
        note = sum(np.sin(2 * np.pi * freq * k * t) / k for k in (1, 2, 3, 4))
        seg = (note * envelope)[: n - start]
        out[start : start + len(seg)] += seg.astype(np.float32)
    beat = colored_noise(rng, n, 0.0) * np.tile(np.exp(-np.arange(note_len) / 200.0), n // note_len + 1)[:n]
    out += 0.3 * beat.astype(np.float32)
    return out / (np.abs(out).max() + 1e-9)


def babble(rng: np.random.Generator, n: int, speech_pool: list[np.ndarray]) -> np.ndarray:
    """Several other talkers at once, from a pool of synthetic speech."""
    if not speech_pool:
        return colored_noise(rng, n, 1.0)
    out = np.zeros(n, np.float32)
    for _ in range(int(rng.integers(3, 7))):
        clip = speech_pool[int(rng.integers(len(speech_pool)))]
        reps = int(np.ceil(n / max(1, len(clip)))) + 1
        long = np.tile(clip, reps)
        offset = int(rng.integers(0, max(1, len(long) - n)))
        out += long[offset : offset + n]
    return out / (np.abs(out).max() + 1e-9)


def noise(kind: str, rng: np.random.Generator, n: int, speech_pool: list[np.ndarray]) -> np.ndarray:
    if kind == "white":
        return colored_noise(rng, n, 0.0)
    if kind == "pink":
        return colored_noise(rng, n, 1.0)
    if kind == "brown":
        return colored_noise(rng, n, 2.0)
    if kind == "babble":
        return babble(rng, n, speech_pool)
    if kind == "music":
        return music(rng, n)
    raise ValueError(f"unknown noise kind {kind!r}")


def mix_at_snr(signal: np.ndarray, interference: np.ndarray, snr_db: float, active: slice | None = None) -> np.ndarray:
    """Add `interference` scaled so that speech (in `active`) is `snr_db` above it."""
    ref = signal[active] if active is not None else signal
    p_sig = float(np.mean(ref**2)) + 1e-12
    p_int = float(np.mean(interference**2)) + 1e-12
    return signal + interference * np.sqrt(p_sig / (p_int * 10 ** (snr_db / 10)))


def room_impulse_response(rng: np.random.Generator, rt60_s: float) -> np.ndarray:
    """A synthetic room: a direct path, early reflections, then an exponentially decaying tail."""
    n = int(SAMPLE_RATE * rt60_s)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.normal(size=n) * np.exp(-6.9 * t / rt60_s)  # -60 dB at rt60
    tail[: int(0.002 * SAMPLE_RATE)] = 0
    rir = 0.3 * tail / (np.abs(tail).max() + 1e-9)
    for _ in range(6):
        rir[int(rng.integers(int(0.002 * SAMPLE_RATE), int(0.03 * SAMPLE_RATE)))] += rng.uniform(0.2, 0.6)
    rir[0] = 1.0
    return (rir / np.sqrt(np.sum(rir**2))).astype(np.float32)


@dataclass
class Condition:
    """What was done to an utterance; goes into the manifest as is."""

    noise: str = "none"
    snr_db: float | None = None
    reverb_rt60_s: float | None = None
    gain_db: float = 0.0
    clipped: bool = False
    device_playing: str = "none"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """A short name for grouping results: clean, noisy, reverb, device, clipped."""
        if self.device_playing != "none":
            return "device_playing"
        if self.clipped:
            return "clipped"
        if self.noise != "none":
            return f"noise_{'low' if (self.snr_db or 0) < 15 else 'high'}_snr"
        if self.reverb_rt60_s:
            return "reverb"
        return "clean"

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "noise": self.noise,
            "snr_db": self.snr_db,
            "reverb_rt60_s": self.reverb_rt60_s,
            "gain_db": self.gain_db,
            "clipped": self.clipped,
            "device_playing": self.device_playing,
        }


def random_condition(rng: np.random.Generator, *, clean_share: float = 0.3) -> Condition:
    c = Condition()
    if rng.random() < clean_share:
        return c
    if rng.random() < 0.12:
        c.device_playing = str(rng.choice(["music", "speech"]))
        c.snr_db = round(float(rng.uniform(-5, 5)), 1)
    elif rng.random() < 0.75:
        c.noise = str(rng.choice(NOISE_KINDS))
        c.snr_db = round(float(rng.uniform(0, 30)), 1)
    if rng.random() < 0.35:
        c.reverb_rt60_s = round(float(rng.uniform(0.15, 0.8)), 2)
    c.gain_db = round(float(rng.uniform(-18, 6)), 1)
    c.clipped = bool(rng.random() < 0.05)
    return c


def apply(
    x: np.ndarray, c: Condition, rng: np.random.Generator, speech: slice, speech_pool: list[np.ndarray]
) -> np.ndarray:
    """Render condition `c` on clean speech `x` (speech in `speech`): float32 in [-1, 1]."""
    y = x.astype(np.float32)
    if c.reverb_rt60_s:
        y = fftconvolve(y, room_impulse_response(rng, c.reverb_rt60_s))[: len(y)].astype(np.float32)
    if c.device_playing != "none":
        kind = "music" if c.device_playing == "music" else "babble"
        y = mix_at_snr(
            y, noise(kind, rng, len(y), speech_pool[:1] if kind == "babble" else []), c.snr_db or 0.0, speech
        )
    elif c.noise != "none":
        y = mix_at_snr(y, noise(c.noise, rng, len(y), speech_pool), c.snr_db or 20.0, speech)
    peak = float(np.abs(y).max()) + 1e-9
    y = y / peak * 0.7 * 10 ** (c.gain_db / 20)
    if c.clipped:
        y = y * 4.0
    return np.clip(y, -1.0, 1.0).astype(np.float32)
