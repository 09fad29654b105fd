"""The wake-word models: stage 1 is causal (streamable), stage 2 reads a fixed window, the recipe resumes."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from corpus import wake
from models.wakeword import PAD, PREROLL_FRAMES, STAGE2_FRAMES, STAGE2_TRAINED_LOW, Stage1, Stage2, level_raised
from training.features import FeatureCache
from training.options import wakeword_arguments
from training.wakeword import speech_negatives, train, window

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"


def test_stage1_is_causal():
    torch.manual_seed(0)
    model = Stage1().eval()
    x = torch.randn(1, 200, 64)
    y = x.clone()
    y[:, 120:] = torch.randn(1, 80, 64)  # change only the future of frame 119
    with torch.no_grad():
        a, _ = model(x)
        b, _ = model(y)
    assert torch.allclose(a[:, :120], b[:, :120], atol=1e-6)
    assert not torch.allclose(a[:, 120:], b[:, 120:])


def test_a_quiet_window_is_raised_to_the_trained_level_and_padding_stays():
    rng = np.random.default_rng(0)
    loudness = rng.uniform(-6.0, 0.0, (100, 1))  # loud and quiet frames, as speech has
    speech = (loudness + rng.normal(0.0, 1.0, (100, 64))).astype(np.float32)
    window = np.full((STAGE2_FRAMES, 64), PAD, np.float32)
    window[50:150] = speech - 6.0  # a speaker about 26 dB quieter than usual
    raised = level_raised(window)
    level = np.percentile(raised[50:150].mean(axis=1), 90)
    assert abs(level - STAGE2_TRAINED_LOW) < 1e-4
    assert np.array_equal(raised[:50], window[:50]) and np.array_equal(raised[150:], window[150:])
    usual = window.copy()
    usual[50:150] = speech
    assert level_raised(usual) is usual  # a level in the trained range is left alone
    hum = np.full((STAGE2_FRAMES, 64), -9.0, np.float32)
    assert level_raised(hum) is hum  # no loud part over a quiet one: no speaker to measure


def test_stage2_window_has_half_a_second_of_preroll():
    frames = np.arange(400, dtype=np.float32)[:, None].repeat(64, 1)
    w = window(frames, start=100)
    assert w.shape == (STAGE2_FRAMES, 64)
    assert w[0, 0] == 100 - PREROLL_FRAMES and w[-1, 0] == 100 - PREROLL_FRAMES + STAGE2_FRAMES - 1
    early = window(frames, start=10)  # before the stream began: padded with digital silence
    assert early[0, 0] == PAD and early[PREROLL_FRAMES - 11, 0] == PAD and early[PREROLL_FRAMES - 10, 0] == 0
    heard = window(frames, start=100, keep=80)  # verified early: the window's future is padded too
    assert heard[79, 0] == 100 - PREROLL_FRAMES + 79 and heard[80, 0] == PAD
    model = Stage2().eval()
    with torch.no_grad():
        assert model(torch.from_numpy(w)[None], torch.tensor([1.0])).shape == (1,)


def test_recipe_runs_and_resumes_on_the_tiny_sets(tiny_wake, tiny_speech, tmp_path):
    p = argparse.ArgumentParser()
    wakeword_arguments(p)
    args = p.parse_args(
        [
            "--corpus",
            str(tiny_wake),
            "--negative-corpus",
            str(tiny_speech),
            "--negative-features",
            str(tmp_path / "speech_features"),
            "--init-dir",
            str(WEIGHTS),
            "--run",
            str(tmp_path / "run"),
            "--features",
            str(tmp_path / "f"),
            "--stage1-steps",
            "3",
            "--stage2-steps",
            "3",
            "--batch",
            "4",
            "--tempo",
            "0.2",
            "--narrowband",
            "0.5",
            "--weights-dir",
            str(tmp_path / "w"),
        ]
    )
    train(args)
    assert (tmp_path / "w" / "wakeword_stage1.pt").exists() and (tmp_path / "w" / "wakeword_stage2.pt").exists()
    args.stage1_steps, args.stage2_steps = 5, 5  # resumes from step 3 of each stage
    train(args)
    assert torch.load(tmp_path / "run" / "stage2.ckpt", weights_only=False)["step"] == 5
    shipped = Stage1.from_checkpoint(torch.load(WEIGHTS / "wakeword_stage1.pt", weights_only=False))
    tuned = Stage1.from_checkpoint(torch.load(tmp_path / "w" / "wakeword_stage1.pt", weights_only=False))
    assert torch.equal(shipped.feat_mean, tuned.feat_mean)  # a warm start keeps the input normalisation
    # the speech heard as negatives leaves out the wake set's held-out engines (RHVoice is its dev engine)
    fc = FeatureCache.build(tiny_speech, "train", tmp_path / "speech_features", jobs=1)
    kept = [i for i, r in enumerate(fc.rows) if r["engine"] not in wake.HELD_OUT_ENGINE.values()]
    assert 0 < len(kept) < len(fc.rows)
    streams = speech_negatives(str(tiny_speech), str(tmp_path / "speech_features"), 1)
    assert sum(len(s) for s in streams) == sum(int(fc.lengths[i]) for i in kept)
