"""How sure a result is: word and utterance confidence from the posteriors of a lattice's paths.

The rescorer ranks a lattice's candidates by their combined scores; a softmax of
those scores over `temperature` is each candidate's posterior. A word of the best
candidate is as sure as the posterior mass of the candidates that, aligned to it
word by word (edit distance), hold the same word there: where every path agrees
the word is sure; where they split, it is not. The utterance's raw confidence is
the smallest word confidence (one doubtful word is enough to act wrongly);
a small logistic calibration fitted on dev (`bench rescore`) maps that, the best
path's posterior, the LM's per-word log-probability, the share of words the cloud
knows from nowhere (a spelling made up letter by letter) and how far the transcript is,
letter by letter, from what the recogniser's CTC layer alone read from the audio (the
lattice's `reading`: when the prediction network wrote a fluent request the audio does
not hold, the two part) to the probability that the whole transcript is right. The NLU
refuses to act below its threshold.

`ConfidenceConfig` holds the settings; its tuned values live in `weights/confidence.json`
(written by `speechgraph bench rescore`, with the NLU's threshold, `nodes.nlu.node.NLUConfig`);
without it the raw confidence is used as it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from nodes.config import WEIGHTS, TunedConfig

FEATURES = ("min_word", "posterior", "lm_per_word", "1/words", "unknown_share", "reading_distance")
"""The calibration's inputs, in order (see `feature_vector`)."""


def posteriors(scores: Sequence[float], temperature: float = 1.0) -> list[float]:
    """Softmax of the scores over `temperature` (a larger one spreads the mass)."""
    if not scores:
        return []
    t = max(temperature, 1e-6)
    top = max(scores)
    exp = [math.exp((s - top) / t) for s in scores]
    total = sum(exp)
    return [e / total for e in exp]


