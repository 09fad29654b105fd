"""Log-mel features: equal to an independent reference, and the same for any chunking."""

from __future__ import annotations

import itertools

import librosa
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audio import SAMPLE_RATE
from audio.logmel import LogMel, LogMelConfig
from nodes.features import LogMelFeatures
from nodes.messages import AudioChunk, FeatureFrames
from pipeline.testing import run_node
from tests.batching import batched, deliveries, demo_audio, one_by_one

TOLERANCE = 1e-3
"""Max absolute difference in log energy against librosa (float32 output, float64 maths)."""


def speechlike(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    voiced = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((150, 300, 450, 1200, 2500), 1))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (0.2 * voiced * envelope + 0.01 * rng.normal(size=t.size)).astype(np.float32)


def reference(x: np.ndarray, c: LogMelConfig) -> np.ndarray:
    # librosa centres a short window inside the n_fft frame; pad so its frame i covers our [160 i, 160 i + 400).
    pad = (c.n_fft - c.win) // 2
    mel = librosa.feature.melspectrogram(
        y=np.pad(x.astype(np.float64), pad),
        sr=SAMPLE_RATE,
        n_fft=c.n_fft,
        hop_length=c.hop,
        win_length=c.win,
        window="hann",
        center=False,
        power=2.0,
        n_mels=c.n_mels,
        fmin=c.fmin,
        fmax=c.fmax,
        htk=True,
        norm=None,
    )
    return np.log(np.maximum(mel, 1e-10)).T


@pytest.mark.parametrize("n_mels", [40, 64, 80])
def test_matches_librosa(n_mels):
    c = LogMelConfig(n_mels=n_mels)
    x = speechlike()
    ours = LogMel(c).frames(x)
    ref = reference(x, c)
    assert ours.shape == ref.shape == (1 + (len(x) - 400) // 160, n_mels)
    assert np.abs(ours - ref).max() < TOLERANCE


def stream(x: np.ndarray, cuts: list[int], **options) -> tuple[np.ndarray, list[FeatureFrames]]:
    """The node's frames for `x` cut at `cuts`, through the node host, and the messages that held them."""
    edges = [0, *sorted(set(cuts)), len(x)]
    chunks = [AudioChunk(stream="s", start=a, end=b, samples=x[a:b]) for a, b in itertools.pairwise(edges) if b > a]
    out = [m for m in run_node(LogMelFeatures, chunks, **options) if isinstance(m, FeatureFrames)]
    frames = np.concatenate([m.frames for m in out]) if out else np.zeros((0, 64), np.float32)
    return frames, out


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=8000 - 1), max_size=40))
def test_streaming_equals_whole_signal_for_any_chunking(cuts):
    x = speechlike(0.5, seed=1)
    whole = LogMel().frames(x)
    frames, msgs = stream(x, cuts)
    np.testing.assert_array_equal(frames, whole)
    assert [m.first_frame for m in msgs] == list(np.cumsum([0] + [len(m.frames) for m in msgs[:-1]]))
    for m in msgs:  # a message spans from its first frame's first sample to its last frame's last
        assert m.start == m.first_frame * 160
        assert m.end == (m.first_frame + len(m.frames) - 1) * 160 + 400


@pytest.mark.parametrize("chunk", [160, 640, 2560, 37])
def test_fixed_chunk_sizes(chunk):
    x = speechlike(0.7, seed=2)
    frames, _ = stream(x, list(range(chunk, len(x), chunk)))
    np.testing.assert_array_equal(frames, LogMel().frames(x))


def test_silence_is_floored_not_minus_infinity():
    frames = LogMel().frames(np.zeros(1600, np.float32))
    assert np.isfinite(frames).all() and np.allclose(frames, np.log(1e-10))


def test_options_are_checked():
    with pytest.raises(ValueError, match="longer than n_fft"):
        LogMelFeatures(win_ms=40.0, n_fft=256)
    with pytest.raises(TypeError):
        LogMelFeatures(bands=3)


def test_streams_batched_give_the_frames_of_each_stream_alone():
    """The demo recordings as concurrent streams, in ragged chunks: batched across streams (one FFT for
    all), the same messages and frames as each stream alone."""
    signals = demo_audio()
    batches = deliveries(signals, [160, 320, 100, 1000, 160][: len(signals)])
    node = LogMelFeatures()
    together, alone = batched(node, batches), one_by_one(node, batches)
    assert together.keys() == alone.keys() and len(together) == len(signals)
    assert max(len(b) for b in batches) > 1
    for stream, msgs in alone.items():
        got = together[stream]
        assert [(type(m), m.start, m.end, m.first_frame) for m in got] == [
            (type(m), m.start, m.end, m.first_frame) for m in msgs
        ]
        for a, b in zip(got, msgs, strict=True):
            assert np.allclose(a.frames, b.frames, atol=1e-5, rtol=0)
