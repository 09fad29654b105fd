"""A second pass at the end-point: context phrases put into the n-best, checked against the audio.

The beam search can only keep a name it reaches through its prefixes, and the
biasing bonus it adds on the way has to stay small (a large one fills the beam
with half-matched phrases and pushes the right words out). So after the search
we try the phrases where they might have been said instead:

- candidates are the lattice's best paths; each of those with one word span
  (1-3 words) replaced by a context phrase that sounds near it (sound-key
  distance at most `max_distance`); for a path of up to three words (an
  answer such as "lee" heard as "play", "alvarez" as "how old is"), every
  phrase on its own; and, with a CTC layer, each context phrase in a path
  swapped for each other phrase (a contact heard as another contact);
- each is read from the audio alone by the encoder's CTC layer (no language
  model in it: the prediction network pulls a lone name towards the command
  words requests start with, and it has never seen the context's names);
  with the phrase bonuses below, that reading picks the `scored` best, which
  the recogniser itself then scores: its exact RNN-T log-likelihood over the
  utterance's encoder frames (all alignments summed), read with the learned
  biasing, plus `plain_weight` times without it (the second reading only for
  the `rescore_plain` best by the first);
- a candidate's score is the sum of those readings (the CTC one times
  `ctc_weight`), `weight` per letter of the complete context phrases it
  contains (only whole phrases earn, so nothing is paid for a prefix),
  `nbest_bonus` if the search found it itself, and `first_pass_weight` times
  the search's score of the path it came from (relative to the best path);
- the lattice's finals become these candidates with these scores, so its best
  path is the second pass's choice and its n-best are the runners-up; a
  candidate's arcs reuse the times of the path it came from.

The weights were tuned on dev (weights/MODEL_CARD_asr.md). The cost is the
joint network over every (frame, distinct letter prefix) cell of the scored
candidates (`speechgraph bench asr` prints the time at the end-point);
`verify=False` turns the pass off. A model without a CTC layer gets the pass
without that reading and without the swaps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from rapidfuzz.distance import Levenshtein

from models.context_bias import ContextMemory
from models.rnnt import RNNT
from models.rnnt_loss import rnnt_loss_from_log_probs
from models.tokens import BLANK, decode, encode
from nodes.decoder.lattice import Lattice, Prefix
from nodes.decoder.respell import sound_key

WEIGHT = 4.0
"""Score per letter of a complete context phrase in a candidate (log-likelihood units)."""
PLAIN_WEIGHT = 0.25
"""Weight of the log-likelihood read without the learned biasing, beside the one read with it (weight 1)."""
CTC_WEIGHT = 1.0
"""Weight of the CTC layer's log-likelihood (the audio alone), beside the RNN-T's."""
NBEST_BONUS = 1.0
"""For a candidate the beam search found itself, over one made by putting a phrase in."""
FIRST_PASS_WEIGHT = 0.5
"""Weight of the search's own score of the path a candidate comes from, relative to its best path: a
runner-up that holds a phrase ("remind me ... the oven" for "ring eliza at home") has to beat the best path
by more than its phrase's letters."""
MAX_DISTANCE = 0.6
"""Sound-key edit distance (normalised) up to which a span may be replaced by a phrase."""
NBEST = 8
WHOLE_MAX_WORDS = 3
"""A path this short may be any phrase on its own: an answer ("alvarez") heard as a few short words."""
MAX_CANDIDATES = 32
"""At most this many substitutions are tried (the nearest first)."""
MAX_SWAPS = 32
"""At most this many phrase swaps are tried (the nearest first), beside the substitutions."""
SCORED = 16
"""Candidates (the best by the CTC reading and the bonuses) that the RNN-T reads: a bound on the time it takes.
Chosen on 300 dev rows with their contexts (`speechgraph bench asr --corpus corpus_speech --split dev --limit 300
--biased-only`): 32 / 16 / 8 give WER 0.363 / 0.363 / 0.369 and end-point work p50 49.5 / 38.5 / 32.2 ms, p90
131 / 90 / 72 ms."""
TRIM_MARGIN = 6
"""Encoder frames (240 ms) kept before the first and after the last unit the search emitted; the silence
beyond them is left out of the RNN-T's scoring (every candidate would only emit blanks there); the CTC
layer, which has to place every letter on a frame of its own, reads all of them."""
LM_SHARE = 2.0
"""Weight of the first pass's language-model score of each candidate (tuned on dev with the decoder's fusion)."""
RESCORE_PLAIN = 8
"""Candidates (the best by the biased reading) that are also read without the learned biasing: on dev, reading
all 32 chose the same as reading these 8."""
MAX_FRAMES = 750
"""Encoder frames (30 s) beyond which an utterance is left as the search found it: the pass is for requests,
and its time and memory grow with the length."""


