"""Which replica serves a stream, when a runtime runs several copies of the nodes, each for its share of the
streams: every message of a stream, feedback included, reaches the copy that holds the stream's state."""

from __future__ import annotations

import zlib

from pipeline.messages import Message


def replica_of(stream: str, replicas: int) -> int:
    """The replica that serves `stream`: the same on every process and run (a stable hash, not Python's)."""
    return zlib.crc32(stream.encode()) % replicas if replicas > 1 else 0


def by_replica(msgs: list[Message], replicas: int) -> dict[int, list[Message]]:
    """`msgs` split by the replica that serves each one's stream, in their order."""
    if replicas == 1:
        return {0: msgs}
    parts: dict[int, list[Message]] = {}
    for m in msgs:
        parts.setdefault(replica_of(m.stream, replicas), []).append(m)
    return parts
