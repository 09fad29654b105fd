"""The cloud rescorer: first-pass lattices in, transcripts rescored by a word language model out.

It sees lattices only, never audio. Candidates are the lattice's n-best plus,
for each of them, the sibling words the lattice holds at each position (one
substitution at a time, first-pass score corrected by the arcs' scores). Each
candidate's combined score is first-pass score + `lm_weight` x LM log-prob -
`ilm_weight` x the recogniser's internal LM log-prob (`models.internal_lm`: the
first pass already holds a language model of the device's text, which the cloud
LM would otherwise count twice) + `length_bonus` x words; the LM reads the
stream's context phrases and its catalogs (cities, names, countries, items) as
classes (`models.lm`). The settings are `RescorerConfig`'s; its tuned values come from
`weights/rescorer.json` (`speechgraph bench rescore` writes it).

Every transcript carries its confidence (`nodes.confidence`): the posterior of each
n-best entry, of each word of the text, and a calibrated utterance confidence the
NLU reads to refuse acting on what was probably misheard.

Rescoring is best effort: the budget `deadline_ms` runs from when the device
sent the lattice (its last trace stamp, when that clock is this machine's; else
from arrival), so a lattice retried on a rescorer that Ray restarted after a
crash is not held past its deadline again; if the answer cannot be back in time the first pass is committed with
`rescored=False` and `rescore_note="deadline"`, and any failure of the LM
commits the first pass with `rescore_note="error: ..."`. `network_delay_ms`
simulates the device-cloud round trip: half of it is slept before the work and
half after. A `Reset` raises the lowest revision kept for its utterance; older
lattices that arrive later are dropped. The node hears of a `Reset` ahead of its
turn (`Node.ahead`), so the revisions it makes stale are skipped, not rescored,
while they still wait in the queue, and an answer it makes stale is not sent.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from models.internal_lm import InternalLM
from models.lm import WordLM
from nodes.catalog_respell import CatalogRespeller
from nodes.confidence import ConfidenceConfig
from nodes.config import WEIGHTS, TunedConfig, compute_threads, configure
from nodes.decoder.lattice import Lattice
from nodes.messages import LatticeMessage, Transcript
from pipeline import Message, Node, Reset

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = WEIGHTS / "lm.pt"
ASR_WEIGHTS = WEIGHTS / "asr_rnnt.pt"
RESPELL_TOP = 1
"""Candidates (best first) whose unknown spans are looked up in the catalogs (`nodes.catalog_respell`)."""
SAME_END_S = 0.1
KEEP_UTTERANCES = 1024  # the Reset bookkeeping of this many recent utterances (all streams) is kept


@dataclass(frozen=True)
class RescorerConfig(TunedConfig):
    """The rescorer's settings. `load()` takes the LM's weighting and the candidates from `FILE`, which
    `speechgraph bench rescore` writes after tuning them on dev; the defaults are for a missing file."""

    FILE = WEIGHTS / "rescorer.json"
    TUNED = ("nbest", "alternatives", "lm_weight", "ilm_weight", "length_bonus", "catalog_penalty")

    weights: str | None = None
    """The word LM's checkpoint (None: the shipped `weights/lm.pt`)."""
    asr_weights: str | None = None
    """The recogniser whose internal LM is subtracted (None: the shipped `weights/asr_rnnt.pt`)."""
    lm_weight: float = 0.3
    """Weight of the cloud LM's log-probability in the combined score (0: the LM does not run)."""
    ilm_weight: float = 0.0
    """Weight of the recogniser's internal LM, subtracted (its language would otherwise count twice);
    ignored without the cloud LM."""
    length_bonus: float = 0.5
    """Added per word: the LMs' log-probabilities favour short transcripts, this evens it out."""
    nbest: int = 8
    """The lattice's best paths that become candidates (also how many go out with the transcript)."""
    alternatives: int = 4
    """One-word substitutions from the lattice's sibling arcs added per n-best path (`candidates`)."""
    catalog_penalty: float | None = None
    """Score lost per respelled span, in a catalog or in the LM's vocabulary (`nodes.catalog_respell`); None: no
    respelling (nor without the LM, which is what could judge one)."""
    deadline_ms: float | None = 300.0
    """Budget from when the device sent the lattice; past it the first pass is committed (None: no deadline)."""
    network_delay_ms: float = 0.0
    """Simulated device-cloud round trip: half slept before the work, half after."""
    threads: int = 1
    """Torch and BLAS threads of the process the rescorer runs in (`nodes.config.compute_threads`)."""
    confidence: ConfidenceConfig | None = None
    """How confidence is judged (None: `ConfidenceConfig.load()`)."""