@dataclass(frozen=True)
class Candidate:
    words: Prefix
    source: Prefix
    """The search's path it was made from (itself, if it is one)."""
    distance: float
    """Sound-key distance of the replaced span to the phrase put in; 0 for the search's own paths."""


def phrase_letters(words: Prefix, phrases: list[Prefix]) -> int:
    """Letters of the context phrases that `words` contains whole, longest first, without overlaps."""
    by_length = sorted(phrases, key=len, reverse=True)
    letters = i = 0
    while i < len(words):
        for p in by_length:
            if words[i : i + len(p)] == p:
                letters += sum(len(w) for w in p)
                i += len(p)
                break
        else:
            i += 1
    return letters


def candidates(paths: list[Prefix], phrases: list[Prefix], max_distance: float = MAX_DISTANCE) -> list[Candidate]:
    """The search's paths and their phrase substitutions, each once (nearest first)."""
    found: dict[Prefix, Candidate] = {p: Candidate(p, p, 0.0) for p in paths}
    keys = [(p, sound_key("".join(p))) for p in phrases]

    def add(words: Prefix, source: Prefix, distance: float) -> None:
        old = found.get(words)
        if old is None or distance < old.distance:
            found[words] = Candidate(words, source, distance)

    for path in paths:
        for phrase, key in keys:
            if 1 <= len(path) <= WHOLE_MAX_WORDS and path != phrase:
                add(phrase, path, 1.0)
            for length in range(1, 4):
                for i in range(len(path) - length + 1):
                    span = path[i : i + length]
                    if span == phrase:
                        continue
                    d = Levenshtein.normalized_distance(sound_key("".join(span)), key)
                    if d <= max_distance:
                        add((*path[:i], *phrase, *path[i + length :]), path, d)
    return sorted(found.values(), key=lambda c: c.distance)


def swaps(paths: list[Prefix], phrases: list[Prefix], skip: set[Prefix]) -> list[Candidate]:
    """Each context phrase in a path swapped for each other phrase, each once and none in `skip` (nearest
    first): the search may hear one contact as another, however different they sound."""
    keys = {p: sound_key("".join(p)) for p in phrases}
    found: dict[Prefix, Candidate] = {}
    for path in paths:
        for said in phrases:
            for i in range(len(path) - len(said) + 1):
                if path[i : i + len(said)] != said:
                    continue
                for other in phrases:
                    if other == said:
                        continue
                    words = (*path[:i], *other, *path[i + len(said) :])
                    if words not in skip and words not in found:
                        d = Levenshtein.normalized_distance(keys[said], keys[other])
                        found[words] = Candidate(words, path, d)
    return sorted(found.values(), key=lambda c: c.distance)


