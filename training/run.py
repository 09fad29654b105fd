"""What every recipe does first: threads, the run folder, and a log file in it."""

from __future__ import annotations

import logging
from pathlib import Path

import torch


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
