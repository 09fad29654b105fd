"""The NLU node: fills a transcript's intent and slots, and drops revisions a Reset has superseded.

Resets travel in band ahead of the newer revision's data, so remembering the
highest revision each utterance was reset to is enough to drop a stale
transcript that is still on its way (docs/architecture.md: every node downstream drops what
it holds for older revisions).

A transcript whose confidence (`nodes.confidence`, filled by the rescorer) is below
`NLUConfig.threshold` (tuned on dev, in `weights/confidence.json`) is not acted on: its
intent is `unknown` ("sorry, I didn't catch that"), since executing a misheard request
is worse than asking again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from nodes.confidence import ConfidenceConfig
from nodes.config import TunedConfig, configure
from nodes.messages import Transcript
from nodes.nlu.parser import parse
from pipeline import Message, Node
from pipeline.messages import Reset

log = logging.getLogger(__name__)

UNKNOWN = "unknown"
"""The intent of a transcript too unsure to act on: the assistant asks again instead."""


@dataclass(frozen=True)
class NLUConfig(TunedConfig):
    """When the NLU refuses to act. Its threshold is on the calibrated confidence's scale, so `bench rescore`
    tunes it with the calibration and writes both to one file."""

    FILE = ConfidenceConfig.FILE
    TUNED = ("threshold",)

    threshold: float = 0.0
    """Below this utterance confidence the intent is `unknown` instead of acted on (0: act on everything)."""


class IntentParser(Node):
    """Transcript in, the same transcript with `intent` and sorted `slots` out."""

    name = "nlu"
    recoverable = True  # its state only drops stale revisions early; the sink drops them too

    def __init__(self, config: NLUConfig | None = None, **overrides: Any) -> None:
        """`config`: default `NLUConfig.load()`; `overrides`: of its fields (`threshold=0.5`)."""
        super().__init__()
        self.config = configure(config or NLUConfig.load(), overrides)
        self.threshold = float(self.config.threshold)

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
        if msg.confidence is not None and msg.confidence < self.threshold:
            log.debug("%s: utterance %d too unsure to act on (%.3f)", msg.stream, msg.utterance, msg.confidence)
            return (msg.replace(intent=UNKNOWN, slots=()),)
        result = parse(msg.text, msg.context)
        return (msg.replace(intent=result.intent, slots=tuple(sorted(result.slots.items()))),)

    def on_control(self, msg: Message, state: dict[int, int]) -> Iterable[Message]:
        if isinstance(msg, Reset):
            state[msg.utterance] = max(state.get(msg.utterance, 0), msg.revision)
        return (msg,)
