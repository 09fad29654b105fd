"""Contextual biasing: a prefix graph of context phrases with failure arcs (Aho-Corasick).

Each hypothesis carries a state of this graph. Every output unit that extends a
partial match of a phrase earns `bonus`; when the match fails, the hypothesis
falls back along failure arcs and the bonus for the unmatched part is taken
back, so only completed phrases keep their boost. A completed phrase returns to
the root with its bonus kept.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from models.tokens import encode


@dataclass
class _State:
    depth: int
    next: dict[int, int] = field(default_factory=dict)
    fail: int = 0
    final: bool = False


class ContextGraph:
    """Compiled context phrases. State 0 is the root (no partial match)."""

    def __init__(self, phrases: Iterable[str], bonus: float = 2.0) -> None:
        self.bonus = bonus
        self.phrases = sorted({" ".join(p.lower().split()) for p in phrases if p.strip()})
        self.states = [_State(0)]
        for phrase in self.phrases:
            s = 0
            for tok in encode(phrase):
                if tok not in self.states[s].next:
                    self.states.append(_State(self.states[s].depth + 1))
                    self.states[s].next[tok] = len(self.states) - 1
                s = self.states[s].next[tok]
            self.states[s].final = True
        self._link()

    def _link(self) -> None:
        queue = deque(self.states[0].next.values())
        while queue:
            s = queue.popleft()
            for tok, child in self.states[s].next.items():
                f = self.states[s].fail
                while f and tok not in self.states[f].next:
                    f = self.states[f].fail
                target = self.states[f].next.get(tok, 0)
                self.states[child].fail = target if target != child else 0
                queue.append(child)

    def __len__(self) -> int:
        return len(self.phrases)

    def step(self, state: int, token: int) -> tuple[int, float]:
        """Advance by one output unit: (new state, score change) where the change may be negative."""
        s = state
        while s and token not in self.states[s].next:
            s = self.states[s].fail
        new = self.states[s].next.get(token, 0)
        delta = (self.states[new].depth - self.states[state].depth) * self.bonus
        if self.states[new].final:
            return 0, delta  # phrase complete: its bonus stays, matching starts afresh at the root
        return new, delta

    def expansions(self, state: int) -> set[int]:
        """Units that would extend a match from `state` (or start one): searched even if acoustically unlikely."""
        return set(self.states[state].next) | set(self.states[0].next)

    def finish(self, state: int) -> float:
        """Score change at the end of a hypothesis: take back an unfinished partial match."""
        return -self.states[state].depth * self.bonus


EMPTY = ContextGraph([])
