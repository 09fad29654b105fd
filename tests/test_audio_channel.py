"""A narrower channel, on samples and on log-mel bands, agree: the benchmarks hear a telephone either way."""

from __future__ import annotations

import numpy as np

from audio.logmel import DEFAULT, LogMel, band_gains, band_limited, band_passed, hz_to_mel, mel_to_hz


def test_band_limited_features_match_the_features_of_band_passed_audio():
    x = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)  # a flat spectrum
    mel = LogMel()
    heard, emulated = mel.frames(band_passed(x, 300, 3400)), band_limited(mel.frames(x), 300, 3400)
    edges = mel_to_hz(np.linspace(hz_to_mel(DEFAULT.fmin), hz_to_mel(DEFAULT.fmax), DEFAULT.n_mels + 2))
    inside = (edges[:-2] >= 300) & (edges[2:] <= 3400)
    outside = (edges[2:] < 300) | (edges[:-2] > 3400)
    assert inside.sum() > 30 and outside.sum() > 20
    assert np.abs(heard[:, inside] - emulated[:, inside]).mean() < 0.05
    full = mel.frames(x)
    for quieter in (full - heard, full - emulated):  # bands outside the channel lose most of their energy
        assert np.median(quieter[:, outside], axis=0).min() > 3 and quieter[:, outside].mean() > 10
    assert np.allclose(band_gains(0, 8000), 1.0)  # the whole band: nothing changes
    assert np.allclose(band_limited(full, 0, 8000), full)
