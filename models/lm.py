"""A small word-level LSTM language model with name classes, for second-pass rescoring.

Contact first names, last names and device names are replaced by class tokens
(`<first>`, `<last>`, `<device>`) in the training text, so the model learns
where a name goes, not which names exist. At rescoring time the words of a
hypothesis that match the stream's context phrases are scored through their
class token plus the log-probability of the member within the class (uniform
over the context's candidates); a name the model never saw costs no more than
one it did. Other out-of-vocabulary words become `<unk>` and pay a fixed
penalty (`unk_logprob`), whatever the network says about `<unk>`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
FIRST, LAST, DEVICE = "<first>", "<last>", "<device>"
CLASSES = (FIRST, LAST, DEVICE)
SPECIALS = (PAD, BOS, EOS, UNK, *CLASSES)


# -- class tokens in training text -------------------------------------------------------


def class_spans(slots: dict[str, str], names: Sequence[str]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(words, class tokens) for the names of a request, from its slots (grammar requests and manifest rows)."""
    spans: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    if contact := slots.get("contact"):
        words = tuple(contact.split())
        spans.append((words, (FIRST, LAST)[: len(words)] if len(words) <= 2 else (FIRST,) * len(words)))
    if device := slots.get("device"):
        spans.append((tuple(device.split()), (DEVICE,)))
    choice = slots.get("choice")
    if choice and list(names) == choice.split():  # a follow-up answer that is a last name
        spans.append(((choice,), (LAST,)))
    return spans


def with_classes(text: str, slots: dict[str, str], names: Sequence[str] = ()) -> list[str]:
    """The words of `text` with its contact and device names replaced by class tokens."""
    words = text.split()
    for phrase, tokens in class_spans(slots, names):
        n = len(phrase)
        for i in range(len(words) - n + 1):
            if tuple(words[i : i + n]) == phrase:
                words[i : i + n] = list(tokens)
                break
    return words


# -- the context's names at rescoring time ------------------------------------------------


@dataclass
class NameClasses:
    """Which hypothesis words may stand for a class, from the stream's context phrases.

    Every phrase may be a device; a phrase's first word may be a first name and its
    last word a last name (a single word may be either). A first name followed by a
    last name the context pairs it with pays only for the first name.
    """

    phrases: set[tuple[str, ...]] = field(default_factory=set)
    firsts: set[str] = field(default_factory=set)
    lasts: set[str] = field(default_factory=set)
    pairs: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def from_phrases(cls, phrases: Iterable[str]) -> NameClasses:
        out = cls()
        for p in phrases:
            words = tuple(p.lower().split())
            if not words:
                continue
            out.phrases.add(words)
            out.firsts.add(words[0])
            out.lasts.add(words[-1])
            if len(words) == 2:
                out.pairs.setdefault(words[0], set()).add(words[1])
        return out

    def __bool__(self) -> bool:
        return bool(self.phrases)

    def options(self, words: Sequence[str], i: int, prev: tuple[str, str] | None) -> list[tuple[int, str, float]]:
        """(words consumed, class token, member log-probability) for the names that may start at `i`."""
        out = []
        w = words[i]
        if w in self.firsts:
            out.append((1, FIRST, -math.log(len(self.firsts))))
        if w in self.lasts:
            paired = prev is not None and prev[1] == FIRST and w in self.pairs.get(prev[0], ())
            n = len(self.pairs[prev[0]]) if paired and prev is not None else len(self.lasts)
            out.append((1, LAST, -math.log(n)))
        for p in self.phrases:
            if tuple(words[i : i + len(p)]) == p:
                out.append((len(p), DEVICE, -math.log(len(self.phrases))))
        return out


# -- the network -------------------------------------------------------------------------


@dataclass(frozen=True)
class LMConfig:
    vocab: tuple[str, ...]
    embed: int = 128
    hidden: int = 256
    layers: int = 1
    dropout: float = 0.1
    unk_logprob: float = -12.0
    """Fixed log-probability of a word that is neither in the vocabulary nor in the context."""


