"""`pipeline.rounds`: a batch of several streams' messages, cut so each stream takes its messages in turn."""

from __future__ import annotations

from pipeline import Event, rounds


def test_a_stream_twice_in_a_batch_starts_a_new_round_and_order_is_kept():
    a, b = object(), object()
    msgs = [Event.make("x", stream=s, start=k, end=k) for k, s in enumerate("abab")]
    items = list(zip(msgs, [a, b, a, b], strict=True))
    assert list(rounds(items)) == [items[:2], items[2:]]
    assert list(rounds(items[:1] + items[2:3])) == [items[:1], items[2:3]]
    assert list(rounds([])) == []
