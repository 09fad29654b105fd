"""The ASR recipe runs on the tiny corpus, checkpoints, and resumes where it stopped."""

from __future__ import annotations

import argparse

import torch

from models.rnnt import RNNT, greedy_decode
from training.asr import train
from training.average import main as average_main
from training.features import FeatureCache
from training.options import asr_arguments


def options(tiny, tmp_path, epochs: int) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    asr_arguments(p)
    return p.parse_args(
        [
            "--corpus",
            str(tiny),
            "--run",
            str(tmp_path / "run"),
            "--epochs",
            str(epochs),
            "--max-frames",
            "2500",
            "--weights",
            str(tmp_path / "w.pt"),
            "--dev-limit",
            "2",
            "--checkpoint-every",
            "1",
        ]
    )


def test_training_resumes_and_writes_weights(tiny, tmp_path):
    first = train(options(tiny, tmp_path, epochs=1))
    assert first["epoch"] == 1 and (tmp_path / "run" / "checkpoint.pt").exists()
    second = train(options(tiny, tmp_path, epochs=2))  # continues: one more epoch, not two
    assert second["epoch"] == 2 and second["step"] > first["step"]
    assert [h["epoch"] for h in second["history"]] == [0, 1]
    model = RNNT.from_checkpoint(torch.load(tmp_path / "w.pt", weights_only=False))
    cache = FeatureCache.build(tiny, "dev", tmp_path / "run" / "features")
    x = model.normalise(torch.from_numpy(cache.utterance(0).astype("float32"))[None])
    assert isinstance(greedy_decode(model, x)[0], list)

    # every epoch's weights stay in the run folder, and their average is a model like any other
    epochs = [tmp_path / "run" / f"epoch{e}.pt" for e in (0, 1)]
    average_main([*map(str, epochs), "--out", str(tmp_path / "avg.pt")])
    a, b = (torch.load(p, weights_only=False)["state"] for p in epochs)
    avg = RNNT.from_checkpoint(torch.load(tmp_path / "avg.pt", weights_only=False))
    name = "joint.out.weight"
    assert not torch.equal(a[name], b[name])
    assert torch.allclose(avg.state_dict()[name], (a[name].float() + b[name].float()) / 2, atol=1e-3)