def respellers(lm: WordLM) -> list[CatalogRespeller]:
    """Near-miss lookups for unknown words: in the LM's catalogs (where it expects their class) and in its
    vocabulary; each proposes a respelled candidate, which the LM weighs against the spelling heard."""
    out = [CatalogRespeller(lm.catalogs, lm.in_vocab, lm.expects)] if lm.catalogs else []
    return [*out, CatalogRespeller.vocabulary([w for w in lm.config.vocab if lm.in_vocab(w)], lm.in_vocab)]


def context_words(context: Sequence[str]) -> frozenset[str]:
    """The words of the stream's context phrases: names the user has, never respelled."""
    return frozenset(w for phrase in context for w in phrase.split())


def candidates(lattice: Lattice, nbest: int, alternatives: int = 4) -> list[tuple[str, float]]:
    """The lattice's `nbest` best finals, and up to `alternatives` one-word substitutions of each.

    A substitution swaps a word for a sibling arc (same history, ending within
    `SAME_END_S` of it, so the rest of the path still lines up) and scores it by
    the difference of the two arcs' acoustic scores, never above the path it came
    from: the beam had the chance to prefer it and did not, so only the LM can
    lift it. (Arc bias scores hold partial matches taken back later: ignored.)
    """
    finals = sorted(lattice.finals.items(), key=lambda kv: kv[1], reverse=True)[:nbest]
    out: dict[tuple[str, ...], float] = {p: s for p, s in finals}
    if alternatives <= 0:
        return [(" ".join(p), s) for p, s in out.items()]
    siblings = defaultdict(list)
    for arc in lattice.arcs.values():
        siblings[arc.src].append(arc)
    for prefix, score in finals:
        subs = []
        for i, word in enumerate(prefix):
            own = lattice.arcs.get((prefix[:i], word))
            if own is None:
                continue
            for alt in siblings[prefix[:i]]:
                if alt.word != word and abs(alt.end - own.end) <= SAME_END_S:
                    change = min(0.0, alt.acoustic - own.acoustic)
                    subs.append((score + change, (*prefix[:i], alt.word, *prefix[i + 1 :])))
        for s, p in sorted(subs, reverse=True)[:alternatives]:
            if p not in out:
                out[p] = s
    return [(" ".join(p), s) for p, s in out.items()]


def combine(
    first_pass: float,
    lm: float,
    words: int,
    lm_weight: float,
    length_bonus: float,
    ilm: float = 0.0,
    ilm_weight: float = 0.0,
) -> float:
    """First-pass score plus the weighted cloud LM, minus the weighted internal LM, plus a bonus per word."""
    return first_pass + lm_weight * lm - ilm_weight * ilm + length_bonus * words


@dataclass(frozen=True)
class Ranked:
    """Candidates best first (text, combined score), and the LM's log-probability of the best (None: not run)."""

    ranked: list[tuple[str, float]]
    lm_best: float | None = None


def sent_at(msg: Message, horizon_s: float = 600.0) -> float:
    """Monotonic seconds at which the previous node sent `msg`, or now if that stamp is not from a
    clock comparable to ours (another machine's monotonic clock is off by its uptime)."""
    now = time.monotonic()
    if msg.trace:
        sent = msg.trace[-1][2] / 1e9
        if now - horizon_s <= sent <= now:
            return sent
    return now


