"""What every recipe shares: threads, the run folder and its log, an atomic checkpoint, and the loop
over epochs that resumes mid-epoch where the last session stopped."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch
from tqdm import tqdm

log = logging.getLogger(__name__)

T = TypeVar("T")


def start_run(run_dir: str | Path, threads: int) -> Path:
    torch.set_num_threads(threads)
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        force=True,
        format="%(asctime)s %(message)s",
        handlers=[logging.FileHandler(run / "train.log")],
    )
    return run


class Checkpoint:
    """A model and its optimiser in one file, with whatever else resuming needs: written to a temporary
    file and renamed, so a session killed while saving keeps the previous checkpoint."""

    def __init__(self, path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.path = Path(path)
        self.model = model
        self.optimizer = optimizer

    def exists(self) -> bool:
        return self.path.exists()

    def load(self, expect: dict[str, Any] | None = None) -> dict[str, Any]:
        """Restore the model, the optimiser and the torch RNG (if saved); return the whole checkpoint.

        Each `expect` entry saved in the checkpoint must be equal to the one given (a vocabulary, ...).
        """
        ckpt = torch.load(self.path, weights_only=False, map_location="cpu")
        for key, value in (expect or {}).items():
            if key in ckpt and ckpt[key] != value:
                raise RuntimeError(
                    f"{self.path} was trained with another {key} (options changed?): remove it to start over"
                )
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if "torch_rng" in ckpt:
            torch.set_rng_state(ckpt["torch_rng"])
        return ckpt

    def save(self, **extra: Any) -> None:
        tmp = self.path.with_suffix(".tmp")
        torch.save(
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "torch_rng": torch.get_rng_state(),
                **extra,
            },
            tmp,
        )
        tmp.replace(self.path)


class EpochLoop:
    """Epochs of batches under a time budget, checkpointed every `checkpoint_every` steps and at each
    epoch's end, resumable at the batch it stopped at.

    `state` (step, epoch, batch in epoch, history) is what the checkpoint carries; `extra` (a vocabulary,
    ...) is saved beside it and must match when resuming.
    """

    def __init__(
        self,
        checkpoint: Checkpoint,
        *,
        epochs: int,
        checkpoint_every: int,
        max_minutes: float = 0.0,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.checkpoint = checkpoint
        self.epochs = epochs
        self.checkpoint_every = checkpoint_every
        self.deadline = time.monotonic() + max_minutes * 60 if max_minutes else math.inf
        self.extra = extra or {}
        self.state: dict[str, Any] = {"step": 0, "epoch": 0, "batch_in_epoch": 0, "history": []}
        self.epoch_finished = False
        """Whether the last `batches` ran to the end of its plan (not stopped by the time budget)."""
        self.bar: tqdm | None = None

    @property
    def step(self) -> int:
        return int(self.state["step"])

    @property
    def history(self) -> list[dict[str, Any]]:
        return self.state["history"]

    def resume(self) -> bool:
        """Load the checkpoint if there is one; False if the run starts afresh."""
        if not self.checkpoint.exists():
            return False
        ckpt = self.checkpoint.load(expect=self.extra)
        self.state = {"batch_in_epoch": 0, **ckpt["state"]}
        log.info("resumed from step %d, epoch %d", self.state["step"], self.state["epoch"])
        return True

    def continue_after(self, epoch: int, step: int, history: list[dict[str, Any]] | None = None) -> None:
        """Start at the epoch after `epoch`, at `step`, with a new optimiser: a run carried on from the weights
        an earlier machine kept when its checkpoint is gone. `warm_from` is the step the optimiser began at."""
        self.state.update(epoch=epoch + 1, step=step, batch_in_epoch=0, warm_from=step, history=list(history or []))
        log.info("going on after epoch %d (step %d) with a new optimiser", epoch, step)

    @property
    def steps_since_warm_start(self) -> int:
        """Steps since the optimiser began (its learning-rate warm-up counts from there)."""
        return self.step - int(self.state.get("warm_from", 0))

    def save(self) -> None:
        self.checkpoint.save(state=self.state, **self.extra)

    def each_epoch(self) -> Iterator[int]:
        """The epochs left, while the time budget lasts; the checkpoint is saved after each."""
        while self.state["epoch"] < self.epochs and time.monotonic() < self.deadline:
            yield self.state["epoch"]
            self.save()

    def batches(self, plan: Sequence[T], desc: str) -> Iterator[T]:
        """The epoch's batches from where it stopped, counting steps and checkpointing; stops early when
        the time budget is spent (then `epoch_finished` is False)."""
        self.epoch_finished = False
        done = self.state["batch_in_epoch"]
        self.bar = tqdm(plan[done:], desc=desc, initial=done, total=len(plan))
        for batch in self.bar:
            yield batch
            self.state["step"] += 1
            self.state["batch_in_epoch"] += 1
            if self.state["step"] % self.checkpoint_every == 0:
                self.save()
            if time.monotonic() > self.deadline:
                return
        self.epoch_finished = True

    def end_epoch(self, record: dict[str, Any]) -> None:
        """Count the epoch done and keep its figures (loss, dev metric) in the history."""
        self.history.append({"epoch": self.state["epoch"], "step": self.state["step"], **record})
        self.state["epoch"] += 1
        self.state["batch_in_epoch"] = 0

    def postfix(self, **values: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix(**values)
