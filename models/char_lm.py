"""A character n-gram language model of broad English text, for shallow fusion in the device's first pass.

The recogniser writes letters. Its stateless prediction network reads the last
four of them, so what it knows of spelling is a short letter model of the
training requests: it writes words the way they sound ("nomber", "tuch") when
the audio is unclear, and leans to the request grammar's letter sequences.
This model knows how English is spelled from far more text than was spoken
(the train share of the word lists and general sentences): added to the
search's scores at a tuned weight (`nodes.decoder.beam`), it pulls a spelling
towards real words without a fixed vocabulary, so names and words it never
saw can still be written.

Interpolated Kneser-Ney over characters (space, a-z, apostrophe, and the end
of the sentence), one discount per order (Ney's estimate). Every context seen
at least `min_count` times keeps its whole distribution, quantised to a tenth
of a nat in a byte; a context left out reads its longest kept suffix.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from models.tokens import CHARS

BOS = "<"
EOS = ">"
UNITS = CHARS + EOS
"""The model's outcomes: the recogniser's characters (in its unit order) and the end of the sentence."""
END = len(CHARS)
"""Column of the end of the sentence in a distribution row."""
STEP = 0.1
"""Quantisation step of the stored negative log-probabilities (nats)."""
SHIPPED = Path(__file__).resolve().parent.parent / "weights" / "char_lm.npz"
LM_WEIGHT = 0.4
"""Weight of its log-probabilities in the recogniser's search (shallow fusion), tuned on dev."""
LM_BONUS = 0.9
"""Score per unit it scores in the search, against its pull towards shorter hypotheses; tuned on dev."""
LM_PHRASE_LOGPROB = -1.0
"""Log-probability the search gives each letter along one of the user's context phrases instead of this
model's (about an average letter's); tuned on dev."""
ILM_WEIGHT = 0.2
"""Share of the recogniser's internal language model subtracted where this one is added; tuned on dev."""


@dataclass(eq=False)
class CharNgram:
    """Distributions over `UNITS` for the contexts kept, longest suffix first."""

    order: int
    contexts: dict[str, int]
    """Context string (at most `order` - 1 characters, `BOS` padding at the start) -> row of `table`."""
    table: np.ndarray
    """(contexts, len(UNITS)) uint8: -log p / STEP."""

    @classmethod
    def train(cls, texts: Iterable[str], order: int = 6, min_count: int = 10) -> CharNgram:
        """Count and smooth. `texts`: sentences as the recogniser writes them (see `corpus.wordlists.normalise`)."""
        index = {c: i for i, c in enumerate(UNITS)}
        grams: dict[int, Counter[str]] = {order: Counter()}
        pad = BOS * (order - 1)
        for text in texts:
            s = pad + "".join(c for c in text if c in index) + EOS
            grams[order].update(s[i - order : i] for i in range(order, len(s) + 1))
        for n in range(order - 1, 0, -1):  # lower orders count the distinct characters before (Kneser-Ney)
            grams[n] = Counter(g[1:] for g in grams[n + 1])
        rows: dict[str, np.ndarray] = {}
        lower: dict[str, np.ndarray] = {"": np.full(len(UNITS), 1.0 / len(UNITS))}
        for n in range(1, order + 1):
            by_context: dict[str, np.ndarray] = {}
            for g, c in grams[n].items():
                by_context.setdefault(g[:-1], np.zeros(len(UNITS)))[index[g[-1]]] += c
            counts = np.array(list(grams[n].values()))
            n1, n2 = (counts == 1).sum(), (counts == 2).sum()
            discount = n1 / (n1 + 2 * n2) if n1 else 0.5
            current = {}
            for h, c in by_context.items():
                total = c.sum()
                back = lower[h[1:]] if n > 1 else lower[""]
                p = np.maximum(c - discount, 0) / total + discount * (c > 0).sum() / total * back
                current[h] = p
                if n <= 2 or total >= min_count:
                    rows[h] = p
            lower = current
        keys = sorted(rows, key=lambda h: (len(h), h))
        table = np.stack([rows[h] for h in keys])
        quantised = np.clip(np.round(-np.log(table) / STEP), 0, 255).astype(np.uint8)
        return cls(order, {h: i for i, h in enumerate(keys)}, quantised)

    def save(self, path: str | Path) -> None:
        keys = np.array(list(self.contexts), dtype=f"<U{max(1, self.order - 1)}")
        np.savez_compressed(path, order=np.array(self.order), keys=keys, table=self.table)

    @classmethod
    def load(cls, path: str | Path) -> CharNgram:
        with np.load(path, allow_pickle=False) as z:
            keys = [str(k) for k in z["keys"]]
            return cls(int(z["order"]), {k: i for i, k in enumerate(keys)}, z["table"])

    @lru_cache(maxsize=65536)  # noqa: B019 - one model per process, its contexts are few
    def logprobs(self, history: str) -> np.ndarray:
        """log p(unit | history) over `UNITS` (float32); `history`: the text so far of the sentence."""
        h = (BOS * (self.order - 1) + history)[-(self.order - 1) :] if self.order > 1 else ""
        while h not in self.contexts:
            h = h[1:]
        return -STEP * self.table[self.contexts[h]].astype(np.float32)

    def score(self, text: str) -> float:
        """log p(text, end of sentence)."""
        text = "".join(c for c in text if c in CHARS)
        total = sum(float(self.logprobs(text[:i])[CHARS.index(c)]) for i, c in enumerate(text))
        return total + float(self.logprobs(text)[END])

    def perplexity(self, texts: Iterable[str]) -> float:
        """Per character (the end of each sentence counted as one)."""
        logp, n = 0.0, 0
        for t in texts:
            logp += self.score(t)
            n += len(t) + 1
        return math.exp(-logp / max(n, 1))
