"""Privacy, on the real assistant graph: no audio leaves the gate before the wake word, and none reaches the cloud.

Test taps are added to the graph `graphs.build` returns: one on everything the gate sends, and one beside each
edge into a cloud node, with that edge's filters, so it receives exactly what the cloud node receives.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audio import SAMPLE_RATE
from audio.files import load
from graphs import build
from nodes.file_source import FileSource
from pipeline import Event, LocalRuntime
from tests.conftest import DEMO
from tests.graph_nodes import Tap

AUDIO = {"AudioChunk", "FeatureFrames", "UtteranceFeatures", "VoiceActivity", "DecoderSignal"}
"""Message types that carry audio, or features or per-frame signals computed from it."""
NOTICES = {"Wake", "GateClosed", "Confirm", "Context", "DevicePlaying"}
"""Notices that travel through the cloud nodes to the sink: utterance ids, times and flags."""
WIN = 400  # ticks in one feature frame


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    """The demo request with the wake word, the same kind of request without it, and noise, in one run."""
    tmp = tmp_path_factory.mktemp("privacy")
    wake = str(DEMO / "alexa_call_meg_bauer.wav")
    rng = np.random.default_rng(0)
    # "alexa, call ... meg bauer" from just after the wake word (it ends at 0.96 s): the request alone
    request = load(DEMO / "alexa_call_pause_meg_bauer.wav")[round(1.1 * SAMPLE_RATE) :]
    request = np.concatenate([np.zeros(SAMPLE_RATE // 2, np.float32), request])
    request += rng.normal(0, 1e-3, len(request)).astype(np.float32)
    sf.write(tmp / "request_without_wake_word.wav", request, SAMPLE_RATE, subtype="PCM_16")
    sf.write(tmp / "noise.wav", rng.normal(0, 0.02, 3 * SAMPLE_RATE).astype(np.float32), SAMPLE_RATE)
    paths = [wake, str(tmp / "request_without_wake_word.wav"), str(tmp / "noise.wav")]

    graph = build("assistant", FileSource, {"paths": paths})
    graph.add("tap_gate", Tap).connect("gate", "tap_gate")
    cloud = [e for e in graph.edges if graph.nodes[e.dst].placement == "cloud"]
    for e in cloud:
        graph.add(f"tap_{e.dst}", Tap).connect(e.src, f"tap_{e.dst}", feedback=e.feedback, only=e.only, events=e.events)
    with LocalRuntime(graph) as rt:
        events = [m for m in rt.run() if isinstance(m, Event)]
    return {
        "paths": paths,
        "cloud": sorted({e.dst for e in cloud}),
        "events": [e for e in events if e.name != "tapped"],
        "tapped": [e.data | {"stream": e.stream, "start": e.start, "end": e.end} for e in events if e.name == "tapped"],
    }


def tapped(run: dict, tap: str, stream: str) -> list[dict]:
    return [t for t in run["tapped"] if t["tap"] == tap and t["stream"] == stream]


def test_nothing_with_audio_leaves_the_gate_before_the_wake_word(run):
    stream = run["paths"][0]
    out = tapped(run, "tap_gate", stream)
    wakes = {t["utterance"]: t for t in out if t["event"] == "wake"}
    assert wakes, "the demo request's wake word was not accepted"
    results = [e for e in run["events"] if e.stream == stream and e.name == "result"]
    assert [r.data["utterance"] for r in results] == list(wakes)
    woken: dict[int, dict] = {}
    forwarded = 0
    for t in out:  # in the order the gate sent them
        if t["event"] == "wake":
            woken[t["utterance"]] = t
        if t["kind"] not in AUDIO:
            continue
        assert t["kind"] == "UtteranceFeatures", t  # never raw audio, never the closed gate's features
        wake = woken.get(t["utterance"])
        assert wake is not None, f"features of utterance {t['utterance']} left the gate before its wake event"
        # the first frame forwarded starts after the frame in which stage 1 heard the wake word end
        assert t["start"] >= round(wake["fields"]["start_s"] * SAMPLE_RATE), t
        assert t["start"] > round(wake["fields"]["end_s"] * SAMPLE_RATE) - WIN, (t, wake)
        forwarded += 1
    assert forwarded, "the open gate forwarded nothing"
    before = out[: next(i for i, t in enumerate(out) if t["event"] == "wake")]
    kinds = {t["kind"] for t in before}
    assert before and kinds <= {"Watermark", "Event"}, kinds


@pytest.mark.parametrize("which", [1, 2], ids=["request_without_wake_word", "noise"])
def test_nothing_with_audio_leaves_the_gate_without_a_wake_word(run, which):
    stream = run["paths"][which]
    out = tapped(run, "tap_gate", stream)
    assert not [t for t in out if t["kind"] in AUDIO], "audio left the closed gate"
    assert not [t for t in out if t["event"] == "wake"]
    watermarks = [t["end"] for t in out if t["kind"] == "Watermark"]  # the gate listened to the whole stream
    (end,) = [e for e in run["events"] if e.stream == stream and e.name == "end"]
    assert watermarks and max(watermarks) >= end.end - 2 * WIN
    assert not [e for e in run["events"] if e.stream == stream and e.name in ("result", "partial", "endpoint")]


def test_the_cloud_receives_lattices_and_events_never_audio(run):
    assert run["cloud"] == ["nlu", "rescorer"]
    for node in run["cloud"]:
        got = [t for t in run["tapped"] if t["tap"] == f"tap_{node}"]
        assert got, node
        assert not [t for t in got if t["kind"] in AUDIO], node
        assert not [t for t in got if t["arrays"]], f"{node} received arrays"
        kinds = {t["kind"] for t in got}
        allowed = {"LatticeMessage", "Transcript", "Event", "EndOfStream", "Reset", "Error", "Watermark", *NOTICES}
        assert kinds <= allowed, kinds
    wake_stream = run["paths"][0]
    assert [t for t in tapped(run, "tap_rescorer", wake_stream) if t["kind"] == "LatticeMessage"]
    assert [t for t in tapped(run, "tap_nlu", wake_stream) if t["kind"] == "Transcript"]
    for stream in run["paths"][1:]:  # without a wake word nothing about the speech goes to the cloud at all
        for node in run["cloud"]:
            assert {t["kind"] for t in tapped(run, f"tap_{node}", stream)} <= {"Event", "Watermark", "EndOfStream"}