class PhraseVerifier:
    """The second pass for one model (see the module's docstring)."""

    def __init__(
        self,
        model: RNNT,
        weight: float = WEIGHT,
        plain_weight: float = PLAIN_WEIGHT,
        ctc_weight: float = CTC_WEIGHT,
        nbest_bonus: float = NBEST_BONUS,
        first_pass_weight: float = FIRST_PASS_WEIGHT,
        max_distance: float = MAX_DISTANCE,
        nbest: int = NBEST,
        max_candidates: int = MAX_CANDIDATES,
        max_swaps: int = MAX_SWAPS,
        scored: int = SCORED,
        rescore_plain: int = RESCORE_PLAIN,
        lm_share: float = LM_SHARE,
    ) -> None:
        self.model = model
        self.weight = weight
        self.plain_weight = plain_weight
        self.ctc_weight = ctc_weight if model.ctc_head is not None else 0.0
        self.nbest_bonus = nbest_bonus
        self.first_pass_weight = first_pass_weight
        self.max_distance = max_distance
        self.nbest = nbest
        self.max_candidates = max_candidates
        self.max_swaps = max_swaps if self.ctc_weight else 0
        self.scored = scored
        self.rescore_plain = rescore_plain
        self.lm_share = lm_share
        """Weight of the first pass's language-model score of a candidate (`rescore`'s `lm`), beside the
        recogniser's readings: without it the second pass picks what the recogniser alone prefers."""

    @torch.no_grad()
    def rescore(
        self,
        lattice: Lattice,
        enc: torch.Tensor,
        memory: ContextMemory | None,
        phrases: list[str],
        window: tuple[int, int] | None = None,
        lm: Callable[[Prefix], float] | None = None,
    ) -> Lattice:
        """The lattice with its finals replaced by the scored candidates. enc: (1, T, H) encoder frames up to the
        end-point; the RNN-T reads only `window` of them (where the search heard something), the CTC layer all;
        `lm`: the first pass's language-model score of a candidate's words (`lm_share` of it is added)."""
        if not phrases or not lattice.finals or enc.shape[1] == 0:
            return lattice
        context = [tuple(p.split()) for p in phrases]
        ranked = sorted(lattice.finals.items(), key=lambda kv: kv[1], reverse=True)[: self.nbest]
        first_pass = {p: s - ranked[0][1] for p, s in ranked}
        cands = candidates(list(first_pass), context, self.max_distance)[: self.max_candidates]
        cands += swaps(list(first_pass), context, {c.words for c in cands})[: self.max_swaps]
        bonus = [
            self.weight * phrase_letters(c.words, context)
            + (self.nbest_bonus if c.words == c.source else 0.0)
            + self.first_pass_weight * first_pass[c.source]
            + (self.lm_share * lm(c.words) if lm is not None and self.lm_share else 0.0)
            for c in cands
        ]
        ctc = self.ctc_log_likelihoods(enc, [c.words for c in cands]) if self.ctc_weight else []
        possible = [i for i, x in enumerate(ctc) if math.isfinite(x)]  # CTC needs a frame per letter
        if possible:
            bonus = [b + self.ctc_weight * x for b, x in zip(bonus, ctc, strict=True)]
            best = sorted(possible, key=lambda i: bonus[i], reverse=True)[: self.scored]
        else:
            best = list(range(min(len(cands), self.scored)))
        cands, bonus = [cands[i] for i in best], [bonus[i] for i in best]
        if window is not None:
            enc = enc[:, window[0] : window[1]]
        learned = self.log_likelihoods(enc, memory, [c.words for c in cands])
        # As if the plain reading agreed with the biased one: the best of these are read again without it.
        first = sorted(range(len(cands)), key=lambda i: (1 + self.plain_weight) * learned[i] + bonus[i], reverse=True)
        if memory is not None and self.model.biaser is not None:
            keep = first[: self.rescore_plain]
            plain = self.log_likelihoods(enc, None, [cands[i].words for i in keep])
        else:  # no learned biasing: the one reading is the plain one
            keep, plain = first, [learned[i] for i in first]
        out = Lattice(dict(lattice.arcs), {}, lattice.reading)
        for i, pl in zip(keep, plain, strict=True):
            c = cands[i]
            score = learned[i] + self.plain_weight * pl + bonus[i]
            if c.words != c.source:
                out.add_path_like(c.source, c.words)
            out.add_final(c.words, score)
        return out

    def reading(self, enc: torch.Tensor) -> str | None:
        """What the CTC layer alone reads from encoder frames (1, T, H): its best label per frame, repeats and
        blanks dropped (None without a CTC layer)."""
        if self.model.ctc_head is None:
            return None
        best = self.model.ctc_head(enc[0]).argmax(-1).tolist()
        letters = [k for i, k in enumerate(best) if k != BLANK and (i == 0 or k != best[i - 1])]
        return " ".join(decode(letters).split())

    def ctc_log_likelihoods(self, enc: torch.Tensor, texts: list[Prefix]) -> list[float]:
        """log P(text | audio) of each text under the encoder's CTC layer (-inf where the frames are too few)."""
        log_probs = torch.log_softmax(self.model.ctc_head(enc[0]), dim=-1)  # (T, V)
        seqs = [encode(" ".join(t)) for t in texts]
        n = len(seqs)
        targets = torch.zeros(n, max(1, *(len(q) for q in seqs)), dtype=torch.long)  # padding is never read
        for b, q in enumerate(seqs):
            targets[b, : len(q)] = torch.tensor(q, dtype=torch.long)
        nll = torch.nn.functional.ctc_loss(
            log_probs[:, None].expand(-1, n, -1),
            targets,
            torch.full((n,), log_probs.shape[0], dtype=torch.long),
            torch.tensor([len(q) for q in seqs], dtype=torch.long),
            reduction="none",
        )
        return (-nll).tolist()

    def log_likelihoods(self, enc: torch.Tensor, memory: ContextMemory | None, texts: list[Prefix]) -> list[float]:
        """log P(text | audio) of each text, summed over alignments; read over `memory` by the learned biasing
        if it is given.

        Candidates share most of their letters (all those before the span they change), and the joint
        network's output at (frame, position) depends only on the letters before the position: so it is
        computed once per distinct prefix and gathered back for each candidate."""
        if not texts:
            return []
        model = self.model
        seqs = [encode(" ".join(t)) for t in texts]
        n, width = len(seqs), 1 + max(len(q) for q in seqs)
        labels = torch.zeros(n, width, dtype=torch.long)  # blank first, then the letters
        for b, q in enumerate(seqs):
            labels[b, 1 : 1 + len(q)] = torch.tensor(q, dtype=torch.long)
        pred, _ = model.predictor(labels)  # (n, width, H): row u has read the first u letters
        prefix_row: dict[tuple[int, ...], int] = {}
        first_seen: list[tuple[int, int]] = []
        rows = torch.zeros(n, width, dtype=torch.long)  # past a candidate's end: any row (never read)
        for b, q in enumerate(seqs):
            for u in range(len(q) + 1):
                key = tuple(q[:u])
                if key not in prefix_row:
                    prefix_row[key] = len(first_seen)
                    first_seen.append((b, u))
                rows[b, u] = prefix_row[key]
        at = torch.tensor(first_seen)
        unique = pred[at[:, 0], at[:, 1]][None]  # (1, R, H)
        if memory is not None and model.biaser is not None:
            unique = model.biaser.bias_predictor(unique, memory)
        hidden = model.joint.enc(enc[0])[:, None] + model.joint.pred(unique[0])[None]  # (T, R, J)
        log_probs = torch.log_softmax(model.joint.out(hidden.tanh_()).float(), dim=-1)  # (T, R, V)
        # per candidate, only what the loss reads: the blank at each (t, u), and the next letter
        blank = log_probs[:, rows, BLANK].permute(1, 0, 2)  # (n, T, width)
        emit = log_probs[:, rows[:, :-1], labels[:, 1:]].permute(1, 0, 2)  # (n, T, width - 1)
        t_len = torch.full((n,), enc.shape[1])
        u_len = torch.tensor([len(q) for q in seqs])
        nll = rnnt_loss_from_log_probs(blank, emit, t_len, u_len, reduction="none")
        return (-nll).tolist()
