"""A word-level LSTM language model with classes, for second-pass rescoring in the cloud.

Contact first names, last names and device names are replaced by class tokens
(`<first>`, `<last>`, `<device>`) in the training text, and so are cities,
countries and shopping items (`<city>`, `<country>`, `<item>`), so the model
learns where a name goes, not which names exist. At rescoring time the words of a
hypothesis that match the stream's context phrases are scored through their
class token plus the log-probability of the member within the class (uniform
over the context's candidates); a name the model never saw costs no more than
one it did. The same holds for the **catalogs** the checkpoint carries (tens of
thousands of cities, people's names, countries, items: knowledge a device does
not have): a span that is a catalog entry may be read as its class token plus
log(1 / entries of the catalog); all readings are summed. A single
in-vocabulary word is offered to the place and item catalogs only (offering every
common word that is also a surname would multiply the readings). Other out-of-vocabulary words become
`<unk>` and pay a fixed penalty (`unk_logprob`), whatever the network says about `<unk>`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
FIRST, LAST, DEVICE = "<first>", "<last>", "<device>"
CITY, COUNTRY, ITEM = "<city>", "<country>", "<item>"
CLASSES = (FIRST, LAST, DEVICE, CITY, COUNTRY, ITEM)
SPECIALS = (PAD, BOS, EOS, UNK, *CLASSES)
PEOPLE = (FIRST, LAST)
CATALOG_SLOTS = {"city": CITY, "country": COUNTRY, "item": ITEM, "item2": ITEM, "first": FIRST, "last": LAST}
"""Slots of the speech set whose values are catalog entries, and the class token each stands for."""


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
    for slot, token in CATALOG_SLOTS.items():
        if value := slots.get(slot):
            spans.append((tuple(value.split()), (token,)))
    artist = slots.get("artist", "").split()
    if len(artist) == 2 and artist[0] != "the":  # "play ... by {first} {last}"
        spans.append((tuple(artist), (FIRST, LAST)))
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
    by_first: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)
    """The phrases by their first word: a word is compared only with the phrases it may begin."""

    @classmethod
    def from_phrases(cls, phrases: Iterable[str]) -> NameClasses:
        out = cls()
        for p in phrases:
            words = tuple(p.lower().split())
            if not words:
                continue
            if words not in out.phrases:
                out.by_first.setdefault(words[0], []).append(words)
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
        for p in self.by_first.get(w, ()):
            if tuple(words[i : i + len(p)]) == p:
                out.append((len(p), DEVICE, -math.log(len(self.phrases))))
        return out


@dataclass
class Catalogs:
    """Large lists the cloud holds (cities, people's names, countries, items), each read as one class token.

    A span of 1 to `max_words` words that is an entry of a catalog may stand for that catalog's
    class token, at log(1 / its entries); `entries` maps a class token to its entries (word tuples).
    """

    entries: dict[str, frozenset[tuple[str, ...]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.logp = {k: -math.log(len(v)) for k, v in self.entries.items() if v}
        self.max_words = max((len(e) for v in self.entries.values() for e in v), default=0)
        self.words = frozenset(w for v in self.entries.values() for e in v for w in e)

    @classmethod
    def from_lists(cls, lists: dict[str, Iterable[str]]) -> Catalogs:
        return cls({k: frozenset(tuple(e.split()) for e in v if e.split()) for k, v in lists.items()})

    def to_lists(self) -> dict[str, list[str]]:
        return {k: sorted(" ".join(e) for e in v) for k, v in self.entries.items()}

    def __bool__(self) -> bool:
        return bool(self.logp)

    def sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.entries.items()}

    def options(self, words: Sequence[str], i: int, known: Callable[[str], bool]) -> list[tuple[int, str, float]]:
        """(words consumed, class token, member log-probability) of the catalog entries that start at `i`;
        a single word the network `known`s as a word is offered only to the place and item catalogs (many
        common words are also someone's name)."""
        out = []
        for n in range(1, min(self.max_words, len(words) - i) + 1):
            span = tuple(words[i : i + n])
            word_known = n == 1 and known(span[0])
            for token, entries in self.entries.items():
                if word_known and token in PEOPLE:
                    continue
                if span in entries:
                    out.append((n, token, self.logp[token]))
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
    tie: bool = False
    """Output layer shares the input embedding (needs embed == hidden): half the parameters of a large vocabulary."""


class WordLM(nn.Module):
    """An LSTM over word and class tokens; `score` gives sentence log-probabilities (natural log)."""

    def __init__(self, config: LMConfig) -> None:
        super().__init__()
        if tuple(config.vocab[:4]) != SPECIALS[:4]:
            raise ValueError("the vocabulary must start with the special tokens")  # then its classes (older: fewer)
        self.config = config
        self.index = {w: i for i, w in enumerate(config.vocab)}
        self.embed = nn.Embedding(len(config.vocab), config.embed, padding_idx=0)
        self.lstm = nn.LSTM(config.embed, config.hidden, config.layers, batch_first=True)
        self.drop = nn.Dropout(config.dropout)
        self.out = nn.Linear(config.hidden, len(config.vocab))
        if config.tie:
            if config.embed != config.hidden:
                raise ValueError("a tied output layer needs embed == hidden")
            self.out.weight = self.embed.weight
        self.catalogs = Catalogs()
        """Filled from the checkpoint: the cloud's catalogs, read as classes by `variants`."""

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
            if self.catalogs and not options:  # the user's own context is the better knowledge: it alone reads
                options = self.catalogs.options(words, i, self.in_vocab)
            for n, cls, lp in options:
                walk(i + n, [*tokens, cls], member + lp, (words[i], cls))
            w = words[i]
            if self.in_vocab(w) or not options:  # an unknown word in context is only ever its class
                walk(i + 1, [*tokens, w if self.in_vocab(w) else UNK], member, (w, w))

        walk(0, [], 0.0, None)
        return out

    @torch.no_grad()
    def token_logprobs(self, sequences: list[list[str]]) -> list[list[float]]:
        """Log-probability of each token of each sequence (without <s>, with </s>), `<unk>` at its fixed penalty.

        The candidates of one lattice share most of their prefixes, and the output layer over the whole
        vocabulary is most of the work: it is computed once per distinct prefix, not once per token.
        """
        if not sequences:
            return []
        rows = [self.ids([BOS, *s, EOS]) for s in sequences]
        width = max(len(r) for r in rows)
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        for b, r in enumerate(rows):
            ids[b, : len(r)] = torch.tensor(r)
        hidden, _ = self.lstm(self.embed(ids[:, :-1]))  # eval: no dropout
        trie: dict[tuple[int, int], int] = {}
        first: list[tuple[int, int]] = [(0, 0)]  # the prefix <s>: node 0
        nodes = []
        for b, r in enumerate(rows):
            node, per = 0, []
            for k in range(len(r) - 1):
                if k:
                    key = (node, r[k])
                    if key not in trie:
                        trie[key] = len(first)
                        first.append((b, k))
                    node = trie[key]
                per.append(node)
            nodes.append(per)
        at = torch.tensor(first)
        logp = torch.log_softmax(self.out(hidden[at[:, 0], at[:, 1]]).float(), -1)
        flat_nodes = torch.tensor([n for per in nodes for n in per])
        flat_next = torch.tensor([t for r in rows for t in r[1:]])
        picked = logp[flat_nodes, flat_next].tolist()
        unk = self.index[UNK]
        out, k = [], 0
        for r in rows:
            lps = picked[k : k + len(r) - 1]
            k += len(r) - 1
            out.append([self.config.unk_logprob if t == unk else lp for t, lp in zip(r[1:], lps, strict=True)])
        return out

    def unknown_share(self, words: Sequence[str], context: Iterable[str] = ()) -> float:
        """Share of `words` in neither the vocabulary, the context nor a catalog: spellings the recogniser
        made up letter by letter, the mark of a word it did not know or did not hear well."""
        if not words:
            return 0.0
        said = {w for p in context for w in p.lower().split()}
        unknown = [w for w in words if not (self.in_vocab(w) or w in said or w in self.catalogs.words)]
        return len(unknown) / len(words)

    @torch.no_grad()
    def expects(self, words: Sequence[str], tokens: Sequence[str] = CLASSES) -> list[dict[str, float]]:
        """Per position of `words` (read word by word, unknown ones as `<unk>`), the probability of each of
        `tokens` coming next: where the model expects a city, an item, a name."""
        was_training = self.training
        self.eval()
        ids = torch.tensor([self.ids([BOS, *(w if self.in_vocab(w) else UNK for w in words)])])
        probs = torch.softmax(self(ids)[0].float(), -1)
        self.train(was_training)
        cols = {t: self.index[t] for t in tokens if t in self.index}
        return [{t: float(probs[k, c]) for t, c in cols.items()} for k in range(len(words))]

    @torch.no_grad()
    def end_prob(self, words: Sequence[str]) -> float:
        """The probability that the sentence ends after `words` (unknown ones read as `<unk>`): how finished
        a request sounds, learned from text rather than from any grammar's list of requests."""
        was_training = self.training
        self.eval()
        ids = torch.tensor([self.ids([BOS, *(w if self.in_vocab(w) else UNK for w in words)])])
        hidden, _ = self.lstm(self.embed(ids))
        prob = float(torch.softmax(self.out(hidden[0, -1]).float(), -1)[self.index[EOS]])
        self.train(was_training)
        return prob

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
        if self.config.tie:
            del state["out.weight"]  # the embedding's: stored once
        config = asdict(self.config) | {"vocab": list(self.config.vocab)}
        return {"kind": "word_lstm_lm", "config": config, "state": state, "catalogs": self.catalogs.to_lists()}

    @classmethod
    def from_checkpoint(cls, ckpt: dict) -> WordLM:
        config = dict(ckpt["config"])
        config["vocab"] = tuple(config["vocab"])
        model = cls(LMConfig(**config))
        state = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["state"].items()}
        if model.config.tie:
            state["out.weight"] = state["embed.weight"]
        model.load_state_dict(state)
        model.catalogs = Catalogs.from_lists(ckpt.get("catalogs") or {})
        return model.eval()

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
