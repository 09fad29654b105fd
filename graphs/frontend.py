"""Audio in, log-mel features, events out: the front end every other graph starts with."""

from __future__ import annotations

from typing import Any

from nodes.features import LogMelFeatures
from nodes.sink import EventSink
from pipeline import Graph, Source


def build(source: type[Source], source_options: dict[str, Any], *, n_mels: int = 64) -> Graph:
    g = Graph("frontend")
    g.add("source", source, **source_options)
    g.add("features", LogMelFeatures, n_mels=n_mels)
    g.add("sink", EventSink)
    g.connect("source", "features")
    g.connect("features", "sink")
    return g.validate()
