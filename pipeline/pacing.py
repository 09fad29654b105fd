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

from audio.clock import SAMPLE_RATE
from pipeline.messages import Message, now_ns


def due_ns(t0_ns: int, ticks: int) -> int:
    return t0_ns + ticks * 1_000_000_000 // SAMPLE_RATE


def interleave(
    streams: list[Iterator[Message]],
    t0_ns: int,
    *,
    realtime: bool,
    stop: threading.Event | None = None,
    offsets: list[int] | None = None,
    max_late: int = 256,
) -> Iterator[list[Message]]:
    """Yield batches of messages from `streams`, in audio-time order.

    `offsets` (ticks, one per stream) starts stream i that much after `t0_ns`:
    its audio time t is due at `t0 + offsets[i] + t`.

    Each batch holds every stream's next message that ends at the earliest
    pending audio time. `captured_ns` is set to the release time (each
    message's due time in a real-time replay). A real-time replay that has
    fallen behind (the graph pushed back) sends everything already due, up to
    `max_late` messages, in one batch: a slow graph gets fewer, larger batches
    instead of a growing backlog of small ones. Setting `stop` cuts the current wait
    short; the stream iterators themselves decide how to end.
    """
    heap: list[tuple[int, int, Message, Iterator[Message]]] = []
    shift = offsets or [0] * len(streams)
    for order, it in enumerate(streams):
        _push(heap, order, it, shift[order])

    def take() -> tuple[int, Message]:
        t, order, msg, it = heapq.heappop(heap)
        _push(heap, order, it, shift[order])
        return t, msg

    while heap:
        t = heap[0][0]
        batch = [take()]
        while heap and heap[0][0] == t:
            batch.append(take())
        if not realtime:
            captured = now_ns()
            yield [msg.replace(captured_ns=captured) for _, msg in batch]
            continue
        wait = due_ns(t0_ns, t) - now_ns()
        if wait > 0 and not (stop and stop.is_set()):
            _sleep(wait / 1e9, stop)
        elif wait < 0:  # late: whatever is already due goes along, as a sound card hands over a fuller buffer
            now = now_ns()
            while heap and len(batch) < max_late and due_ns(t0_ns, heap[0][0]) <= now:
                batch.append(take())
        yield [msg.replace(captured_ns=due_ns(t0_ns, tm)) for tm, msg in batch]


def _push(heap: list, order: int, it: Iterator[Message], offset: int) -> None:
    msg = next(it, None)
    if msg is not None:
        heapq.heappush(heap, (offset + msg.end, order, msg, it))


def _sleep(seconds: float, stop: threading.Event | None) -> None:
    if stop is None:
        time.sleep(seconds)
    else:
        stop.wait(seconds)
