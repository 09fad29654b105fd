"""End-of-query model: how likely the user has finished the request, at each 32 ms VAD window.

Trailing silence alone cannot tell "call [pause] meg bauer" from "call meg bauer
[silence]"; the decoder's view of the words can. The model reads what the
end-pointer already has at a window end t (voice activity, the decoder's trailing
blank, whether its best hypothesis is a complete request, how many words it has)
and says P(speech has ended by t). A small MLP in numpy: the end-pointer runs it
every window of every stream, and it must not need torch at run time.

Trained by `speechgraph train eoq` (training/eoq.py) on the corpus's train split;
weights in `weights/endpointer_eoq.json`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "endpointer_eoq.json"
SPEECH = 0.5
STRICT = 0.7
"""VAD probabilities counted as speech in the model's two silence features (a lenient and a strict one)."""
HISTORY = 16
FEATURES = (
    "silence_s",
    "blank_s",
    "complete",
    "complete_x_silence",
    "complete_x_blank",
    "strict_silence_s",
    "complete_x_strict_silence",
    "strict_silence_and_blank",
    "vad_128ms",
    "vad_512ms",
    "words",
    "elapsed_s",
)


def features(
    recent_probs: np.ndarray,
    silence_s: np.ndarray,
    blank_s: np.ndarray,
    complete: np.ndarray,
    words: np.ndarray,
    elapsed_s: np.ndarray,
    strict_silence_s: np.ndarray,
) -> np.ndarray:
    """Rows of FEATURES, once speech has been heard (the model is not asked before).

    `recent_probs`: (n, HISTORY) VAD probabilities of the last windows, newest last
    (zeros before the stream began); `silence_s`, `strict_silence_s`: since the last window at or
    above SPEECH, STRICT.
    """
    silence = np.minimum(silence_s, 2.0)
    blank = np.minimum(blank_s, 2.0)
    strict = np.minimum(strict_silence_s, 2.0)
    c = complete.astype(np.float32)
    return np.stack(
        [
            silence,
            blank,
            c,
            c * silence,
            c * blank,
            strict,
            c * strict,
            np.minimum(strict, blank),
            recent_probs[:, -4:].mean(1),
            recent_probs.mean(1),
            np.minimum(words, 10) / 10.0,
            np.minimum(elapsed_s, 10.0) / 10.0,
        ],
        axis=1,
    ).astype(np.float32)


class EndOfQuery:
    """features -> standardise -> tanh layer -> logistic output."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: float):
        self.mean, self.std = mean.astype(np.float32), std.astype(np.float32)
        self.w1, self.b1, self.w2, self.b2 = w1.astype(np.float32), b1.astype(np.float32), w2.astype(np.float32), b2

    def prob(self, x: np.ndarray) -> np.ndarray:
        h = np.tanh(((x - self.mean) / self.std) @ self.w1 + self.b1)
        return 1.0 / (1.0 + np.exp(-(h @ self.w2 + self.b2)))

    def to_dict(self) -> dict:
        return {
            "features": list(FEATURES),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "w1": self.w1.tolist(),
            "b1": self.b1.tolist(),
            "w2": self.w2.tolist(),
            "b2": float(self.b2),
        }

    @classmethod
    def from_dict(cls, d: dict) -> EndOfQuery:
        if tuple(d["features"]) != FEATURES:
            raise ValueError(f"end-of-query weights were trained on other features: {d['features']}")
        arr = {k: np.asarray(d[k], np.float32) for k in ("mean", "std", "w1", "b1", "w2")}
        return cls(arr["mean"], arr["std"], arr["w1"], arr["b1"], arr["w2"], float(d["b2"]))

    @classmethod
    def load(cls, path: str | Path | None = None) -> EndOfQuery:
        path = Path(path) if path else DEFAULT_WEIGHTS
        if not path.exists():
            raise FileNotFoundError(f"no end-of-query weights at {path} (train them: speechgraph train eoq)")
        return cls.from_dict(json.loads(path.read_text()))
