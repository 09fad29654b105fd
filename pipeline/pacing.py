"""Merge many streams into batches, released as fast as possible or at real time.

In a real-time replay, audio time t of every stream is released at wall time
`t0 + t`, and that is also its capture time, as if a sound card had just
delivered it. Messages of several streams due at the same moment share one
batch, so a transport pays one hop for all of them.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Iterator

from pipeline.messages import TICKS_PER_SECOND, Message, now_ns


def due_ns(t0_ns: int, ticks: int) -> int:
    return t0_ns + ticks * 1_000_000_000 // TICKS_PER_SECOND


def interleave(
    streams: list[Iterator[Message]],
    t0_ns: int,
    *,
    realtime: bool,
    stop: threading.Event | None = None,
    offsets: list[int] | None = None,
) -> Iterator[list[Message]]:
    """Yield batches of messages from `streams`, in audio-time order.

    `offsets` (ticks, one per stream) starts stream i that much after `t0_ns`:
    its audio time t is due at `t0 + offsets[i] + t`.

    Each batch holds every stream's next message that ends at the earliest
    pending audio time. `captured_ns` is set to the release time (the paced
    due time in a real-time replay). Setting `stop` cuts the current wait
    short; the stream iterators themselves decide how to end.
    """
    heap: list[tuple[int, int, Message, Iterator[Message]]] = []
    shift = offsets or [0] * len(streams)
    for order, it in enumerate(streams):
        _push(heap, order, it, shift[order])
    while heap:
        t = heap[0][0]
        batch: list[tuple[int, Message, Iterator[Message]]] = []
        while heap and heap[0][0] == t:
            _, order, msg, it = heapq.heappop(heap)
            batch.append((order, msg, it))
        if realtime:
            due = due_ns(t0_ns, t)
            wait = due - now_ns()
            if wait > 0 and not (stop and stop.is_set()):
                _sleep(wait / 1e9, stop)
            captured = due
        else:
            captured = now_ns()
        yield [msg.replace(captured_ns=captured) for _, msg, _ in batch]
        for order, _, it in batch:
            _push(heap, order, it, shift[order])


def _push(heap: list, order: int, it: Iterator[Message], offset: int) -> None:
    msg = next(it, None)
    if msg is not None:
        heapq.heappush(heap, (offset + msg.end, order, msg, it))


def _sleep(seconds: float, stop: threading.Event | None) -> None:
    if stop is None:
        time.sleep(seconds)
    else:
        stop.wait(seconds)
