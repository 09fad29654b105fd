"""The recipes' shared loop resumes mid-epoch where a session stopped, to the same weights."""

from __future__ import annotations

import time

import pytest
import torch

from training.run import Checkpoint, EpochLoop

PLAN = [torch.full((2, 3), float(k)) for k in range(7)]


def fit(path, stop_after: int | None = None, epochs: int = 2) -> tuple[torch.nn.Linear, EpochLoop]:
    """Train a linear layer on PLAN for `epochs`; with `stop_after`, the time budget runs out after that
    many batches of this session (as `--max-minutes` would)."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loop = EpochLoop(Checkpoint(path, model, opt), epochs=epochs, checkpoint_every=2, extra={"plan": len(PLAN)})
    loop.resume()
    seen = 0
    for epoch in loop.each_epoch():
        for x in loop.batches(PLAN, f"epoch {epoch}"):
            loss = (model(x) - 1.0).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += 1
            if seen == stop_after:
                loop.deadline = time.monotonic()
        if loop.epoch_finished:
            loop.end_epoch({"loss": loss.item()})
    return model, loop


def test_a_run_stopped_mid_epoch_resumes_to_the_same_weights(tmp_path):
    whole, whole_loop = fit(tmp_path / "whole.pt")
    fit(tmp_path / "parts.pt", stop_after=3)
    _, stopped = fit(tmp_path / "parts.pt", stop_after=6)  # into the second epoch
    assert (stopped.state["epoch"], stopped.state["batch_in_epoch"]) == (1, 2)
    parts, loop = fit(tmp_path / "parts.pt")
    assert loop.step == whole_loop.step == 2 * len(PLAN)
    assert [h["epoch"] for h in loop.history] == [0, 1]
    for a, b in zip(whole.parameters(), parts.parameters(), strict=True):
        assert torch.allclose(a, b)


def test_a_checkpoint_of_other_options_is_refused(tmp_path):
    fit(tmp_path / "run.pt", stop_after=1)
    model = torch.nn.Linear(3, 1)
    loop = EpochLoop(
        Checkpoint(tmp_path / "run.pt", model, torch.optim.SGD(model.parameters(), lr=0.1)),
        epochs=1,
        checkpoint_every=1,
        extra={"plan": 99},
    )
    with pytest.raises(RuntimeError, match="another plan"):
        loop.resume()


def test_a_run_goes_on_after_an_epoch_kept_from_another_machine(tmp_path):
    _, first = fit(tmp_path / "first.pt", epochs=1)
    model = torch.nn.Linear(3, 1)
    loop = EpochLoop(
        Checkpoint(tmp_path / "new.pt", model, torch.optim.SGD(model.parameters(), lr=0.1)),
        epochs=3,
        checkpoint_every=100,
    )
    assert not loop.resume()
    loop.continue_after(0, first.step, first.history)
    epochs = []
    for epoch in loop.each_epoch():
        epochs.append(epoch)
        assert loop.steps_since_warm_start == (epoch - 1) * len(PLAN)  # the new optimiser warms up again
        for _ in loop.batches(PLAN, f"epoch {epoch}"):
            pass
        loop.end_epoch({})
    assert epochs == [1, 2]
    assert loop.step == 3 * len(PLAN)
    assert [h["epoch"] for h in loop.history] == [0, 1, 2]
    _, resumed = fit(tmp_path / "new.pt", epochs=3)  # its own checkpoint carries where the warm-up began
    assert resumed.steps_since_warm_start == 2 * len(PLAN)
