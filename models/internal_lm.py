"""The recogniser's internal language model, for subtracting it when an external LM is added.

An RNN-T's prediction network and joint learn the training text's letter
sequences along with the sounds, so its first-pass scores already hold a
language model of that text. Adding a second LM on top counts language twice
and favours what the device's text liked; internal-LM subtraction (Meng et al.,
2021) estimates that internal model by running the prediction network and the
joint with the encoder's contribution left out, renormalised over the
non-blank units, and subtracts a tuned share of it. With the stateless
prediction network (`models.rnnt.StatelessPredictor`) it is a letter model of
the last `pred_context` units, cheap enough for every candidate.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch

from models import tokens
from models.rnnt import RNNT

log = logging.getLogger(__name__)


class InternalLM:
    """Log-probability (natural log) of a text under the recogniser's prediction network and joint, no audio."""

    def __init__(self, model: RNNT) -> None:
        self.predictor = model.predictor.eval()
        self.joint = model.joint.eval()

    @classmethod
    def from_weights(cls, path: str | Path) -> InternalLM:
        return cls(RNNT.from_checkpoint(torch.load(path, weights_only=False, map_location="cpu")))

    @torch.no_grad()
    def score(self, texts: Sequence[str]) -> list[float]:
        """Sum over each text's units (letters, spaces) of log P(unit | the units before), blank excluded."""
        if not texts:
            return []
        rows = [tokens.encode(t) for t in texts]
        width = max(1, max(len(r) for r in rows))
        labels = torch.zeros(len(rows), width, dtype=torch.long)
        for b, r in enumerate(rows):
            labels[b, : len(r)] = torch.tensor(r, dtype=torch.long)
        start = torch.zeros(len(rows), 1, dtype=torch.long)  # blank starts, as in training
        pred, _ = self.predictor(torch.cat([start, labels], dim=1))
        # the encoder's term of the additive joint left out (its projection's bias kept: a zero encoder output)
        logits = self.joint.out(torch.tanh(self.joint.pred(pred[:, :-1]) + self.joint.enc.bias))
        logp = torch.log_softmax(logits[..., 1:], dim=-1)  # over the non-blank units
        picked = logp.gather(-1, (labels.clamp(min=1) - 1)[..., None])[..., 0]
        mask = torch.arange(width)[None, :] < torch.tensor([len(r) for r in rows])[:, None]
        return (picked * mask).sum(-1).tolist()
