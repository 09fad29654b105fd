"""The whole assistant: wake gate, streaming recogniser, two end-pointers, cloud rescoring, NLU, results.

    source ─▶ features ─▶ gate ─▶ decoder ─▶ rescorer (cloud) ─▶ nlu ─▶ sink
       │                   ▲        │  ▲                                  │
       └─▶ vad ─▶ endpointer_speculative / endpointer_final ┘  (EndPoint, feedback)
                   └── the final EndPoint; Committed, Lost (feedback: close the utterance) ┘

Edges carry only what the receiver needs: the end-pointers get the decoder's
per-chunk signals and its `Wake` notices, the VAD gets the gate's output (it runs
only where an utterance is open, `nodes.vad`), the cloud gets lattices, notices and
events (never audio), and the feedback edges carry the notices their receiver
acts on (`EndPoint` to the decoder; the final `EndPoint`, `Committed` and `Lost` to the gate, which
listens for the wake word again once the final end-point has ended the request). The
on-device recogniser runs int8-quantised (on dev: same WER, 1.6x less CPU).
`speculative=False` leaves the speculative end-pointer out (the baseline that
speculation is measured against).
"""

from __future__ import annotations

from typing import Any

from nodes.decoder.node import RNNTDecoder
from nodes.endpointer import EndPointer
from nodes.features import LogMelFeatures
from nodes.messages import (
    Committed,
    DecoderSignal,
    EndPoint,
    LatticeMessage,
    Lost,
    Transcript,
    UtteranceFeatures,
    VoiceActivity,
    Wake,
)
from nodes.nlu.node import IntentParser
from nodes.rescorer import LatticeRescorer
from nodes.sink import EventSink
from nodes.vad import VoiceActivityDetector
from nodes.wake_gate import WakeWordGate
from pipeline import Graph, Source


def build(
    source: type[Source],
    source_options: dict[str, Any],
    *,
    context: list[str] | None = None,
    speculative: bool = True,
    rescore_deadline_ms: float | None = None,
    network_delay_ms: float = 0.0,
    respeculate: int | None = None,
) -> Graph:
    g = Graph("assistant")
    g.add("source", source, **source_options)
    g.add("features", LogMelFeatures)
    g.add("gate", WakeWordGate)
    decoder: dict[str, Any] = {} if respeculate is None else {"respeculate": respeculate}
    g.add("decoder", RNNTDecoder, context=context or [], int8=True, **decoder)
    g.add("vad", VoiceActivityDetector, follow_gate=True)
    rescorer: dict[str, Any] = {"network_delay_ms": network_delay_ms}
    if rescore_deadline_ms is not None:
        rescorer["deadline_ms"] = rescore_deadline_ms
    g.add("rescorer", LatticeRescorer, placement="cloud", **rescorer)
    g.add("nlu", IntentParser, placement="cloud")
    g.add("sink", EventSink)

    g.connect("source", "features").connect("features", "gate").connect("gate", "decoder")
    g.connect("source", "vad", events=())
    g.connect("gate", "vad", only=(UtteranceFeatures,), events=())  # the VAD runs only where needed
    g.connect("decoder", "rescorer", only=(LatticeMessage,), watermarks=False)
    g.connect("rescorer", "nlu", only=(Transcript,), watermarks=False)
    g.connect("nlu", "sink", only=(Transcript,), watermarks=False)
    g.connect("sink", "gate", feedback=True, events=(Committed, Lost))
    kinds = ("speculative", "final") if speculative else ("final",)
    for kind in kinds:
        name = f"endpointer_{kind}"
        g.add(name, EndPointer, kind=kind)
        g.connect("vad", name, only=(VoiceActivity,), events=())
        g.connect("decoder", name, only=(DecoderSignal,), events=(Wake,))
        g.connect(name, "decoder", feedback=True, events=(EndPoint,))
    g.connect("endpointer_final", "gate", feedback=True, events=(EndPoint,))
    return g.validate()
