"""Speaker and channel perturbation on log-mel frames, so a few synthetic voices stand for many.

Both act on the features, not the audio, so a cached corpus gets a new speaker and channel at every
epoch for free: `vtlp` stretches the mel axis (a longer or shorter vocal tract), `tilt` adds a
linear slope across the bands (a brighter or duller microphone, loudspeaker or voice), `colour`
adds a smooth random frequency response (a slope and a few broad peaks and dips: the room, the
loudspeaker and the synthesiser's own timbre), `quieter` moves a speaker further from the microphone,
`narrowband` sends the audio through a narrower channel (a telephone, audio recorded at 8 kHz).
"""

from __future__ import annotations

import numpy as np
import torch

from audio.logmel import DEFAULT, band_limited, played_at


def vtlp(x: torch.Tensor, rng: np.random.Generator, spread: float) -> torch.Tensor:
    """Vocal-tract length perturbation of frames (..., F): the mel axis stretched by a random factor
    in 1±spread, so one synthetic speaker sounds like speakers with longer or shorter vocal tracts."""
    if spread <= 0:
        return x
    F = x.shape[-1]
    src = torch.clamp(torch.arange(F, dtype=torch.float32) / float(rng.uniform(1 - spread, 1 + spread)), 0, F - 1)
    lo = src.floor().long()
    hi = torch.clamp(lo + 1, max=F - 1)
    w = src - lo
    return x[..., lo] * (1 - w) + x[..., hi] * w


def tilt(x: torch.Tensor, rng: np.random.Generator, spread: float) -> torch.Tensor:
    """A spectral tilt of frames (..., F): log energy raised at one end of the mel axis and lowered at the
    other, by a random slope of at most `spread` (natural log units from the lowest band to the highest).
    Flat frames (digital silence, padding) stay as they are: no channel colours them."""
    if spread <= 0:
        return x
    F = x.shape[-1]
    ramp = float(rng.uniform(-spread, spread)) * (torch.arange(F, dtype=x.dtype) / (F - 1) - 0.5)
    return x + ramp * _sounding(x)


def colour(x: torch.Tensor, rng: np.random.Generator, spread: float, bumps: int = 3) -> torch.Tensor:
    """A smooth random frequency response on frames (..., F): a tilt of at most `spread` plus `bumps` cosines
    across the mel axis, each of amplitude at most `spread` / 2 (natural log units). Another engine or
    speaker differs from the trained ones less in its words than in its timbre; this gives each utterance
    a new one. Flat frames (digital silence, padding) stay as they are."""
    if spread <= 0:
        return x
    axis = torch.arange(x.shape[-1], dtype=x.dtype) / (x.shape[-1] - 1)
    x = tilt(x, rng, spread)
    curve = sum(
        float(rng.uniform(-spread, spread)) / 2 * torch.cos(torch.pi * (k * axis + float(rng.random())))
        for k in range(1, bumps + 1)
    )
    return x + curve * _sounding(x)


def _sounding(x: torch.Tensor) -> torch.Tensor:
    """1 for frames (..., F) with any spectral shape, 0 for flat ones (digital silence, padding)."""
    return x.amax(-1, keepdim=True) > x.amin(-1, keepdim=True)


def quieter(x: torch.Tensor, rng: np.random.Generator, max_db: float, share: float = 0.5) -> torch.Tensor:
    """Frames (..., F) played up to `max_db` quieter (uniformly), with probability `share`: every log-mel
    value moves down by the same amount, none below the features' floor, and digital silence and padding
    (at the floor) stay as they are. The corpus's own gains span 24 dB; a speaker across the room is
    quieter still."""
    if max_db <= 0 or rng.random() >= share:
        return x
    return torch.from_numpy(played_at(x.numpy(), -float(rng.uniform(0, max_db))))


def stretch(x: np.ndarray, rate: float) -> np.ndarray:
    """Frames (T, F) spoken `rate` times as fast: the time axis resampled by linear interpolation to
    round(T / rate) frames, so frame t of the result is frame t * rate of the input. Speakers differ in
    tempo far more than the corpus's 0.9-1.1 speeds; this gives every cached utterance a new one."""
    T = len(x)
    if T < 2 or rate == 1.0:
        return x
    n = max(1, round(T / rate))
    src = np.minimum(np.arange(n, dtype=np.float64) * rate, T - 1)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, T - 1)
    w = (src - lo)[:, None].astype(np.float32)
    return (x[lo] * (1 - w) + x[hi] * w).astype(np.float32)


NARROWEST_HZ = 3300.0
"""The lowest upper edge `narrowband` draws: a telephone's 3.4 kHz, a little under."""


def narrowband(x: torch.Tensor, rng: np.random.Generator, share: float) -> torch.Tensor:
    """Frames (..., F) as if heard through a channel narrower than the features' 20-7600 Hz, with probability
    `share`: the upper edge uniform from 3.3 to 7.6 kHz (audio recorded at 8 kHz and upsampled holds nothing
    above 4 kHz, a telephone nothing above 3.4 kHz), the lower edge, half the time, uniform in 50-400 Hz
    (`audio.logmel.band_limited`). Without it, audio through a telephone's band came out as nothing."""
    if share <= 0 or rng.random() >= share:
        return x
    high = float(rng.uniform(NARROWEST_HZ, DEFAULT.fmax))
    low = float(rng.uniform(50.0, 400.0)) if rng.random() < 0.5 else 0.0
    return torch.from_numpy(band_limited(x.numpy(), low, high))
