"""Shared fixtures. Ray starts once per session, on loopback, and only if a test needs it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data" / "demo"

# Ray workers import test-only node classes (tests.graph_nodes) by name.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RUNTIMES = ["local", pytest.param("ray", marks=pytest.mark.ray)]


@pytest.fixture(scope="session")
def ray_cluster():
    import ray

    from pipeline.ray_runtime import init_ray

    started = init_ray()
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(params=RUNTIMES)
def runtime_kind(request):
    if request.param == "ray":
        request.getfixturevalue("ray_cluster")
    return request.param


@pytest.fixture
def demo_files() -> list[str]:
    files = sorted(str(p) for p in DEMO.iterdir() if p.suffix in (".wav", ".flac", ".ogg"))
    assert files, "the demo recordings ship in data/demo"
    return files


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> Path:
    """A tiny corpus, built once per test session (a few seconds)."""
    from corpus.build import build

    out = tmp_path_factory.mktemp("corpus")
    build(out, size="tiny", seed=3, jobs=2, progress=False)
    return out
