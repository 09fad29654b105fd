"""The NLU node: fills a transcript's intent and slots, and drops revisions a Reset has superseded.

Resets travel in band ahead of the newer revision's data, so remembering the
highest revision each utterance was reset to is enough to drop a stale
transcript that is still on its way (docs/architecture.md: every node downstream drops what
it holds for older revisions).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from nodes.messages import Transcript
from nodes.nlu.parser import parse
from pipeline import Message, Node
from pipeline.messages import Reset

log = logging.getLogger(__name__)


class IntentParser(Node):
    """Transcript in, the same transcript with `intent` and sorted `slots` out."""

    name = "nlu"
    recoverable = True  # its state only drops stale revisions early; the sink drops them too

    def new_state(self, stream: str) -> dict[int, int]:
        """Utterance id -> the lowest revision still alive (the highest a Reset announced)."""
        return {}

    def on_message(self, msg: Message, state: dict[int, int]) -> Iterable[Message]:
        if not isinstance(msg, Transcript):
            return ()
        alive = state.get(msg.utterance, 0)
        if msg.revision < alive:
            log.debug(
                "%s: dropped utterance %d revision %d (reset to %d)", msg.stream, msg.utterance, msg.revision, alive
            )
            return ()
        result = parse(msg.text, msg.context)
        return (msg.replace(intent=result.intent, slots=tuple(sorted(result.slots.items()))),)

    def on_control(self, msg: Message, state: dict[int, int]) -> Iterable[Message]:
        if isinstance(msg, Reset):
            state[msg.utterance] = max(state.get(msg.utterance, 0), msg.revision)
        return (msg,)
