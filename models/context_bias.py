"""Learned contextual biasing: attention from the transducer over the letters of the user's phrases.

Shallow fusion adds a fixed bonus to letters that spell a context phrase; it cannot
tell a contact it hears from one it merely can spell. Here the model learns it.
Each phrase (" meg bauer ") is read by a small bidirectional LSTM, one vector per
letter position; the encoder's frame and the prediction network's state both
attend over all positions of all phrases, plus a "none" entry, and what they read
is added back to them before the joint network. It works as a learned pointer:
after "call me" the prediction network finds the "e" of " meg" whose vector knows
that a "g" follows, while the audio of the name finds the phrase it sounds like.

Trained jointly with the transducer on random context lists (the request's own
names, sometimes left out, among distractors); the layers that write back start
at zero, so adding it to a trained recogniser changes nothing until it learns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from models.tokens import SPACE, encode


@dataclass
class ContextMemory:
    """Encoded phrases of a batch: keys and values (B, M, D) and which entries exist (B, M)."""

    keys: torch.Tensor
    values: torch.Tensor
    valid: torch.Tensor


class ContextBiaser(nn.Module):
    def __init__(self, vocab: int, embed: int, dim: int, enc_hidden: int, pred_hidden: int) -> None:
        super().__init__()
        self.dim = dim
        self.embed = nn.Embedding(vocab, embed)
        self.reader = nn.LSTM(embed, dim // 2, batch_first=True, bidirectional=True)
        self.none = nn.Parameter(torch.zeros(1, dim))
        self.key = nn.Linear(dim, dim)
        self.enc_query = nn.Linear(enc_hidden, dim)
        self.pred_query = nn.Linear(pred_hidden, dim)
        self.enc_write = nn.Linear(dim, enc_hidden)
        self.pred_write = nn.Linear(dim, pred_hidden)
        for layer in (self.enc_write, self.pred_write):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    @staticmethod
    def tokens(phrases: Sequence[str]) -> list[list[int]]:
        """Each phrase as units between word boundaries: " meg bauer "."""
        return [[SPACE, *encode(p), SPACE] for p in phrases if p.strip()]

    def memory(self, contexts: Sequence[Sequence[str]]) -> ContextMemory:
        """One context (a list of phrases) per batch row; an empty one holds only the "none" entry."""
        rows = [self.tokens(c) for c in contexts]
        flat = [t for r in rows for t in r]
        width = 1 + max((sum(len(t) for t in r) for r in rows), default=0)
        # Entry j of row b is row `where[b, j]` of the table: 0 the "none" entry, then every letter position.
        where = torch.zeros(len(rows), width, dtype=torch.long)
        table = self.none
        if flat:
            lengths = torch.tensor([len(t) for t in flat])
            padded = torch.zeros(len(flat), int(lengths.max()), dtype=torch.long)
            for i, t in enumerate(flat):
                padded[i, : len(t)] = torch.tensor(t)
            dev = self.none.device
            packed = pack_padded_sequence(self.embed(padded.to(dev)), lengths, batch_first=True, enforce_sorted=False)
            read, _ = pad_packed_sequence(self.reader(packed)[0], batch_first=True)
            table = torch.cat([self.none, read[torch.arange(read.shape[1], device=dev) < lengths.to(dev)[:, None]]])
            at = 1
            for b, r in enumerate(rows):
                n = sum(len(t) for t in r)
                where[b, 1 : 1 + n] = torch.arange(at, at + n)
                at += n
        where = where.to(self.none.device)
        valid = torch.zeros_like(where, dtype=torch.bool)
        valid[:, 0] = True
        valid |= where > 0
        values = table[where]
        return ContextMemory(self.key(values), values, valid)

    def _read(self, query: torch.Tensor, mem: ContextMemory) -> torch.Tensor:
        """query (B, Q, D) -> what it reads from the memory (B, Q, D)."""
        scores = torch.einsum("bqd,bmd->bqm", query, mem.keys) / math.sqrt(self.dim)
        scores = scores.masked_fill(~mem.valid[:, None, :], -torch.inf)
        return torch.einsum("bqm,bmd->bqd", torch.softmax(scores, -1), mem.values)

    def bias_encoder(self, enc: torch.Tensor, mem: ContextMemory, strength: float = 1.0) -> torch.Tensor:
        """enc (B, T, H): each frame plus what it reads, scaled by `strength` (a decoding-time setting)."""
        if strength == 0.0:
            return enc
        return enc + strength * self.enc_write(self._read(self.enc_query(enc), mem))

    def bias_predictor(self, pred: torch.Tensor, mem: ContextMemory) -> torch.Tensor:
        """pred (B, U, H): each prediction-network output plus what it reads."""
        return pred + self.pred_write(self._read(self.pred_query(pred), mem))
