"""Node settings: every node kind that has settings keeps them in one frozen dataclass in its own module.

The dataclass writes each setting's default once, with a docstring that says what it means. A config
whose values a benchmark tunes also names the JSON file under `weights/` that the benchmark writes
(`FILE`) and the fields that file sets (`TUNED`); its `load()` is the defaults overridden by the file.
A node takes `config` (None: `load()`, or the defaults where nothing is tuned) and keyword overrides of
any field (`configure`), so a graph or a test says only what differs. docs/architecture.md lists the
configs and their files.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

log = logging.getLogger(__name__)

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
"""The shipped models and the tuned values of the configs."""

C = TypeVar("C")


def compute_threads(n: int) -> None:
    """Torch's and numpy's BLAS threads in this process. A node's arithmetic per call is small: a spare
    thread only spin-waits for work and takes the core from the graph (OpenBLAS's second thread, behind one
    filterbank product per chunk, burnt a whole core at 48 streams, the graph's own work being another).
    Imported here, not at the top: nodes without arithmetic (the NLU, the sink) read this module too."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    threadpool_limits(n, user_api="blas")


class TunedConfig:
    """Base of a config dataclass whose tuned values live in a JSON file under `weights/`."""

    FILE: ClassVar[Path]
    """The JSON object a benchmark writes; its other keys (what the tuning measured) are ignored."""
    TUNED: ClassVar[tuple[str, ...]]
    """The fields the file sets; the others keep their defaults."""

    @classmethod
    def load(cls, path: str | Path | None = None) -> Self:
        """The defaults, overridden by the tuned values in `path` (default `FILE`) where it holds them."""
        return cls(**read_tuned(Path(path) if path is not None else cls.FILE, cls.TUNED))


def read_tuned(path: Path, names: Iterable[str]) -> dict[str, Any]:
    """The values of `path` (a JSON object) for `names`: none when the file is missing, and none with a
    warning when it cannot be read, so a node always starts (on its defaults)."""
    if not path.exists():
        return {}
    try:
        saved = json.loads(path.read_text())
        if not isinstance(saved, dict):
            raise ValueError(f"holds a {type(saved).__name__}, not an object")
    except (OSError, ValueError) as exc:
        log.warning("ignoring %s: %s", path, exc)
        return {}
    return {k: saved[k] for k in names if k in saved}


def configure(config: C, overrides: Mapping[str, Any]) -> C:
    """`config` (a dataclass) with `overrides` of its fields; a TypeError names any that is not one."""
    known = [f.name for f in fields(config)]
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise TypeError(f"{type(config).__name__} has no {', '.join(unknown)} (its settings: {', '.join(known)})")
    return replace(config, **overrides)
