"""Catalog entries and words the device could not spell: "will it rain in cocomo" -> "will it rain in
kokomo", "dial maie monte nomber" -> "dial maie monte number".

The device's recogniser spells a city it never heard letter by letter, close to
how it sounds but rarely right, and no device context holds it. The cloud holds
the catalogs (`models.lm.Catalogs`: tens of thousands of cities, countries,
items). For the best candidates, each span of one to three words holding a word
the cloud LM does not know (the mark of a spelling made up letter by letter) is
compared by sound (`nodes.decoder.respell.sound_key`, vowels weighing half) with every catalog entry of
about its length, where the LM expects an entry of that catalog to begin (the
probability of its class token there is at least `min_prob`: after "will it
rain in" a city, not after "our neighbours have"); the nearest within
`max_distance` replaces it as a new
candidate, its score lowered by a tuned penalty per rewrite, and the class-based
LM weighs it against the spelling it came from. Only text is used: no audio
reaches the cloud.

The same lookup over the LM's own vocabulary (`CatalogRespeller.vocabulary`, one
word for one word) mends the recogniser's other spellings by sound ("nomber",
"fourty"): its letters are heard right more often than its words are spelt right.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from models.lm import CITY, COUNTRY, ITEM, Catalogs
from nodes.decoder.respell import sound_key

log = logging.getLogger(__name__)

MAX_DISTANCE = 0.3
"""Largest normalised edit distance between the sound keys of a span and an entry."""
MIN_PROB = 0.01
"""A span is looked up in a catalog only where the LM gives its class token at least this probability."""
SHORTLIST = 8
"""Entries nearest by the whole key that are re-ranked by `distance` (vowels weigh half)."""
MIN_KEY = 4
"""Spans whose key is shorter than this are not looked up: almost any short word is near some city."""
CLASSES = (CITY, COUNTRY, ITEM)
"""The catalogs proposed from (people's names are the context's business on the device)."""
WORD = "<word>"
"""The vocabulary respeller's one catalog: the words the LM knows."""


@dataclass(frozen=True)
class Proposal:
    text: str
    source: str
    rewrites: int
    distance: float


def skeleton(key: str) -> str:
    """The key's consonants after its first letter: a spelling made up from sound gets vowels wrong most."""
    return key[:1] + re.sub(r"[aeiouy]", "", key[1:])


def distance(a: str, b: str) -> float:
    """Normalised edit distance of two sound keys, with vowels weighing half: "bustan" is nearer
    "boston" (0.17) than "busan" (0.21)."""
    return (Levenshtein.normalized_distance(a, b) + Levenshtein.normalized_distance(skeleton(a), skeleton(b))) / 2