class WordLM(nn.Module):
    """An LSTM over word and class tokens; `score` gives sentence log-probabilities (natural log)."""

    def __init__(self, config: LMConfig) -> None:
        super().__init__()
        if tuple(config.vocab[: len(SPECIALS)]) != SPECIALS:
            raise ValueError("the vocabulary must start with the special tokens")
        self.config = config
        self.index = {w: i for i, w in enumerate(config.vocab)}
        self.embed = nn.Embedding(len(config.vocab), config.embed, padding_idx=0)
        self.lstm = nn.LSTM(config.embed, config.hidden, config.layers, batch_first=True)
        self.drop = nn.Dropout(config.dropout)
        self.out = nn.Linear(config.hidden, len(config.vocab))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Token ids (B, T) -> next-token logits (B, T, V)."""
        h, _ = self.lstm(self.drop(self.embed(ids)))
        return self.out(self.drop(h))

    def ids(self, tokens: Sequence[str]) -> list[int]:
        unk = self.index[UNK]
        return [self.index.get(t, unk) for t in tokens]

    def in_vocab(self, word: str) -> bool:
        return word in self.index and word not in SPECIALS

    # -- scoring ---------------------------------------------------------------------------

    def variants(self, words: Sequence[str], names: NameClasses, limit: int = 32) -> list[tuple[list[str], float]]:
        """Token sequences a word sequence may stand for, each with the log-probability of its class members."""
        out: list[tuple[list[str], float]] = []

        def walk(i: int, tokens: list[str], member: float, prev: tuple[str, str] | None) -> None:
            if len(out) >= limit:
                return
            if i == len(words):
                out.append((tokens, member))
                return
            options = names.options(words, i, prev) if names else []
            for n, cls, lp in options:
                walk(i + n, [*tokens, cls], member + lp, (words[i], cls))
            w = words[i]
            if self.in_vocab(w) or not options:  # an unknown word in context is only ever its class
                walk(i + 1, [*tokens, w if self.in_vocab(w) else UNK], member, (w, w))

        walk(0, [], 0.0, None)
        return out

    @torch.no_grad()
    def token_logprobs(self, sequences: list[list[str]]) -> list[list[float]]:
        """Log-probability of each token of each sequence (without <s>, with </s>), `<unk>` at its fixed penalty."""
        if not sequences:
            return []
        rows = [self.ids([BOS, *s, EOS]) for s in sequences]
        width = max(len(r) for r in rows)
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        for b, r in enumerate(rows):
            ids[b, : len(r)] = torch.tensor(r)
        logp = torch.log_softmax(self(ids[:, :-1]).float(), -1)
        picked = logp.gather(-1, ids[:, 1:, None])[..., 0]
        unk = self.index[UNK]
        out = []
        for b, r in enumerate(rows):
            lps = picked[b, : len(r) - 1].tolist()
            out.append([self.config.unk_logprob if t == unk else lp for t, lp in zip(r[1:], lps, strict=True)])
        return out

    def score(self, sentences: Sequence[str | Sequence[str]], context: Iterable[str] = ()) -> list[float]:
        """Log-probability of each sentence: all ways its context names can be read, summed."""
        was_training = self.training
        self.eval()
        names = NameClasses.from_phrases(context)
        owners, seqs, members = [], [], []
        for k, s in enumerate(sentences):
            words = s.split() if isinstance(s, str) else list(s)
            for tokens, member in self.variants(words, names):
                owners.append(k)
                seqs.append(tokens)
                members.append(member)
        totals = [member + sum(lps) for member, lps in zip(members, self.token_logprobs(seqs), strict=True)]
        per: list[list[float]] = [[] for _ in sentences]
        for k, t in zip(owners, totals, strict=True):
            per[k].append(t)
        self.train(was_training)
        return [float(torch.logsumexp(torch.tensor(p), 0)) for p in per]

    # -- storage ---------------------------------------------------------------------------

    def checkpoint(self, half: bool = True) -> dict:
        """Config and weights; stored in float16 (half the size), loaded back as float32."""
        state = {k: v.half() if half and v.is_floating_point() else v for k, v in self.state_dict().items()}
        config = asdict(self.config) | {"vocab": list(self.config.vocab)}
        return {"kind": "word_lstm_lm", "config": config, "state": state}

    @classmethod
    def from_checkpoint(cls, ckpt: dict) -> WordLM:
        config = dict(ckpt["config"])
        config["vocab"] = tuple(config["vocab"])
        model = cls(LMConfig(**config))
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ckpt["state"].items()})
        return model.eval()

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
