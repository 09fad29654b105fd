"""Contextual biasing: a prefix graph of context phrases with failure arcs (Aho-Corasick).

Each hypothesis carries a state of this graph. Every letter that extends a
partial match of a phrase earns `bonus`, up to `max_bonus` per phrase (a long
phrase must not outbid the audio: "tobias lindqvist" for "tomorrow"); when the
match fails, the hypothesis falls back along failure arcs and the bonus for the
unmatched part is taken back, so only completed phrases keep their boost.

Matches are anchored to words: phrases are compiled as " meg bauer " and a
hypothesis starts as if after a space, so "meg" is boosted in "call meg" but
not inside "omega", and "meg" as a phrase does not complete inside "megan".
The last word of a hypothesis needs no trailing space: `finish` counts a
phrase that only lacks it as complete. A completed phrase that is also the
start of a longer one ("meg" and "meg bauer") banks its bonus and matching
goes on along the longer one.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from models.tokens import CHARS, SPACE, encode

BONUS = 0.25
"""Per letter of a partial match: tuned on dev for the shipped recogniser (weights/MODEL_CARD_asr.md).
Small, because that recogniser already copies names from its learned biasing; 1.5 suited the one before."""
MAX_BONUS = 12.0
"""Per phrase at most, so a long contact cannot outbid the audio."""
ENCODER_BIAS = 0.0
"""Strength of the learned biasing's encoder-side read at decoding (the prediction side is always used).
Tuned on dev with the two above: with shallow fusion on top, the encoder's read made noisy requests
turn into a context phrase wholesale, and leaving it out gave both fewer errors and more names."""


_NOT_SPOKEN = re.compile(r"[^\w\s']|_")


def normalise_phrase(phrase: str) -> str:
    """A context phrase as the recogniser spells: lower case, punctuation (apostrophes inside words aside)
    turned into spaces. "Meg Bauer!!" would otherwise bias toward letters no one says and leak into text."""
    words = _NOT_SPOKEN.sub(" ", phrase.replace("\u2019", "'").lower()).split()
    return " ".join(w.strip("'") for w in words if w.strip("'"))


def normalise_phrases(phrases: Iterable[str]) -> list[str]:
    """Each phrase normalised, the empty and repeated ones left out, in their first order."""
    return list(dict.fromkeys(p for p in map(normalise_phrase, phrases) if p))


@dataclass
class _State:
    weight: float = 0.0
    """Bonus (score units) of the partial match this state stands for."""
    next: dict[int, int] = field(default_factory=dict)
    fail: int = 0
    final: bool = False
    kept: float = 0.0
    """Bonus of the longest completed phrase on the way to this state: kept if the match fails here."""


@dataclass(frozen=True)
class Moves:
    """Every unit's step from one state, as arrays over units 1..n (unit u at index u - 1): what the beam
    search scores all of a hypothesis's next units with at once."""

    to: np.ndarray
    """The state each unit leads to."""
    delta: np.ndarray
    """The score change of each unit (float64; may be negative)."""
    matching: np.ndarray
    """Whether the state each unit leads to is part way along a phrase."""
    expands: np.ndarray
    """Whether each unit would extend a match (searched even if acoustically unlikely)."""


class ContextGraph:
    """Compiled context phrases. State 0 is a word's start (where every hypothesis begins); `root` is the
    state inside a word that matches nothing."""

    def __init__(
        self,
        phrases: Iterable[str],
        bonus: float = 2.0,
        max_bonus: float | None = None,
    ) -> None:
        cap = math.inf if max_bonus is None else max_bonus
        self.phrases = sorted({" ".join(p.lower().split()) for p in phrases if p.strip()})
        self.states = [_State()]
        for phrase in self.phrases:
            s = letters = 0
            for tok in [SPACE, *encode(phrase), SPACE]:
                letters += tok != SPACE
                if tok not in self.states[s].next:
                    self.states.append(_State())
                    self.states[s].next[tok] = len(self.states) - 1
                s = self.states[s].next[tok]
                self.states[s].weight = max(self.states[s].weight, min(cap, bonus * letters))
            self.states[s].final = True
        self._settle()
        self._link()
        self.root = self._renumber_start_as_zero()
        self._moves: dict[int, Moves] = {}

    def _settle(self) -> None:
        """Weights never fall along a path (a longer phrase starting with a shorter one only adds), and each
        state keeps the bonus of the longest phrase completed on the way to it."""
        queue = deque([0])
        while queue:
            s = queue.popleft()
            for child in self.states[s].next.values():
                c = self.states[child]
                c.weight = max(c.weight, self.states[s].weight)
                c.kept = max(self.states[s].kept, c.weight if c.final else 0.0)
                queue.append(child)

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

    def _renumber_start_as_zero(self) -> int:
        """Swap the root (built as state 0) with the word-start state, so a fresh hypothesis (state 0) starts
        at a word. Returns the root's new number."""
        start = self.states[0].next.get(SPACE, 0)
        perm = list(range(len(self.states)))
        perm[0], perm[start] = start, 0
        self.states[0], self.states[start] = self.states[start], self.states[0]
        for st in self.states:
            st.next = {tok: perm[c] for tok, c in st.next.items()}
            st.fail = perm[st.fail]
        root = perm[0]
        self.states[root].fail = root  # inside a word nothing starts a match: only a space leads back out
        return root

    def __len__(self) -> int:
        return len(self.phrases)

    def step(self, state: int, token: int) -> tuple[int, float]:
        """Advance by one output unit: (new state, score change) where the change may be negative."""
        cur = self.states[state]
        if token in cur.next:
            new = cur.next[token]
            delta = self.states[new].weight - cur.weight
        else:
            s = cur.fail
            while s != self.root and token not in self.states[s].next:
                s = self.states[s].fail
            new = self.states[s].next.get(token, self.root)
            delta = cur.kept + self.states[new].weight - cur.weight
        if self.states[new].final and not self.states[new].next:
            # Phrase complete and nothing longer to follow: its bonus stays; its trailing space starts a word.
            return 0, delta
        return new, delta

    def matching(self, state: int) -> bool:
        """Whether `state` is part way along a phrase (not a word's start, not a word matching nothing)."""
        return state not in (0, self.root) and self.states[state].weight > 0

    def expansions(self, state: int) -> set[int]:
        """Units that would extend a match from `state`: searched even if acoustically unlikely."""
        return set(self.states[state].next) | ({SPACE} if len(self) else set())

    def moves(self, state: int) -> Moves:
        """`step`, `matching` and `expansions` for every unit from `state`, computed once per state."""
        cached = self._moves.get(state)
        if cached is None:
            units = range(1, len(CHARS) + 1)
            steps = [self.step(state, unit) for unit in units]
            expands = self.expansions(state)
            cached = self._moves[state] = Moves(
                to=np.array([to for to, _ in steps], dtype=np.int64),
                delta=np.array([delta for _, delta in steps], dtype=np.float64),
                matching=np.array([self.matching(to) for to, _ in steps]),
                expands=np.array([unit in expands for unit in units]),
            )
        return cached

    def finish(self, state: int) -> float:
        """Score change at the end of a hypothesis: take back an unfinished partial match."""
        cur = self.states[state]
        end = cur.next.get(SPACE)
        if end is not None and self.states[end].final:
            return 0.0  # the phrase lacks only its trailing space
        return cur.kept - cur.weight


EMPTY = ContextGraph([])