class LatticeRescorer(Node):
    """Second pass in the cloud: rescore each revision's lattice with the word LM, within a deadline."""

    recoverable = True  # what it keeps only drops stale revisions early; the sink drops them too
    ahead = (Reset,)

    def __init__(self, config: RescorerConfig | None = None, **overrides: Any) -> None:
        """`config`: default `RescorerConfig.load()`; `overrides`: of its fields (`deadline_ms=None`)."""
        super().__init__()
        self.config = c = configure(config or RescorerConfig.load(), overrides)
        compute_threads(c.threads)
        path = Path(c.weights) if c.weights else DEFAULT_WEIGHTS
        if not path.exists():
            raise FileNotFoundError(f"no language model at {path} (train it: python3 -m training.lm)")
        self.lm = WordLM.from_checkpoint(torch.load(path, weights_only=False))
        self.lm_weight = float(c.lm_weight)
        self.ilm_weight = float(c.ilm_weight) if self.lm_weight else 0.0  # no cloud LM: no language counted twice
        self.ilm = InternalLM.from_weights(c.asr_weights or ASR_WEIGHTS) if self.ilm_weight else None
        self.confidence = c.confidence or ConfidenceConfig.load()
        penalty = c.catalog_penalty
        self.catalog_penalty = None if penalty is None or not self.lm_weight else float(penalty)
        """Score lost per respelled span, in force (None: no respelling)."""
        self.respellers = respellers(self.lm) if self.catalog_penalty is not None else []
        """The catalogs' respeller and the vocabulary's (`nodes.catalog_respell`)."""
        self.length_bonus = float(c.length_bonus)
        self.nbest = int(c.nbest)
        self.alternatives = int(c.alternatives)
        self.deadline_ms = c.deadline_ms
        self.network_delay_ms = c.network_delay_ms
        self._resets: OrderedDict[tuple[str, int], int] = OrderedDict()
        """(stream, utterance) -> the highest revision a Reset announced, in its turn or ahead of it."""
        self._resets_lock = threading.Lock()  # `on_ahead` runs in a thread of its own

    def on_ahead(self, msg: Message) -> None:
        if isinstance(msg, Reset):
            key = (msg.stream, msg.utterance)
            with self._resets_lock:
                self._resets[key] = max(self._resets.get(key, 0), msg.revision)
                self._resets.move_to_end(key)
                while len(self._resets) > KEEP_UTTERANCES:
                    self._resets.popitem(last=False)

    def _stale(self, msg: LatticeMessage) -> bool:
        """Whether a Reset, in its turn or announced ahead of it, has dropped this revision."""
        with self._resets_lock:
            return msg.revision < self._resets.get((msg.stream, msg.utterance), 0)

    def on_control(self, msg: Message, state: None) -> Iterable[Message]:
        self.on_ahead(msg)  # in its turn: the same record
        return (msg,)

    def on_message(self, msg: Message, state: None) -> Iterable[Message]:
        if not isinstance(msg, LatticeMessage):
            return (msg,)
        received = sent_at(msg)
        if self._stale(msg):
            log.debug("%s: dropped revision %d of utterance %d", msg.stream, msg.revision, msg.utterance)
            return ()
        deadline = math.inf if self.deadline_ms is None else received + self.deadline_ms / 1000
        leg = self.network_delay_ms / 2000
        if time.monotonic() + 2 * leg >= deadline:  # the answer cannot be back in time, whatever the work costs
            return self._at_deadline(msg, received, deadline)
        time.sleep(leg)
        try:
            result = self.rank(msg)
        except Exception as exc:  # the LM must never lose an utterance
            log.warning("%s: rescoring failed, first pass kept: %s", msg.stream, exc)
            return (self._first_pass(msg, received, f"error: {type(exc).__name__}: {exc}"[:200]),)
        if time.monotonic() + leg > deadline:
            return self._at_deadline(msg, received, deadline)
        time.sleep(leg)
        if self._stale(msg):  # a newer revision came while this one was rescored: its answer is moot
            return ()
        ranked = result.ranked
        if not ranked:
            return (self._first_pass(msg, received, "empty lattice"),)
        text = ranked[0][0]
        note = "changed" if text != msg.text else "kept"
        unknown = self.lm.unknown_share(text.split(), msg.context)
        conf = self.confidence.judge(ranked, result.lm_best, unknown, _reading(msg))
        return (self._transcript(msg, text, tuple(ranked[: max(self.nbest, 1)]), True, note, received, conf),)

    def rescore(self, msg: LatticeMessage) -> list[tuple[str, float]]:
        """The candidates of the message's lattice (or its n-best), best combined score first."""
        return self.rank(msg).ranked

    def rank(self, msg: LatticeMessage) -> Ranked:
        """`rescore`, and the LM's reading of the winner (for its confidence)."""
        lattice = Lattice.from_dict(msg.lattice) if msg.lattice else None
        cands = candidates(lattice, self.nbest, self.alternatives) if lattice and lattice.finals else []
        cands = cands or [(t, s) for t, s in msg.nbest[: self.nbest]]
        if not cands:
            return Ranked([])
        if self.respellers and self.catalog_penalty is not None:
            score, keep = dict(cands), context_words(msg.context)
            cands += [
                (p.text, score[p.source] - self.catalog_penalty * p.rewrites)
                for respeller in self.respellers
                for p in respeller.propose(cands, RESPELL_TOP, keep)
            ]
        texts = [t for t, _ in cands]
        # Tuned to weigh nothing, the LM would only add its 15-20 ms to every request.
        lm = self.lm.score(texts, msg.context) if self.lm_weight else [0.0] * len(cands)
        ilm = self.ilm.score(texts) if self.ilm is not None else [0.0] * len(cands)
        scored = [
            (t, round(combine(s, lp, len(t.split()), self.lm_weight, self.length_bonus, ip, self.ilm_weight), 3))
            for (t, s), lp, ip in zip(cands, lm, ilm, strict=True)
        ]
        order = sorted(range(len(scored)), key=lambda k: scored[k][1], reverse=True)
        best = order[0]
        lm_best: float | None = lm[best] if self.lm_weight else None
        if lm_best is None and self.confidence.weights:  # the calibration reads it: the winner alone, a few ms
            lm_best = self.lm.score([texts[best]], msg.context)[0]
        return Ranked([scored[k] for k in order], lm_best)

    def _at_deadline(self, msg: LatticeMessage, received: float, deadline: float) -> tuple:
        """The first pass, committed at the deadline, unless a newer revision made it moot meanwhile."""
        transcript = self._first_pass(msg, received, "deadline", wait_until=deadline)
        return () if self._stale(msg) else (transcript,)

    def _first_pass(self, msg: LatticeMessage, received: float, note: str, wait_until: float = 0.0) -> Transcript:
        """What the device commits without the cloud: at the deadline, not before (the device waits until then)."""
        pause = wait_until - time.monotonic()
        if 0 < pause < math.inf:
            time.sleep(pause)
        nbest = tuple(msg.nbest)
        unknown = self.lm.unknown_share(msg.text.split(), msg.context)
        sure = nbest and nbest[0][0] == msg.text
        conf = self.confidence.judge(nbest, None, unknown, _reading(msg)) if sure else (None, [], [])
        return self._transcript(msg, msg.text, nbest, False, note, received, conf)

    def _transcript(
        self,
        msg: LatticeMessage,
        text: str,
        nbest: tuple,
        rescored: bool,
        note: str,
        received: float,
        conf: tuple[float | None, list[float], list[float]] = (None, [], []),
    ) -> Transcript:
        """The outgoing transcript; `conf` is (utterance, word, candidate) confidence from `ConfidenceConfig.judge`."""
        confidence, words, post = conf
        return Transcript(
            stream=msg.stream,
            start=msg.start,
            end=msg.end,
            captured_ns=msg.captured_ns,
            trace=msg.trace,
            utterance=msg.utterance,
            revision=msg.revision,
            text=text,
            first_pass_text=msg.text,
            nbest=nbest,
            context=msg.context,
            rescored=rescored,
            rescore_note=note,
            rescore_ms=round((time.monotonic() - received) * 1000, 3),
            endpoint=msg.endpoint,
            endpoint_s=msg.endpoint_s,
            final=msg.final,
            confidence=None if confidence is None else round(confidence, 4),
            word_confidence=tuple(round(c, 4) for c in words),
            nbest_confidence=tuple(round(p, 4) for p in post[: len(nbest)]),
        )


def _reading(msg: LatticeMessage) -> str | None:
    """The decoder's CTC reading of the utterance's audio, carried in its lattice (None: not read)."""
    return msg.lattice.get("reading") if msg.lattice else None
