"""The Node API: plain classes that turn messages into messages.

A node knows nothing about Ray or about the runtime around it. It keeps one
state object per stream (made by `new_state`), so one instance serves many
streams; the runtime hands that state to every call. A node can be tested alone
by calling its methods with a state it made itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pipeline.messages import EndOfStream, Message

MAX_ERRORS_PER_STREAM = 10
"""After this many failures a stream is dropped at the node (its EndOfStream still passes). A node
that isolates failures per stream inside `on_batch` follows the same rule."""


def rounds(items: Iterable[tuple[Message, Any]]) -> Iterator[list[tuple[Message, Any]]]:
    """`on_batch`'s (message, state) items cut into rounds of consecutive items with one message per
    stream, in order: a stream with several messages in a batch takes them in turn."""
    round_: list[tuple[Message, Any]] = []
    taken: set[int] = set()
    for msg, st in items:
        if id(st) in taken:
            yield round_
            round_, taken = [], set()
        round_.append((msg, st))
        taken.add(id(st))
    if round_:
        yield round_


def one_line(exc: BaseException) -> str:
    """An exception as one line of text: users read errors in a terminal, one per line."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())


class Node:
    """Base class of every processing node.

    Subclasses override `on_message`, and where they need to, `new_state`,
    `on_control` (Reset, Watermark, Error, notices, events), `on_end_of_stream` (flush)
    and `on_batch` (to batch work across streams, for example a neural model).
    """

    name: str = ""
    recoverable: bool = False
    """True when a restart costs nothing: the node's per-stream state is only a cache (a crash's `Error`
    then says `lost=False`), because the runtime retries the calls the crashed node had not finished."""

    ahead: tuple[type[Message], ...] = ()
    """Control messages this node also wants to hear of ahead of their turn. A runtime that queues work
    for the node (a Ray actor still busy with earlier batches) hands each to `on_ahead` as soon as it is
    sent, so the node can skip queued work the message makes stale; it still arrives in its turn."""

    def __init__(self, **config: Any) -> None:
        if config:
            raise TypeError(f"{type(self).__name__} got unknown options: {', '.join(sorted(config))}")

    def new_state(self, stream: str) -> Any:
        """Per-stream state, made when the stream's first message arrives."""
        return None

    def on_message(self, msg: Message, state: Any) -> Iterable[Message]:
        raise NotImplementedError(f"{type(self).__name__}.on_message")

    def on_control(self, msg: Message, state: Any) -> Iterable[Message]:
        """Control messages, notices and events; the default forwards them."""
        return (msg,)

    def on_end_of_stream(self, msg: EndOfStream, state: Any) -> Iterable[Message]:
        """Flush what the stream still holds; the runtime forwards EndOfStream after it."""
        return ()

    def on_ahead(self, msg: Message) -> None:
        """A message of a type in `ahead`, before the batches queued ahead of it. It runs in another thread
        than every other method, so it should only take note (under a lock) for them to read."""

    def restored(self, stream: str, state: Any) -> None:
        """`state` is fresh for a stream that began before this node was restarted after a crash (the
        stream also gets an `Error` saying so): a node can mark what it must not take up half-way."""

    def on_batch(self, items: list[tuple[Message, Any]]) -> list[Message]:
        """Data messages of several streams that arrived together.

        The default processes them one by one. Overriding it lets a node batch
        across streams; an exception then fails every stream in the batch (a node
        that fails one stream alone emits its `Error` with `one_line`).
        """
        out: list[Message] = []
        for msg, state in items:
            out.extend(self.on_message(msg, state))
        return out

    def close(self) -> None:
        """Release resources (devices, threads) when the graph shuts down."""


class Source(Node):
    """A node with no inputs: it brings messages into the graph.

    `batches` yields lists of messages (several streams may share one list,
    which the runtime sends as one transport message). It may block or pace
    itself against the wall clock from `t0_ns`; it ends with an EndOfStream for
    each stream it opened. `stop` asks a live source to finish early, from
    another thread.
    """

    def batches(self, t0_ns: int) -> Iterator[list[Message]]:
        raise NotImplementedError(f"{type(self).__name__}.batches")

    def stop(self) -> None:
        """Ask the source to end its streams soon (default: nothing to stop)."""

    def planned_streams(self) -> list[str] | None:
        """The streams it will open, if known before it runs (files, not a microphone): should it die, the
        runtime can still end each one with an error instead of losing it silently."""
        return None

    shardable = False
    """Whether `shard` can split its streams before it runs (a runtime's replicas then each run their share)."""

    def shard(self, index: int, count: int) -> Source | None:
        """The source of the streams that replica `index` of `count` serves (`pipeline.replicas.replica_of`),
        each exactly as this source would give it, or None if it serves none of them."""
        raise NotImplementedError(f"{type(self).__name__} cannot split its streams")
