"""Streaming RNN-T beam search with contextual biasing and a word lattice.

The decoder is fed normalised log-mel frames chunk by chunk. It carries the
encoder's LSTM state, the frames not yet stacked, and the beam (each hypothesis
with its prediction-network state and context-graph state) from chunk to chunk.

Search: at each encoder frame every hypothesis may emit up to `max_symbols`
units before a blank ends its frame; hypotheses with the same units are merged
(their probabilities added), and the best `beam` survive. Scores are acoustic
log-probabilities plus the biasing bonus (shallow fusion). A model with learned
biasing also reads the context itself: its prediction-network outputs (and, at
`encoder_bias` strength, its encoder frames) attend over the context's phrases
before the joint network, so what it adds is inside the acoustic scores.

Lattice: every word any hypothesis completes becomes an arc between the word
prefixes before and after it (nodes are shared prefixes), carrying its start
and end times and its acoustic and bias scores; so the lattice holds the
alternatives the search considered, not only the final n-best.

At an end-point, `lattice` also runs two passes over the n-best when there is
a context: respelling near misses (`nodes.decoder.respell`) and the second pass
that puts context phrases in and checks them against the kept encoder frames
(`nodes.decoder.verify`), which decides the lattice's final scores.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from audio import seconds
from audio.logmel import frame_end
from models.char_lm import END, ILM_WEIGHT, LM_BONUS, LM_PHRASE_LOGPROB, LM_WEIGHT, CharNgram
from models.context_bias import ContextMemory
from models.rnnt import RNNT
from models.tokens import BLANK, CHARS, SPACE, encode
from nodes.decoder import BEAM
from nodes.decoder.context import EMPTY, ENCODER_BIAS, ContextGraph
from nodes.decoder.lattice import Lattice
from nodes.decoder.level import CORRECTED, LevelConfig, LevelTracker
from nodes.decoder.respell import MAX_DISTANCE, Respeller
from nodes.decoder.verify import MAX_FRAMES, TRIM_MARGIN, PhraseVerifier

FLUSH_STEPS = 5
"""Encoder steps of padding (40 ms each) `BeamSearch.flushed` decodes at an early end-point."""


@dataclass
class Hyp:
    tokens: tuple[int, ...]
    ac: float
    bias: float
    ctx: int
    pred: torch.Tensor
    """The prediction network's output after `tokens`, read over the context and projected by the joint
    network: computed once per unit sequence, not once per frame it is scored at."""
    state: tuple[torch.Tensor, torch.Tensor]
    times: tuple[int, ...] = ()
    word_start: int = 0
    word_ac: float = 0.0
    word_bias: float = 0.0
    lm: float = 0.0
    """The character language model's weighted log-probability of `tokens` (shallow fusion; 0 without one)."""
    lm_next: np.ndarray | None = None
    """Its fused score of every next unit after `tokens` (`BeamSearch._lm_scores`): computed once, the first
    frame the hypothesis is extended, and kept while it only emits blanks."""

    @property
    def score(self) -> float:
        return self.ac + self.bias + self.lm

    def words(self) -> list[str]:
        return "".join(CHARS[t - 1] for t in self.tokens).split()


def _kth(values: Iterable[float], k: int) -> float:
    """The k-th largest value (-inf when there are fewer than k)."""
    top = sorted(values, reverse=True)
    return top[k - 1] if len(top) >= k else -math.inf


def _logaddexp(a: float, b: float) -> float:
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


@dataclass
class DecoderState:
    enc_state: tuple[torch.Tensor, torch.Tensor] | None = None
    pending: np.ndarray | None = None
    enc_frames: int = 0
    beam: list[Hyp] = field(default_factory=list)
    lattice: Lattice = field(default_factory=Lattice)
    pred_cache: dict[tuple[int, ...], tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]] = field(
        default_factory=dict
    )
    """Projected prediction-network outputs and states by what the prediction network reads (`BeamSearch.
    pred_key`): a prefix pruned at one frame often comes back at the next, and with a stateless network
    every hypothesis ending in the same few units shares one entry."""
    lm_cache: dict[tuple[int, ...], np.ndarray] = field(default_factory=dict)
    """`BeamSearch._lm_scores` rows by `BeamSearch._lm_key`: hypotheses that end alike share one."""
    started: bool = False
    enc: list[torch.Tensor] = field(default_factory=list)
    """The encoder's output chunk by chunk, kept for the second pass (`nodes.decoder.verify`)."""
    tail: np.ndarray | None = None
    """The raw log-mel frames of the last encoder step: what `BeamSearch.flushed` pads with."""
    level: LevelTracker | None = None
    """The utterance's speaking level so far (`nodes.decoder.level`; None: not corrected)."""

    def snapshot(self) -> DecoderState:
        """The search as it stands: what a step replaces is shared, what it changes in place is copied."""
        level = self.level.copy() if self.level is not None else None
        return replace(self, beam=list(self.beam), lattice=self.lattice.copy(), enc=list(self.enc), level=level)


