"""The gate's mechanics, whatever the models say: thresholds at the extremes force each path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.wakeword import Stage1, Stage2
from nodes.messages import FeatureFrames, UtteranceFeatures
from nodes.wake_gate import WakeWordGate
from pipeline import Event, Watermark


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("ww")
    torch.save(Stage1().checkpoint(), d / "s1.pt")
    torch.save(Stage2().checkpoint(), d / "s2.pt")
    return str(d / "s1.pt"), str(d / "s2.pt")


def feed(gate: WakeWordGate, n_frames: int, chunk: int = 10) -> list:
    st = gate.new_state("s")
    frames = np.random.default_rng(0).normal(-8, 2, size=(n_frames, 64)).astype(np.float32)
    out = []
    for i in range(0, n_frames, chunk):
        f = frames[i : i + chunk]
        msg = FeatureFrames(stream="s", start=i * 160, end=(i + len(f) - 1) * 160 + 400, frames=f, first_frame=i)
        out.extend(gate.on_message(msg, st))
    return out


def test_closed_gate_passes_nothing_but_watermarks(weights):
    gate = WakeWordGate(stage1=weights[0], stage2=weights[1], threshold1=1.01)
    out = feed(gate, 500)
    assert out and all(isinstance(m, Watermark) for m in out)
    assert [m.end for m in out] == sorted(m.end for m in out)


def test_stage2_rejection_forwards_nothing(weights):
    gate = WakeWordGate(stage1=weights[0], stage2=weights[1], threshold1=0.0, threshold2=1.01, refractory_s=1.0)
    out = feed(gate, 600)
    assert not [m for m in out if isinstance(m, UtteranceFeatures)]
    rejected = [m for m in out if isinstance(m, Event) and m.name == "wake_rejected"]
    assert 3 <= len(rejected) <= 6  # one proposal per refractory period
    assert all("stage1" in e.data and "stage2" in e.data for e in rejected)


def test_acceptance_opens_an_utterance_that_starts_after_the_wake_word(weights):
    gate = WakeWordGate(stage1=weights[0], stage2=weights[1], threshold1=0.0, threshold2=0.0, max_utterance_s=2.0)
    out = feed(gate, 700)
    wakes = [m for m in out if isinstance(m, Event) and m.name == "wake"]
    assert wakes and wakes[0].data["utterance"] == 0
    first = wakes[0]
    utt = [m for m in out if isinstance(m, UtteranceFeatures) and m.utterance == 0]
    assert utt, "frames flow once the gate is open"
    end_frame = round((first.data["end_s"] * 16000 - 400) / 160)
    assert utt[0].first_frame == end_frame + 1  # held frames after the wake word come first
    frames = [f for m in utt for f in range(m.first_frame, m.first_frame + len(m.frames))]
    assert frames == list(range(frames[0], frames[0] + len(frames)))  # nothing lost or repeated
    assert 200 <= len(frames) < 210  # closed by the 2 s limit, at the end of the chunk that reached it
    closed = [m for m in out if isinstance(m, Event) and m.name == "gate_closed"]
    assert closed and closed[0].data["reason"] == "max_utterance"
    assert len(wakes) >= 2 and wakes[1].data["utterance"] == 1  # listening again after it closed


# -- the shipped weights ----------------------------------------------------------------


def stream_through(gate: WakeWordGate, frames: np.ndarray, chunk: int = 10) -> list:
    st = gate.new_state("s")
    out = []
    for i in range(0, len(frames), chunk):
        f = frames[i : i + chunk]
        msg = FeatureFrames(stream="s", start=i * 160, end=(i + len(f) - 1) * 160 + 400, frames=f, first_frame=i)
        out.extend(gate.on_message(msg, st))
    return out


def test_shipped_gate_wakes_once_on_each_demo_recording_near_the_wake_word():
    import json

    from nodes.audio_file import load
    from nodes.features import LogMel
    from tests.conftest import DEMO

    truth = json.loads((DEMO / "transcripts.json").read_text())
    gate = WakeWordGate()
    for name, t in truth.items():
        out = stream_through(gate, LogMel().frames(load(DEMO / name)))
        wakes = [m.data for m in out if isinstance(m, Event) and m.name == "wake"]
        assert len(wakes) == 1, (name, wakes)
        assert abs(wakes[0]["end_s"] - t["wake_end"]) < 0.2, (name, wakes[0], t)
        forwarded = [m for m in out if isinstance(m, UtteranceFeatures)]
        assert forwarded and forwarded[0].first_frame * 0.01 >= t["wake_end"] - 0.2


def test_the_node_proposes_exactly_where_the_offline_rule_does(tiny):
    """The benchmark scores the gate with `stage1_scores` + `proposals`; the streaming node must agree."""
    import json

    from nodes.audio_file import load
    from nodes.features import LogMel
    from nodes.wake_gate import gate_settings, proposals, stage1_scores

    row = json.loads((tiny / "negatives.jsonl").read_text().splitlines()[0])
    frames = LogMel().frames(load(tiny / row["audio"]))
    gate = WakeWordGate(threshold1=0.3, threshold2=1.01)  # every proposal is rejected: the gate stays closed
    rejected = [m.data["end_s"] for m in stream_through(gate, frames, chunk=7) if isinstance(m, Event)]
    s = gate_settings()
    smoothed, starts = stage1_scores(gate.stage1, frames, s["smooth"])
    offline = [round((e * 160 + 400) / 16000, 3) for e, _, _ in proposals(smoothed, starts, 0.3, 100)]
    assert rejected == offline
