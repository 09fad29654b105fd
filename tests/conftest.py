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


MULTI_REQUEST = ["alexa_call_pause_meg_bauer.wav", "alexa_call_meg_bauer.wav", "alexa_kitchen_lights_stereo44k.flac"]
"""Demo recordings said one after another in one stream: the first is revised by a reset, so a decoder that
re-finalised a committed utterance when the next one opens would show it."""


@pytest.fixture(scope="session")
def multi_request(tmp_path_factory) -> Path:
    """One 16 kHz recording of three requests (`MULTI_REQUEST`), each followed by a second of silence."""
    import numpy as np
    import soundfile as sf

    from audio.files import load

    gap = np.zeros(16_000, np.float32)
    audio = np.concatenate([part for name in MULTI_REQUEST for part in (load(DEMO / name), gap)])
    path = tmp_path_factory.mktemp("multi") / "three_requests.wav"
    sf.write(path, audio, 16_000, subtype="PCM_16")
    return path


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> Path:
    """A tiny corpus, built once per test session (a few seconds)."""
    from corpus.build import build

    out = tmp_path_factory.mktemp("corpus")
    build(out, size="tiny", seed=3, jobs=2, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_speech(tmp_path_factory) -> Path:
    """A tiny speech set (`corpus.speech`), built once per test session."""
    from corpus import speech

    out = tmp_path_factory.mktemp("speech")
    speech.build(out, size="tiny", seed=0, jobs=1, progress=False)  # no fork beside Ray's threads
    return out


@pytest.fixture(scope="session")
def tiny_wake(tmp_path_factory) -> Path:
    """A tiny wake set (`corpus.wake`), built once per test session."""
    from corpus import wake

    out = tmp_path_factory.mktemp("wake")
    wake.build(out, size="tiny", seed=0, jobs=1, progress=False)
    return out