class BeamSearch:
    """Streaming decoding for one model; one `DecoderState` per utterance."""

    def __init__(
        self,
        model: RNNT,
        beam: int = BEAM,
        max_symbols: int = 5,
        learned_bias: bool = True,
        encoder_bias: float = ENCODER_BIAS,
        respell: float = MAX_DISTANCE,
        verify: bool = True,
        batch: bool = True,
        lm: CharNgram | None = None,
        lm_weight: float = LM_WEIGHT,
        lm_bonus: float = LM_BONUS,
        lm_phrase_logprob: float | None = LM_PHRASE_LOGPROB,
        ilm_weight: float = ILM_WEIGHT,
        level: LevelConfig | None = CORRECTED,
    ) -> None:
        self.model = model.eval()
        self.verifier = PhraseVerifier(model) if verify else None
        """The second pass that checks context phrases against the audio at the end (None: off)."""
        self.respell = respell
        """How far (sound-key edit distance) a span may be from a context phrase to be respelled to it; 0: off."""
        self._respellers: dict[tuple[str, ...], Respeller] = {}
        self.biaser = model.biaser if learned_bias else None
        """The model's own attention over the context phrases (if it has learned one), besides shallow fusion."""
        self.encoder_bias = encoder_bias
        self._memories: weakref.WeakKeyDictionary[ContextGraph, ContextMemory] = weakref.WeakKeyDictionary()
        """Each context's phrases encoded for the biasing, kept while the context is in use (a stream's, an
        utterance's): reading them is a bidirectional LSTM over every letter, too dear for every step."""
        self.beam = beam
        self.max_symbols = max_symbols
        self.stack = model.config.stack
        self.batch = batch
        """`encode` runs utterances together; False: each alone."""
        self.window = model.config.pred_context
        """Units a stateless prediction network reads (0: an LSTM, which reads them all)."""
        self.lm = lm if lm_weight else None
        """The character language model fused into the search's scores (`models.char_lm`; None: none)."""
        self.lm_weight = lm_weight
        self.lm_bonus = lm_bonus
        """Added per unit the language model scores: it pays back the letters' average cost, so that
        hypotheses that write less are not preferred for it."""
        self.ilm_weight = ilm_weight
        """Share of the recogniser's internal language model (`models.internal_lm`: the joint network without
        the audio, over the letters) taken out where the character model is added."""
        self.lm_phrase_logprob = lm_phrase_logprob
        """What the language model is taken to give each letter that goes along a context phrase (None: its
        own score): the user's names are spelled as the context spells them, however unlike English they
        look, and cost what an ordinary letter costs."""
        self.level = level
        """How a quiet speaker's level is raised into the trained range (`nodes.decoder.level`; None: it is not)."""

    def start(self) -> DecoderState:
        with torch.no_grad():
            out, state = self.model.predictor(torch.zeros(1, 1, dtype=torch.long))
        st = DecoderState(level=LevelTracker(self.level) if self.level is not None else None)
        st.beam = [Hyp((), 0.0, 0.0, 0, out[0], state)]  # projected at the first frame, once the context is known
        return st

    def frame_end_tick(self, enc_frame: int, first_feature: int = 0) -> int:
        """Audio tick where encoder frame `enc_frame`'s input ends."""
        last_feature = first_feature + enc_frame * self.stack + self.stack - 1
        return frame_end(last_feature)

    @torch.no_grad()
    def accept(self, st: DecoderState, frames: np.ndarray, context: ContextGraph = EMPTY) -> None:
        """Decode more log-mel frames (raw, shape n x n_mels)."""
        enc = self.encode([st], [frames])[0]
        if enc is not None:
            self.search(st, enc, context)

    @torch.no_grad()
    def encode(self, states: list[DecoderState], frames: list[np.ndarray]) -> list[torch.Tensor | None]:
        """The encoder over more log-mel frames of several utterances, as one call per number of encoder
        steps (with an int8 model each utterance's output is exactly what it gets alone; one call per
        utterance if not `batch`).
        Returns each one's encoder frames (1, T, H), or None where its frames complete no step yet; an
        utterance's state moves on only if the call succeeds."""
        todo: dict[int, list[tuple[int, np.ndarray]]] = {}
        rest: list[np.ndarray | None] = []
        shifts: dict[int, float] = {}
        for i, (st, f) in enumerate(zip(states, frames, strict=True)):
            x = f if st.pending is None else np.concatenate([st.pending, f])
            usable = len(x) // self.stack * self.stack
            rest.append(x[usable:])
            if usable:
                shifts[i] = st.level.shift(f) if st.level is not None else 0.0
                todo.setdefault(usable if self.batch else i, []).append((i, x[:usable]))
        out: list[torch.Tensor | None] = [None] * len(states)
        new_state: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        tails: dict[int, np.ndarray] = {}
        for group in todo.values():
            heard = np.array([x + shifts[i] for i, x in group], dtype=np.float32)
            feats = self.model.normalise(torch.from_numpy(heard))
            enc, (h, c) = self.model.encoder(feats, self._states([states[i] for i, _ in group]))
            for j, (i, x) in enumerate(group):
                out[i], new_state[i] = enc[j : j + 1], (h[:, j : j + 1], c[:, j : j + 1])
                tails[i] = x[-self.stack :]
        for i, (st, f) in enumerate(zip(states, frames, strict=True)):
            st.pending = rest[i]
            if st.level is not None:
                st.level.take(f)
            if i in new_state:
                st.enc_state, st.tail = new_state[i], tails[i]
        return out

    @torch.no_grad()
    def flushed(self, st: DecoderState, context: ContextGraph = EMPTY, steps: int = FLUSH_STEPS) -> DecoderState:
        """A copy of `st` decoded on over `steps` encoder steps of padding (its last step's frames again),
        `st` untouched.

        The encoder emits a word's last letters a step or more after the audio of them: at an end-point
        soon after the speaker stops, the best hypothesis still lacks them ("put paper towels on the li").
        The padding stands for the silence that follows, as the frames after a final end-point would, so
        the flushed hypothesis is the one the decoder reaches a few steps later."""
        if st.tail is None or steps <= 0:
            return st
        copy = replace(st.snapshot(), pending=None)
        self.accept(copy, np.tile(st.tail, (steps, 1)), context)
        return copy

    def _states(self, states: list[DecoderState]) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The encoder states of utterances side by side (zeros for one that has not started)."""
        if all(st.enc_state is None for st in states):
            return None
        c = self.model.config
        zeros = torch.zeros(c.enc_states, 1, c.enc_hidden)
        pairs = [st.enc_state or (zeros, zeros) for st in states]
        return torch.cat([h for h, _ in pairs], dim=1), torch.cat([c_ for _, c_ in pairs], dim=1)

    @torch.no_grad()
    def search(self, st: DecoderState, enc: torch.Tensor, context: ContextGraph = EMPTY) -> None:
        """The beam search over encoder frames (1, T, H) from `encode`."""
        memory = self._memory(context)
        if memory is not None:
            enc = self.biaser.bias_encoder(enc, memory, self.encoder_bias)
        if self.verifier is not None and st.enc_frames + enc.shape[1] <= MAX_FRAMES:
            st.enc.append(enc)
        if not st.started:
            st.started = True
            for h in st.beam:
                h.pred = self._project(h.pred, memory)[0]
        for t in range(enc.shape[1]):
            self._step(st, enc[0, t], st.enc_frames, context, memory)
            st.enc_frames += 1

    def _memory(self, context: ContextGraph) -> ContextMemory | None:
        """The context's phrases as the model's biasing reads them, encoded once per context."""
        if self.biaser is None:
            return None
        memory = self._memories.get(context)
        if memory is None:
            memory = self._memories[context] = self.biaser.memory([context.phrases])
        return memory

    def _step(
        self, st: DecoderState, enc_t: torch.Tensor, frame: int, context: ContextGraph, memory: ContextMemory | None
    ) -> None:
        ended: dict[tuple[int, ...], Hyp] = {}
        active = st.beam
        enc_proj = self.model.joint.enc(enc_t[None])[0]  # 2-D: quantised linear layers need a batch
        for rnd in range(self.max_symbols + 1):
            if not active:
                break
            if rnd == self.max_symbols:
                for h in active:  # out of symbols for this frame: move on without paying for a blank
                    self._merge(ended, h)
                break
            pred = torch.stack([h.pred for h in active])
            logp = torch.log_softmax(self.model.joint.out(torch.tanh(enc_proj + pred)), -1)
            blank_lp = logp[:, BLANK].tolist()
            for h, lp in zip(active, blank_lp, strict=True):
                done = Hyp(
                    h.tokens,
                    h.ac + lp,
                    h.bias,
                    h.ctx,
                    h.pred,
                    h.state,
                    h.times,
                    h.word_start,
                    h.word_ac,
                    h.word_bias,
                    h.lm,
                    h.lm_next,
                )
                self._merge(ended, done)
            cands = self._candidates(active, logp[:, 1:].numpy(), self._lm_scores(st, active), ended, context)
            if not cands:
                break
            predicted = self._predict(st, [(active[i], k) for i, k, *_ in cands], memory)
            nxt = []
            for (i, k, lp, ctx, bonus, lm), (pred, pred_state) in zip(cands, predicted, strict=True):
                h = active[i]
                new = Hyp(
                    (*h.tokens, k),
                    h.ac + lp,
                    h.bias + bonus,
                    ctx,
                    pred,
                    pred_state,
                    (*h.times, frame),
                    h.word_start,
                    h.word_ac,
                    h.word_bias,
                    h.lm + lm,
                )
                if k == SPACE:
                    self._word_done(st, h, new, frame)
                elif not h.tokens or h.tokens[-1] == SPACE:
                    new.word_start, new.word_ac, new.word_bias = frame, h.ac, h.bias
                nxt.append(new)
            active = nxt
        st.beam = sorted(ended.values(), key=lambda h: h.score, reverse=True)[: self.beam]

    def _candidates(
        self,
        active: list[Hyp],
        units: np.ndarray,
        fused: np.ndarray,
        ended: dict[tuple[int, ...], Hyp],
        context: ContextGraph,
    ) -> list[tuple[int, int, float, int, float, float]]:
        """The best `beam` extensions of the active hypotheses by one unit, scored all at once (numpy: the
        arrays are too small for torch's per-call cost): each hypothesis's `beam` likeliest units and those
        that extend a context match, that beat the `beam`-th hypothesis that ended its frame. Returns
        (hypothesis, unit, acoustic, context state, bias, language model) for each, best first."""
        n, n_units = units.shape
        moves = [context.moves(h.ctx) for h in active]
        options = np.stack([m.expands for m in moves])
        width = min(self.beam, n_units)
        likeliest = np.argpartition(-(units + fused), width - 1, axis=1)[:, :width]
        options[np.arange(n)[:, None], likeliest] = True
        lm = fused
        if self.lm_phrase_logprob is not None:
            along = np.stack([m.matching for m in moves])
            lm = np.where(along, self.lm_weight * self.lm_phrase_logprob + self.lm_bonus, fused)
        bias = np.stack([m.delta for m in moves])
        score = np.array([h.score for h in active])
        total = score[:, None] + units + bias + lm
        floor_score = _kth((h.score for h in ended.values()), self.beam)
        total[~options | (total <= floor_score)] = -math.inf
        flat = total.ravel()
        count = min(self.beam, int(np.count_nonzero(flat > -math.inf)))
        if not count:
            return []
        best = np.argpartition(-flat, count - 1)[:count]
        best = best[np.argsort(-flat[best], kind="stable")]
        rows, cols = np.divmod(best, n_units)
        return [
            (i, k + 1, lp, int(moves[i].to[k]), b, lm_)
            for i, k, lp, b, lm_ in zip(
                rows.tolist(),
                cols.tolist(),
                units[rows, cols].tolist(),
                bias[rows, cols].tolist(),
                lm[rows, cols].tolist(),
                strict=True,
            )
        ]

    def _lm_scores(self, st: DecoderState, active: list[Hyp]) -> np.ndarray:
        """Each hypothesis's weighted language-model score of every next unit (N, units; zeros without one),
        less `ilm_weight` times the recogniser's internal one; computed for the hypotheses that lack it."""
        if self.lm is None:
            return np.zeros((len(active), len(CHARS)))
        todo = [h for h in active if h.lm_next is None]
        if todo:
            keys = [self._lm_key(h.tokens) for h in todo]
            new = list({key: h for key, h in zip(keys, todo, strict=True) if key not in st.lm_cache}.items())
            if new:
                rows = np.stack([self.lm.logprobs(self._history(h.tokens))[: len(CHARS)] for _, h in new])
                scores = rows * self.lm_weight + self.lm_bonus
                if self.ilm_weight:
                    pred = torch.stack([h.pred for _, h in new])
                    internal = torch.log_softmax(self.model.joint.out(torch.tanh(pred))[:, 1:], -1)
                    scores = scores - self.ilm_weight * internal.numpy()
                if len(st.lm_cache) > 4096:
                    st.lm_cache.clear()
                st.lm_cache.update((key, row) for (key, _), row in zip(new, scores, strict=True))
            for h, key in zip(todo, keys, strict=True):
                h.lm_next = st.lm_cache[key]
        return np.stack([h.lm_next for h in active])

    def _lm_key(self, tokens: tuple[int, ...]) -> tuple[int, ...]:
        """What `_lm_scores` of a hypothesis depends on: the units the language model and (for the internal
        model) the prediction network read."""
        if not self.window:
            return tokens
        return tokens[-max(self.lm.order - 1, self.window) :]

    def _history(self, tokens: tuple[int, ...]) -> str:
        """The text the language model reads before the next unit: the last order - 1 characters."""
        return "".join(CHARS[t - 1] for t in tokens[-(self.lm.order - 1) :])

    def _end_score(self, tokens: tuple[int, ...]) -> float:
        """The weighted language-model score of the sentence ending after `tokens` (0 without a model)."""
        if self.lm is None:
            return 0.0
        while tokens and tokens[-1] == SPACE:
            tokens = tokens[:-1]
        return self.lm_weight * float(self.lm.logprobs(self._history(tokens))[END])

    def text_lm_score(self, words: tuple[str, ...], context: ContextGraph = EMPTY) -> float:
        """The weighted language-model score of a whole text as the search gives it (the internal model aside):
        each letter, the letters along the context's phrases at `lm_phrase_logprob`, and the end."""
        if self.lm is None:
            return 0.0
        text = " ".join(words)
        total, ctx = 0.0, 0
        for i, unit in enumerate(encode(text)):
            ctx, _ = context.step(ctx, unit)
            if self.lm_phrase_logprob is not None and context.matching(ctx):
                total += self.lm_weight * self.lm_phrase_logprob + self.lm_bonus
            else:
                total += self.lm_weight * float(self.lm.logprobs(text[:i])[unit - 1]) + self.lm_bonus
        return total + self.lm_weight * float(self.lm.logprobs(text)[END])

    def _project(self, pred_out: torch.Tensor, memory: ContextMemory | None) -> torch.Tensor:
        """Prediction-network outputs (N, H), read over the context, as the joint network's input (N, J)."""
        if memory is not None:
            pred_out = self.biaser.bias_predictor(pred_out[None], memory)[0]
        return self.model.joint.pred(pred_out)

    def _predict(
        self, st: DecoderState, extend: list[tuple[Hyp, int]], memory: ContextMemory | None
    ) -> list[tuple[torch.Tensor, tuple]]:
        """Projected prediction-network output and state after each (hypothesis, unit), batched, cached by unit
        sequence."""
        keys = [self.pred_key(h.tokens, k) for h, k in extend]
        todo = list({key: j for j, key in enumerate(keys) if key not in st.pred_cache}.values())
        if todo:
            labels = torch.tensor([[extend[j][1]] for j in todo])
            parts = zip(*(extend[j][0].state for j in todo), strict=True)
            states = tuple(torch.cat(part, dim=1) for part in parts)  # each state tensor has the batch on dim 1
            out, new_states = self.model.predictor(labels, states)
            proj = self._project(out[:, 0], memory)
            if len(st.pred_cache) > 4096:
                st.pred_cache.clear()
            for n, j in enumerate(todo):
                st.pred_cache[keys[j]] = (proj[n], tuple(s[:, n : n + 1] for s in new_states))
        return [st.pred_cache[key] for key in keys]

    def pred_key(self, tokens: tuple[int, ...], k: int) -> tuple[int, ...]:
        """What the prediction network's output after `tokens` + `k` depends on: all the units for an LSTM,
        the last `window` for a stateless network (blank before the first, as its history starts)."""
        if not self.window:
            return (*tokens, k)
        return ((BLANK,) * self.window + tokens + (k,))[-self.window :]

    @staticmethod
    def _merge(pool: dict[tuple[int, ...], Hyp], h: Hyp) -> None:
        old = pool.get(h.tokens)
        if old is None:
            pool[h.tokens] = h
            return
        best = h if h.score > old.score else old
        best.ac = _logaddexp(old.ac, h.ac)  # same units, other alignment: add the probabilities
        pool[h.tokens] = best

    def _word_done(self, st: DecoderState, before: Hyp, after: Hyp, frame: int) -> None:
        words = before.words()
        if not words or (before.tokens and before.tokens[-1] == SPACE):
            return
        st.lattice.add_arc(
            tuple(words[:-1]),
            words[-1],
            before.word_start,
            frame,
            before.ac - before.word_ac,
            before.bias - before.word_bias,
        )

    def lattice(
        self, st: DecoderState, context: ContextGraph = EMPTY, cut_frame: int | None = None, first_feature: int = 0
    ) -> Lattice:
        """The word lattice so far (or as of encoder frame `cut_frame`), times in audio seconds."""
        lat = st.lattice.copy()
        for h in st.beam:
            keep = len(h.tokens) if cut_frame is None else sum(1 for t in h.times if t < cut_frame)
            tokens = h.tokens[:keep]
            text = "".join(CHARS[t - 1] for t in tokens)
            words = text.split()
            if not words:
                lat.add_final((), h.score + self._end_score(()))
                continue
            if not text.endswith(" "):
                last_start = h.word_start if keep == len(h.tokens) else h.times[max(0, text.rstrip().rfind(" ") + 1)]
                end = h.times[keep - 1] if keep else 0
                lat.add_arc(
                    tuple(words[:-1]),
                    words[-1],
                    last_start,
                    end,
                    h.ac - h.word_ac if keep == len(h.tokens) else 0.0,
                    h.bias - h.word_bias if keep == len(h.tokens) else 0.0,
                )
            lat.add_final(tuple(words), h.score + context.finish(h.ctx) + self._end_score(tokens))
        to_s = lambda f: seconds(self.frame_end_tick(f, first_feature))  # noqa: E731
        lat = lat.with_times(to_s)
        if self.respell > 0 and len(context) and self.model.words:  # without its words, every span would do
            lat = self._respeller(context).respell(lat)
        kept = sum(e.shape[1] for e in st.enc)
        if self.verifier is None or not kept or kept != st.enc_frames:  # no second pass, or past MAX_FRAMES
            return lat
        end = st.enc_frames if cut_frame is None else min(cut_frame, st.enc_frames)
        enc = torch.cat(st.enc, dim=1)[:, :end]
        said = [t for h in st.beam for t in h.times if t < end]
        if said and len(context):  # the frames around what the search heard: before and after it, only blanks
            window = max(0, min(said) - TRIM_MARGIN), min(end, max(said) + 1 + TRIM_MARGIN)
            lm = (lambda words: self.text_lm_score(words, context)) if self.lm is not None else None
            lat = self.verifier.rescore(lat, enc, self._memory(context), context.phrases, window, lm)
        lat.reading = self.verifier.reading(enc)
        return lat

    def _respeller(self, context: ContextGraph) -> Respeller:
        key = tuple(context.phrases)
        if key not in self._respellers:
            if len(self._respellers) >= 16:
                self._respellers.clear()
            self._respellers[key] = Respeller(key, self.respell, self.model.words)
        return self._respellers[key]

    @staticmethod
    def best(st: DecoderState, context: ContextGraph = EMPTY) -> Hyp | None:
        """The best hypothesis so far, its unfinished match of a context phrase not counted: a prefix of a
        contact ("kitche") must not outrank what was said ("call") before it has earned its bonus."""
        return max(st.beam, key=lambda h: h.score + context.finish(h.ctx), default=None)

    def best_text(self, st: DecoderState, context: ContextGraph = EMPTY) -> str:
        best = self.best(st, context)
        return " ".join(best.words()) if best else ""
