"""Audio in, features, the streaming RNN-T decoder, events out (each stream is one utterance).

For recordings without the wake word; the full graph puts the wake gate in front of the decoder.
"""

from __future__ import annotations

from typing import Any

from nodes.decoder.node import RNNTDecoder
from nodes.features import LogMelFeatures
from nodes.sink import EventSink
from pipeline import Graph, Source


def build(source: type[Source], source_options: dict[str, Any], *, context: list[str] | None = None) -> Graph:
    g = Graph("asr")
    g.add("source", source, **source_options)
    g.add("features", LogMelFeatures)
    g.add("decoder", RNNTDecoder, context=context or [])
    g.add("sink", EventSink)
    g.connect("source", "features").connect("features", "decoder").connect("decoder", "sink")
    return g.validate()
