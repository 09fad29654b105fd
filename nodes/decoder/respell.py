"""Respelling near misses of context phrases: "call meg bower" -> "call meg bauer".

Shallow fusion only helps a name the beam can spell: a rare name it has never
heard ("lindqvist") or hears through noise often comes out as words that sound
like it ("lind quist", "kriss tree" for "christmas tree"). After the search,
word spans of the lattice's best paths that hold a word the recogniser was
never trained on (a spelling it made up letter by letter) are compared with
the context phrases by how they sound (a letter-to-sound key: "ph" and "f" alike, "c" as "k" or
"s", doubled letters once, no word breaks); a span within `max_distance`
(normalised edit distance) of a phrase is rewritten to it as a new path of the
lattice, scored a little above the path it came from. The original path stays,
one place below, for the rescorer and the n-best.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz.distance import Levenshtein

from nodes.decoder.lattice import Lattice, Prefix

MAX_DISTANCE = 0.5
"""Largest normalised edit distance between the sound keys of a span and a phrase: tuned on dev."""
MIN_KEY = 4
"""A phrase's key must be at least this long: below it almost any short word is a near miss."""
MARGIN = 0.5
"""Score of a respelled path above the path it came from, so it comes first and the original second."""

_SOUNDS = [
    (r"ph", "f"),
    (r"chr", "kr"),
    (r"ck", "k"),
    (r"c(?=[eiy])", "s"),
    (r"[cq]", "k"),
    (r"x", "ks"),
    (r"z", "s"),
    (r"y", "i"),
    (r"w(?=[^aeiou]|$)", ""),
    (r"(?<=[aeiou])h", ""),
    (r"([a-z])\1+", r"\1"),
]


@lru_cache(maxsize=8192)
def sound_key(text: str) -> str:
    """Letters rewritten so that spellings that sound alike come close: "christmas" -> "kristmas"; cached, as
    every span of every path is keyed once per phrase it is compared with."""
    key = re.sub(r"[^a-z]", "", text.lower())
    for pattern, repl in _SOUNDS:
        key = re.sub(pattern, repl, key)
    return key


@dataclass(frozen=True)
class Rewrite:
    start: int
    """First word of the span (index into the path)."""
    stop: int
    phrase: tuple[str, ...]
    distance: float


class Respeller:
    """The context phrases of one utterance, ready to be matched against word spans."""

    def __init__(
        self,
        phrases: tuple[str, ...] | list[str],
        max_distance: float = MAX_DISTANCE,
        known: frozenset[str] | None = None,
    ) -> None:
        self.max_distance = max_distance
        self.known = known
        """Words the recogniser was trained on: a span made only of them is taken as said (None: no such check)."""
        self.exact = {tuple(p.lower().split()) for p in phrases if p.strip()}
        """Every phrase, as words: said exactly, its words are never respelled (even a phrase too short to
        be a target itself)."""
        self.phrases = [(w, sound_key("".join(w))) for w in sorted(self.exact) if len(sound_key("".join(w))) >= MIN_KEY]

    def rewrites(self, path: Prefix) -> list[Rewrite]:
        """Non-overlapping spans of `path` that sound like a phrase they are not, in order. Words already
        spelling a phrase are never part of a span."""
        locked = [False] * len(path)
        for words in self.exact:
            for i in range(len(path) - len(words) + 1):
                if path[i : i + len(words)] == words:
                    locked[i : i + len(words)] = [True] * len(words)
        found: list[Rewrite] = []
        for words, key in self.phrases:
            for length in range(max(1, len(words) - 1), len(words) + 2):
                for i in range(len(path) - length + 1):
                    span = path[i : i + length]
                    if any(locked[i : i + length]) or (self.known and all(w in self.known for w in span)):
                        continue
                    d = Levenshtein.normalized_distance(sound_key("".join(span)), key)
                    if d <= self.max_distance:
                        found.append(Rewrite(i, i + length, words, d))
        chosen: list[Rewrite] = []
        for r in sorted(found, key=lambda r: (r.distance, -(r.stop - r.start))):
            if all(r.stop <= c.start or r.start >= c.stop for c in chosen):
                chosen.append(r)
        return sorted(chosen, key=lambda r: r.start)

    def apply(self, path: Prefix) -> Prefix:
        out: list[str] = []
        at = 0
        for r in self.rewrites(path):
            out.extend(path[at : r.start])
            out.extend(r.phrase)
            at = r.stop
        return (*out, *path[at:])

    def respell(self, lattice: Lattice, nbest: int = 4) -> Lattice:
        """The lattice with a respelled path beside each of its `nbest` best paths that has a near miss."""
        if not self.phrases:
            return lattice
        out = lattice.copy()
        for path, score in sorted(lattice.finals.items(), key=lambda kv: kv[1], reverse=True)[:nbest]:
            new = self.apply(path)
            if new == path:
                continue
            out.add_path_like(path, new)
            out.add_final(new, score + MARGIN)
        return out