def align(ref: Sequence[str], hyp: Sequence[str]) -> list[str | None]:
    """For each word of `ref`, the word of `hyp` aligned to it by edit distance (None where it was deleted)."""
    n, m = len(ref), len(hyp)
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        cost[i][0] = i
    for j in range(m + 1):
        cost[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            sub = cost[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1])
            cost[i][j] = min(sub, cost[i - 1][j] + 1, cost[i][j - 1] + 1)
    out: list[str | None] = [None] * n
    i, j = n, m
    while i > 0 and j > 0:
        if cost[i][j] == cost[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            out[i - 1] = hyp[j - 1]
            i, j = i - 1, j - 1
        elif cost[i][j] == cost[i - 1][j] + 1:
            i -= 1
        else:
            j -= 1
    return out


def word_confidences(ranked: Sequence[tuple[str, float]], temperature: float = 1.0) -> tuple[list[float], list[float]]:
    """(confidence of each word of the best candidate, posterior of each candidate), best first."""
    if not ranked:
        return [], []
    post = posteriors([s for _, s in ranked], temperature)
    best = ranked[0][0].split()
    conf = [0.0] * len(best)
    for (text, _), p in zip(ranked, post, strict=True):
        words = text.split()
        aligned = best if words == best else align(best, words)
        for k, w in enumerate(aligned):
            if w == best[k]:
                conf[k] += p
    return [min(1.0, c) for c in conf], post


def reading_distance(text: str, reading: str | None) -> float | None:
    """Letter edit distance between a transcript and the CTC reading of its audio, over the longer of the two
    (0: the same letters, 1: nothing in common; None without a reading)."""
    return None if reading is None else Levenshtein.normalized_distance(text, reading)


def feature_vector(
    word_conf: Sequence[float],
    posterior: float,
    lm_per_word: float | None,
    fill: float,
    unknown_share: float = 0.0,
    reading: float | None = None,
    reading_fill: float = 0.0,
) -> list[float]:
    """The calibration's inputs (`FEATURES`): min word confidence, best posterior, LM log-prob per word (or
    `fill` when the LM did not run), 1/words, share of words in no vocabulary, context or catalog, distance
    from the CTC reading (`reading_distance`; or `reading_fill` without one)."""
    return [
        min(word_conf, default=posterior),
        posterior,
        fill if lm_per_word is None else lm_per_word,
        1.0 / max(1, len(word_conf)),
        unknown_share,
        reading_fill if reading is None else reading,
    ]


@dataclass(frozen=True)
class ConfidenceConfig(TunedConfig):
    """How the rescorer turns a lattice's scores into confidence (tuned on dev by `bench rescore`)."""

    FILE = WEIGHTS / "confidence.json"
    TUNED = ("temperature", "weights", "lm_fill", "reading_fill", "features")

    temperature: float = 1.0
    """Of the softmax that turns the candidates' scores into posteriors: a larger one spreads the mass over
    more candidates (chosen on dev for how well the confidence tells right transcripts from wrong)."""
    weights: tuple[float, ...] = ()
    """Logistic weights over `FEATURES` then a bias; empty: the raw confidence (min word confidence)."""
    lm_fill: float = -6.0
    """The LM feature when the LM did not run (a deadline): the dev mean."""
    reading_fill: float = 0.0
    """The reading's distance when the lattice holds no CTC reading (a model without a CTC layer): the dev mean."""
    features: tuple[str, ...] = (*FEATURES, "bias")
    """What `weights` weigh, in order: a file fitted over other features is refused rather than misread."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", tuple(self.weights))  # a JSON list or a fitted list: kept immutable
        object.__setattr__(self, "features", tuple(self.features))
        if self.weights and (self.features != (*FEATURES, "bias") or len(self.weights) != len(self.features)):
            raise ValueError(
                f"confidence weights fitted over {', '.join(self.features)}; this version reads "
                f"{', '.join(FEATURES)} and a bias: run `speechgraph bench rescore` to fit them again"
            )

    def judge(
        self,
        ranked: Sequence[tuple[str, float]],
        lm_best: float | None = None,
        unknown_share: float = 0.0,
        reading: str | None = None,
    ) -> tuple[float | None, list[float], list[float]]:
        """(utterance confidence, word confidences, posteriors) of the best of `ranked` (best first); `reading`:
        the lattice's CTC reading of the audio."""
        if not ranked:
            return None, [], []
        words, post = word_confidences(ranked, self.temperature)
        per_word = None if lm_best is None else lm_best / (len(ranked[0][0].split()) + 1)
        distance = reading_distance(ranked[0][0], reading)
        return self.utterance(words, post[0], per_word, unknown_share, distance), words, post

    def utterance(
        self,
        word_conf: Sequence[float],
        posterior: float,
        lm_per_word: float | None = None,
        unknown_share: float = 0.0,
        distance: float | None = None,
    ) -> float:
        """The utterance confidence: calibrated when weights were fitted, else the smallest word confidence;
        `distance`: the transcript's from the CTC reading (`reading_distance`)."""
        x = feature_vector(word_conf, posterior, lm_per_word, self.lm_fill, unknown_share, distance, self.reading_fill)
        return self.calibrate(x)

    def calibrate(self, x: Sequence[float]) -> float:
        """Features (`feature_vector`) to the utterance confidence."""
        if not self.weights:
            return x[0]
        z = self.weights[-1] + sum(w * v for w, v in zip(self.weights, x, strict=False))
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))


def fit_logistic(x: Sequence[Sequence[float]], y: Sequence[int], l2: float = 1e-2, steps: int = 50) -> list[float]:
    """Logistic regression by Newton's method (weights, then the bias), a little L2 so it always converges."""
    import numpy as np

    a = np.hstack([np.asarray(x, dtype=float), np.ones((len(x), 1))])
    t = np.asarray(y, dtype=float)
    w = np.zeros(a.shape[1])
    reg = l2 * np.eye(a.shape[1])
    reg[-1, -1] = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-np.clip(a @ w, -40, 40)))
        grad = a.T @ (p - t) + reg @ w
        hess = (a * (p * (1 - p))[:, None]).T @ a + reg + 1e-9 * np.eye(a.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return [round(float(v), 5) for v in w]