class CatalogRespeller:
    """Sound keys of the catalogs' entries, sorted by length, for near-miss lookups."""

    def __init__(
        self,
        catalogs: Catalogs,
        known: Callable[[str], bool],
        expects: Callable[[Sequence[str]], list[dict[str, float]]] | None = None,
        max_distance: float = MAX_DISTANCE,
        classes: Sequence[str] = CLASSES,
        min_prob: float = MIN_PROB,
        max_span: int = 3,
    ) -> None:
        self.known = known
        """Words the cloud LM knows: a span made only of them is taken as said."""
        self.expects = expects
        """Words -> per position, the probability of each class token coming next (None: look up everywhere)."""
        self.max_distance = max_distance
        self.min_prob = min_prob
        self.max_span = max_span
        """Words a respelled span holds at most: the unknown word and up to `max_span // 2` on either side."""
        self.index: dict[str, tuple[list[int], list[str], list[str]]] = {}
        self.exact: set[str] = set()
        for c in classes:
            entries = {" ".join(e): sound_key("".join(e)) for e in catalogs.entries.get(c, ())}
            ranked = sorted((len(k), k, e) for e, k in entries.items() if len(k) >= MIN_KEY)
            self.index[c] = ([n for n, _, _ in ranked], [k for _, k, _ in ranked], [e for _, _, e in ranked])
            self.exact |= set(entries)
        self._cache: dict[tuple[str, str], tuple[str, float] | None] = {}

    @classmethod
    def vocabulary(cls, words: Iterable[str], known: Callable[[str], bool]) -> CatalogRespeller:
        """A respeller of single unknown words to the nearest-sounding of `words` (the LM's vocabulary)."""
        return cls(Catalogs.from_lists({WORD: words}), known, classes=(WORD,), max_span=1)

    def __len__(self) -> int:
        return sum(len(keys) for _, keys, _ in self.index.values())

    def nearest(self, span: str, catalog: str) -> tuple[str, float] | None:
        """The entry of `catalog` that sounds nearest to `span`, if within `max_distance` (remembered: the
        n-best repeat their spans)."""
        if (span, catalog) not in self._cache:
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[span, catalog] = self._nearest(span, catalog)
        return self._cache[span, catalog]

    def _nearest(self, span: str, catalog: str) -> tuple[str, float] | None:
        key = sound_key(span)
        if len(key) < MIN_KEY or catalog not in self.index:
            return None
        lengths, keys, entries = self.index[catalog]
        lo = bisect.bisect_left(lengths, int(len(key) * (1 - self.max_distance)))
        hi = bisect.bisect_right(lengths, int(len(key) / (1 - self.max_distance)) + 1)
        # The whole key shortlists (fast, in C); the vowel-tolerant distance picks among the shortlist.
        shortlist = process.extract(
            key,
            keys[lo:hi],
            scorer=Levenshtein.normalized_distance,
            score_cutoff=2 * self.max_distance,
            limit=SHORTLIST,
        )
        scored = [(distance(key, k), entries[lo + i]) for k, _, i in shortlist]
        best = min(scored, default=None)
        return None if best is None or best[0] > self.max_distance else (best[1], best[0])

    def rewrite(self, words: Sequence[str], keep: Collection[str] = ()) -> tuple[list[str], int, float]:
        """`words` with each non-overlapping unknown span swapped for its nearest entry; (words, rewrites,
        distance). Words in `keep` (the stream's context: names the user has) count as known."""
        found = []
        unknown = [i for i, w in enumerate(words) if not (self.known(w) or w in self.exact or w in keep)]
        if not unknown:
            return list(words), 0, 0.0
        expected = self.expects(words) if self.expects is not None else None
        reach = self.max_span // 2  # words on either side of the unknown one
        for i in unknown:
            for start in range(max(0, i - reach), i + 1):  # spans of one to `max_span` words around it
                for catalog in self.index:
                    if expected is not None and expected[start].get(catalog, 0.0) < self.min_prob:
                        continue
                    for stop in range(i + 1, min(len(words), i + 1 + reach, start + self.max_span) + 1):
                        span = " ".join(words[start:stop])
                        hit = self.nearest(span, catalog)
                        if hit is not None and hit[0] != span:
                            found.append((hit[1], -(stop - start), start, stop, hit[0]))
        chosen: list[tuple[float, int, int, int, str]] = []
        for f in sorted(found):
            if all(f[3] <= c[2] or f[2] >= c[3] for c in chosen):
                chosen.append(f)
        out, at = [], 0
        for _, _, start, stop, entry in sorted(chosen, key=lambda c: c[2]):
            out += [*words[at:start], *entry.split()]
            at = stop
        return [*out, *words[at:]], len(chosen), sum(c[0] for c in chosen)

    def propose(
        self, candidates: Sequence[tuple[str, float]], top: int = 2, keep: Collection[str] = ()
    ) -> list[Proposal]:
        """Respelled versions of the `top` best candidates (best first) that are not candidates already."""
        have = {t for t, _ in candidates}
        out = []
        for text, _ in sorted(candidates, key=lambda c: c[1], reverse=True)[:top]:
            words, n, distance = self.rewrite(text.split(), keep)
            new = " ".join(words)
            if n and new not in have:
                have.add(new)
                out.append(Proposal(new, text, n, round(distance, 3)))
        return out
