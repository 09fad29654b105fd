"""The decoder node: streaming RNN-T beam search over each utterance the gate opens.

Per chunk it emits a `DecoderSignal` (for the end-pointers) and, when the best
hypothesis changes, a `partial` event. `EndPoint` notices come back on feedback
edges, in audio-time order, so when one at audio time t is handled the decoder
has decoded at least up to t (it may have run a little past, hence the cut):

- speculative at t: the lattice as of t, flushed (below), goes out as revision 0
  (not final);
- final at t', after a speculative one: if the first pass's best hypothesis
  at t' (as it stands, else flushed) is the one revision 0 had (nothing new was
  heard), a `Confirm` follows at once, without decoding the lattice again;
  otherwise the flushed lattice as of t' is decoded, and if its best path is what
  revision 0 said, a `Confirm` follows, else a `Reset` for the utterance and
  revision 1 (final);
- final with no speculative one before it: revision 0, final.

The encoder emits a word's last letters a step or two after their audio, so at
an end-point soon after the speaker stops the best hypothesis often still lacks
them ("put paper towels on the li"). Every result is therefore taken from the
search *flushed*: a copy decoded on over `flush_steps` steps of padding
(`BeamSearch.flushed`), the hypothesis the decoder reaches a few steps later.
From the speculative end-point on, the decoder checks the best hypothesis after
every encoder step; where it is neither the latest speculative revision's nor on
its way there (a prefix of it), held for a step, and still differs once flushed,
a `Reset` and the flushed lattice as of that step go out as the
next speculative revision (at most `respeculate` times), so the cloud's work for
the new words overlaps the wait for the final end-point. The final end-point at t'
judges the last speculative revision made by t' as above: confirmed, or reset for
the final revision. Each revision is a function of the audio alone (a late notice
is caught up from the search states kept), so the result is too: if the decoder
had already sent a revision past t' when the notice came, the one it confirms is
sent again as the final revision.

The gate's `GateClosed` (length limit) and the end of the stream finalise an
utterance too, so every utterance gets exactly one final lattice. Without a gate
(plain `FeatureFrames`), a stream is one utterance that ends with the stream.

Context (contacts, device names, expected answers) comes from the node's
options and from `Context` notices in the stream; the context in force when an
utterance starts is the one it is decoded with (best effort, never waited for).
Phrases are normalised as the recogniser spells them, and at most
`MAX_PHRASES` are used (the first ones): the learned biasing, the context graph
and the second pass all cost time and memory per phrase (20,000 phrases made
results 22 s late at 1.7 GB), so a longer context is cut, with one `warning`
per stream.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audio import seconds
from models.char_lm import ILM_WEIGHT, LM_BONUS, LM_PHRASE_LOGPROB, LM_WEIGHT, CharNgram
from models.char_lm import SHIPPED as SHIPPED_LM
from models.rnnt import RNNT, quantize_int8
from nodes.config import WEIGHTS, compute_threads, configure
from nodes.decoder import BEAM
from nodes.decoder.beam import FLUSH_STEPS, BeamSearch, DecoderState
from nodes.decoder.context import BONUS, EMPTY, MAX_BONUS, ContextGraph, normalise_phrases
from nodes.decoder.lattice import Lattice
from nodes.decoder.level import CORRECTED
from nodes.decoder.respell import MAX_DISTANCE
from nodes.messages import (
    Confirm,
    Context,
    DecoderSignal,
    EndPoint,
    FeatureFrames,
    GateClosed,
    LatticeMessage,
    UtteranceFeatures,
    Wake,
)
from pipeline import MAX_ERRORS_PER_STREAM, EndOfStream, Error, Event, Message, Node, Reset, one_line, rounds

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = WEIGHTS / "asr_rnnt.pt"
MAX_PHRASES = 1000
"""Context phrases the device decodes with at most. On one core of the 2-core machine, the work at the
end-point grows by about 0.1-0.15 ms per phrase (1000: +110-180 ms) and the process by 0.16 MB."""
SNAPSHOTS = 100
"""Search states kept per open utterance, one per encoder step (4 s): how late an end-point may arrive and
still be decoded exactly as of its audio time."""


@dataclass(frozen=True)
class DecoderConfig:
    """The decoder's model and search. The biasing and respelling defaults are the values tuned on dev for
    the shipped recogniser, kept beside the code that uses them (`nodes.decoder.context`, `.respell`)."""

    weights: str | None = None
    """The recogniser's checkpoint (None: the shipped `weights/asr_rnnt.pt`)."""
    beam: int = BEAM
    """Hypotheses kept by the beam search."""
    nbest: int = 8
    """Best paths sent with each lattice (`LatticeMessage.nbest`: the rescorer's fallback, the sink's list)."""
    bonus: float = BONUS
    """Shallow-fusion bonus per letter of a context phrase matched so far (`nodes.decoder.context.BONUS`)."""
    max_bonus: float | None = MAX_BONUS
    """Bonus per phrase at most, so a long contact cannot outbid the audio (None: no cap)."""
    respell: float = MAX_DISTANCE
    """How far (sound-key edit distance) a span may be from a context phrase to be respelled to it; 0: off."""
    char_lm: str | None = None
    """The character language model fused into the search (None: the shipped `weights/char_lm.npz`)."""
    lm_weight: float = LM_WEIGHT
    """Its weight in the search (`models.char_lm.LM_WEIGHT`, tuned on dev); 0: no fusion."""
    lm_bonus: float = LM_BONUS
    """Score per unit it scores, against its pull towards shorter hypotheses (tuned on dev)."""
    lm_phrase_logprob: float | None = LM_PHRASE_LOGPROB
    """Log-probability given to each letter along a context phrase instead of the model's (None: its own)."""
    ilm_weight: float = ILM_WEIGHT
    """Share of the recogniser's internal language model taken out where the character model is added."""
    verify: bool = True
    """Check context phrases against the audio in a second pass at the end (`nodes.decoder.verify`)."""
    correct_level: bool = True
    """Raise a quiet speaker's level into the range the recogniser was trained on (`nodes.decoder.level`)."""
    int8: bool = False
    """Run the model dynamically quantised to int8 (less CPU; the assistant graph does)."""
    threads: int = 1
    """Torch and BLAS threads of the process the decoder runs in (`nodes.config.compute_threads`)."""
    flush_steps: int = FLUSH_STEPS
    """Encoder steps of padding a result is decoded on over (`BeamSearch.flushed`, 40 ms each); 0: none.
    Chosen on the wake set's dev recordings (`bench endpoint`): the shipped end-pointers' speculative
    results reset 32% -> 6.5%."""
    respeculate: int = 2
    """Speculative revisions sent again at most, when the best hypothesis changes between the speculative and
    the final end-point (each is one more request to the cloud); 0: only at the speculative end-point. With 2
    the result is committed about 1 ms after the final end-point instead of ~75 ms (docs/measurements.md).
    The cloud rescorer hears of each `Reset` ahead of the queued revisions it replaces (`Node.ahead`), so
    on a busy cloud the last revision does not wait behind them."""
    batch: bool = True
    """Run the encoder steps of all the streams in a delivery as one call. With `int8` each row is quantised
    alone (`models.rnnt.quantize_int8`), so a stream's results are exactly those it gets alone, on any
    runtime; a float model's differ by float rounding. False: one call per stream."""


@dataclass(frozen=True)
class _Speculation:
    """A speculative revision: if the first pass's best units at the final end-point are still `tokens`,
    nothing new was heard and it is confirmed without decoding its lattice again."""

    revision: int
    at: int
    """Audio time (tick) its lattice is cut at."""
    tokens: tuple[int, ...] | None
    text: str


@dataclass
class _Utterance:
    id: int
    search: DecoderState
    context: ContextGraph
    phrases: tuple[str, ...]
    first_frame: int
    decoded_to: int = 0  # tick
    last_partial: str = ""
    speculative: list[_Speculation] = field(default_factory=list)
    """The speculative revisions sent, in order."""
    scanned: int = 0
    """Encoder steps checked for a changed hypothesis since the speculative end-point."""
    scan_tokens: tuple[int, ...] | None = None
    """The best units after the last step checked."""
    revision: int = 0
    """The latest revision sent."""
    final: bool = False
    snapshots: deque[DecoderState] = field(default_factory=lambda: deque(maxlen=SNAPSHOTS))
    """The search as it stood after each of the last encoder steps (see `RNNTDecoder._lattice`)."""
    flushed: tuple[int, DecoderState] | None = None
    """The last flushed search (`RNNTDecoder._state_at`) and the encoder steps it flushed from."""


@dataclass
class _Stream:
    phrases: tuple[str, ...]
    context: ContextGraph
    utt: _Utterance | None = None
    finished: set[int] = field(default_factory=set)
    capped: str | None = None
    """The warning about a context cut to `MAX_PHRASES`, until it is sent (once per stream)."""
    warned: bool = False
    restored: bool = False
    """This decoder replaces one that crashed mid-stream: an utterance whose `wake` it did not see began
    before the crash, and its frames are not decoded (half a request would be committed as a whole one)."""
    woken: set[int] = field(default_factory=set)
    errors: int = 0
    dead: bool = False
    """Failed MAX_ERRORS_PER_STREAM times: its frames are dropped."""


@dataclass
class _Job:
    """One stream's message on its way through `on_batch`."""

    msg: FeatureFrames | UtteranceFeatures
    st: _Stream
    utt: _Utterance | None = None
    """The utterance its frames go to (None: frames not decoded)."""
    out: list[Message] = field(default_factory=list)
    error: Exception | None = None


class RNNTDecoder(Node):
    def __init__(
        self, config: DecoderConfig | None = None, *, context: list[str] | None = None, **overrides: Any
    ) -> None:
        """`config`: default `DecoderConfig()`; `context`: the phrases every stream starts with (a `Context`
        notice replaces them for its stream); `overrides`: of the config's fields (`int8=True`)."""
        super().__init__()
        self.config = c = configure(config or DecoderConfig(), overrides)
        compute_threads(c.threads)
        path = Path(c.weights) if c.weights else DEFAULT_WEIGHTS
        if not path.exists():
            raise FileNotFoundError(f"no recogniser weights at {path} (train them: speechgraph train asr)")
        model = RNNT.from_checkpoint(torch.load(path, weights_only=False))
        self.search = BeamSearch(
            quantize_int8(model) if c.int8 else model,
            beam=c.beam,
            respell=c.respell,
            verify=c.verify,
            batch=c.batch,
            lm=CharNgram.load(c.char_lm or SHIPPED_LM) if c.lm_weight else None,
            lm_weight=c.lm_weight,
            lm_bonus=c.lm_bonus,
            lm_phrase_logprob=c.lm_phrase_logprob,
            ilm_weight=c.ilm_weight,
            level=CORRECTED if c.correct_level else None,
        )
        self.bonus, self.max_bonus = c.bonus, c.max_bonus
        self.phrases, self.capped = _cap(normalise_phrases(context or ()))
        self.context = self._graph(self.phrases)
        self.nbest = c.nbest

    def _graph(self, phrases: tuple[str, ...]) -> ContextGraph:
        return ContextGraph(phrases, self.bonus, self.max_bonus) if phrases else EMPTY

    def new_state(self, stream: str) -> _Stream:
        return _Stream(self.phrases, self.context, capped=self.capped)

    def restored(self, stream: str, state: _Stream) -> None:
        state.restored = True

    def _warning(self, stream: str, st: _Stream, t: int) -> list[Message]:
        if st.capped is None or st.warned:
            return []
        st.warned = True
        return [Event.make("warning", stream=stream, start=t, end=t, warning=st.capped)]

    # -- audio ---------------------------------------------------------------------

    def on_message(self, msg: Message, st: _Stream) -> Iterable[Message]:
        return self.on_batch([(msg, st)])

    def on_batch(self, items: list[tuple[Message, _Stream]]) -> list[Message]:
        """The frames of all the streams in `items`: the encoder steps of every stream that completes one
        at the same frame run as one batched call (`BeamSearch.encode`), the beam searches per stream.

        Frames go to the encoder one by one, so the encoder always runs one step a call: with a float model
        the result must not depend on how many frames a message holds (that depends on how batches met on
        the way: on Ray, on timing), and with an int8 model each stream's rows are quantised alone, so the
        streams beside it change nothing either. A stream with several messages in `items` takes them in
        turn (rounds of one message per stream). A stream whose message fails gets an `Error` and starts
        afresh; the others go on."""
        out: list[Message] = []
        wanted = [(msg, st) for msg, st in items if isinstance(msg, FeatureFrames | UtteranceFeatures) and not st.dead]
        for round_ in rounds(wanted):
            self._round([_Job(msg, st) for msg, st in round_], out)
        return out

    def _round(self, jobs: list[_Job], out: list[Message]) -> None:
        for job in jobs:
            try:
                self._open(job)
            except Exception as exc:
                job.error = exc
        live = [j for j in jobs if j.error is None and j.utt is not None]
        for i in range(max((len(j.msg.frames) for j in live), default=0)):
            step = [j for j in live if j.error is None and i < len(j.msg.frames)]
            encs = self._encode(step, i)
            for job, enc in zip(step, encs, strict=True):
                if enc is None or job.error is not None:
                    continue
                try:
                    u = job.utt
                    assert u is not None
                    steps = u.search.enc_frames
                    self.search.search(u.search, enc, u.context)
                    if u.search.enc_frames > steps:
                        u.snapshots.append(u.search.snapshot())
                except Exception as exc:
                    job.error = exc
        for job in jobs:
            if job.error is None and job.utt is not None:
                try:
                    self._signal(job)
                except Exception as exc:
                    job.error = exc
            if job.error is not None:
                self._fail(job, out)
            else:
                out.extend(job.out)

    def _open(self, job: _Job) -> None:
        """The utterance the message belongs to: the stream's open one, or a new one (`job.utt` stays None
        for frames not to decode)."""
        msg, st = job.msg, job.st
        utterance = msg.utterance if isinstance(msg, UtteranceFeatures) else 0
        job.out = self._warning(msg.stream, st, msg.start)
        if st.utt is None or st.utt.id != utterance:
            if utterance in st.finished:
                job.out = []  # frames the gate still sends after the final end-point
                return
            if st.restored and isinstance(msg, UtteranceFeatures) and utterance not in st.woken:
                st.finished.add(utterance)  # lost with the crash: the sink names it, the gate closes it
                text = f"utterance {utterance} began before the decoder restarted after a crash: it is lost"
                job.out.append(
                    Error(
                        stream=msg.stream,
                        start=msg.start,
                        end=msg.end,
                        node=self.name,
                        error=text,
                        utterances=(utterance,),
                    )
                )
                return
            if st.utt is not None and not st.utt.final:  # a committed utterance is never re-finalised
                job.out.extend(self._finalise(msg.stream, st, msg.start, "superseded"))
            st.utt = _Utterance(utterance, self.search.start(), st.context, st.phrases, msg.first_frame)
        frames = np.asarray(msg.frames, dtype=np.float32)
        if frames.ndim != 2 or frames.shape[1] != self.search.model.config.n_mels:
            raise ValueError(f"expected frames of {self.search.model.config.n_mels} bands, got shape {frames.shape}")
        job.utt = st.utt

    def _encode(self, jobs: list[_Job], i: int) -> list[torch.Tensor | None]:
        """Frame i of each job through the encoder, batched; if the batch fails, each stream alone, so only
        the one at fault fails."""
        frames = [np.asarray(j.msg.frames[i : i + 1], dtype=np.float32) for j in jobs]
        if self.config.batch and len(jobs) > 1:
            try:
                return self.search.encode([j.utt.search for j in jobs], frames)  # type: ignore[union-attr]
            except Exception:
                pass  # find the stream at fault: each one alone, below
        encs: list[torch.Tensor | None] = []
        for job, f in zip(jobs, frames, strict=True):
            try:
                encs.append(self.search.encode([job.utt.search], [f])[0])  # type: ignore[union-attr]
            except Exception as exc:
                job.error = exc
                encs.append(None)
        return encs

    def _signal(self, job: _Job) -> None:
        """The best hypothesis after the message: a `DecoderSignal`, and a `partial` when it changed."""
        msg, u = job.msg, job.utt
        assert u is not None
        u.decoded_to = msg.end
        best = self.search.best(u.search, u.context)
        last_token = self.search.frame_end_tick(best.times[-1], u.first_frame) if best and best.times else msg.start
        text = " ".join(best.words()) if best else ""
        job.out.append(
            DecoderSignal(
                stream=msg.stream,
                start=msg.start,
                end=msg.end,
                utterance=u.id,
                revision=0,
                text=text,
                last_token_s=round(seconds(last_token), 3),
            )
        )
        if text != u.last_partial:
            u.last_partial = text
            job.out.append(
                Event.make("partial", stream=msg.stream, start=msg.start, end=msg.end, utterance=u.id, text=text)
            )
        if u.speculative and not u.final:
            job.out.extend(self._respeculate(msg.stream, u))

    def _respeculate(self, stream: str, u: _Utterance) -> list[Message]:
        """The encoder steps decoded since the last check, one by one: where the best hypothesis is no longer
        the latest speculative revision's and has held for two steps, a `Reset` and the lattice as of that step
        as the next one (while `respeculate` allows)."""
        out: list[Message] = []
        while u.scanned < u.search.enc_frames and len(u.speculative) <= self.config.respeculate:
            u.scanned += 1
            state = u.search if u.scanned == u.search.enc_frames else self._snapshot(u, u.scanned)
            best = self.search.best(state, u.context) if state is not None else None
            tokens = best.tokens if best is not None else None
            previous, u.scan_tokens = u.scan_tokens, tokens
            latest = u.speculative[-1].tokens
            if state is None or tokens == latest or tokens != previous or _on_the_way(tokens, latest):
                continue  # unchanged, still changing (a word half read) or catching up with the flushed result
            t = self.search.frame_end_tick(u.scanned - 1, u.first_frame)
            state = self._flush(u, state)
            best = self.search.best(state, u.context)
            if best is not None and best.tokens == latest:
                continue
            lattice = self._cut(self.search.lattice(state, u.context, first_feature=u.first_frame), t)
            u.revision += 1
            u.speculative.append(_Speculation(u.revision, t, best.tokens if best else None, lattice.best()))
            out.append(Reset(stream=stream, start=t, end=t, utterance=u.id, revision=u.revision))
            out.append(self._message(stream, u, lattice, u.revision, "speculative", t, final=False))
        return out

    def _fail(self, job: _Job, out: list[Message]) -> None:
        """What NodeHost does for a failed stream, for one stream of the batch: an `Error`, and the stream
        starts afresh (MAX_ERRORS_PER_STREAM failures drop it at this node)."""
        msg, st, exc = job.msg, job.st, job.error
        assert exc is not None
        log.error("node %s failed on stream %s: %s", self.name, msg.stream, one_line(exc), exc_info=exc)
        text = one_line(exc)
        fresh = self.new_state(msg.stream)
        fresh.errors = st.errors + 1
        if fresh.errors >= MAX_ERRORS_PER_STREAM:
            fresh.dead = True
            text += f" (failed {fresh.errors} times: stream dropped at this node)"
        st.__dict__.update(fresh.__dict__)
        out.append(Error(stream=msg.stream, start=msg.start, end=msg.end, node=self.name, error=text))

    # -- end-points and context ------------------------------------------------------

    def on_control(self, msg: Message, st: _Stream) -> Iterable[Message]:
        if isinstance(msg, Wake):
            st.woken.add(msg.utterance)
        elif isinstance(msg, Context):
            st.phrases, capped = _cap(normalise_phrases(msg.phrases))
            st.context = self._graph(st.phrases)
            st.capped = st.capped or capped
            return self._warning(msg.stream, st, msg.end)
        elif isinstance(msg, EndPoint):
            return self._end_point(msg, st)
        elif isinstance(msg, GateClosed):
            if st.utt is not None and not st.utt.final and msg.utterance == st.utt.id:
                return (msg, *self._finalise(msg.stream, st, msg.end, "max_length"))
        return (msg,)

    def _end_point(self, msg: EndPoint, st: _Stream) -> list[Message]:
        u = st.utt
        if u is None or u.final or msg.utterance != u.id:
            return []  # an end-point for an utterance already finalised
        if msg.kind == "speculative":
            if u.speculative:
                return []
            lattice = self._lattice(u, msg.end, flush=True)
            u.speculative.append(_Speculation(0, msg.end, self._best_tokens(u, msg.end, flush=True), lattice.best()))
            u.scanned, u.scan_tokens = self._state_at(u, msg.end)[1], self._best_tokens(u, msg.end)
            spec = self._message(msg.stream, u, lattice, 0, "speculative", msg.end, final=False)
            return [spec, *self._respeculate(msg.stream, u)]  # the steps decoded past it meanwhile
        return self._finalise(msg.stream, st, msg.end, "final")

    def on_end_of_stream(self, msg: EndOfStream, st: _Stream) -> Iterable[Message]:
        if st.utt is None or st.utt.final:
            return ()
        return self._finalise(msg.stream, st, max(msg.end, st.utt.decoded_to), "end_of_stream")

    # -- results ---------------------------------------------------------------------

    def _finalise(self, stream: str, st: _Stream, t: int, kind: str) -> list[Message]:
        u = st.utt
        assert u is not None
        u.final = True
        st.finished.add(u.id)
        made = [sp for sp in u.speculative if sp.at <= t]  # revisions sent past t are no matter
        last = made[-1] if made else None
        if last is not None and (
            self._best_tokens(u, t) == last.tokens or self._best_tokens(u, t, flush=True) == last.tokens
        ):  # the flush only where the search as it stands differs
            return self._commit(stream, u, last, kind, t)
        lattice = self._lattice(u, t, flush=True)
        if last is not None and lattice.best() == last.text:
            return self._commit(stream, u, last, kind, t)
        u.snapshots.clear()  # nothing is decoded for it any more
        if not u.speculative:
            return [self._message(stream, u, lattice, 0, kind, t, final=True)]
        u.revision += 1
        return [
            Reset(stream=stream, start=t, end=t, utterance=u.id, revision=u.revision),
            self._message(stream, u, lattice, u.revision, kind, t, final=True),
        ]

    def _commit(self, stream: str, u: _Utterance, sp: _Speculation, kind: str, t: int) -> list[Message]:
        """Speculative revision `sp` stands: a `Confirm`, or, when a later one went out meanwhile (the decoder
        had run past the end-point), a `Reset` and `sp`'s lattice again as the final revision."""
        if sp.revision == u.revision:
            u.snapshots.clear()
            return [Confirm(stream=stream, start=t, end=t, utterance=u.id, revision=sp.revision)]
        lattice = self._lattice(u, sp.at, flush=True)
        u.snapshots.clear()
        u.revision += 1
        return [
            Reset(stream=stream, start=t, end=t, utterance=u.id, revision=u.revision),
            self._message(stream, u, lattice, u.revision, kind, sp.at, final=True),
        ]

    def _state_at(self, u: _Utterance, t: int, flush: bool = False) -> tuple[DecoderState | None, int]:
        """The search as it stood after the last encoder frame that ends by audio time t (`flush`: flushed,
        `_flush`), and that frame count; None when it is older than the snapshots kept.

        An end-point reaches the decoder on a feedback edge, after it has decoded a little past t: in
        process one chunk, on Ray as far as the other actors' timing let it run. The state kept at t makes
        the result a function of the audio alone."""
        frames = 0
        while frames < u.search.enc_frames and self.search.frame_end_tick(frames, u.first_frame) <= t:
            frames += 1
        state = u.search if frames == u.search.enc_frames else self._snapshot(u, frames)
        if flush and state is not None:
            state = self._flush(u, state)
        return state, frames

    def _flush(self, u: _Utterance, state: DecoderState) -> DecoderState:
        """`state` flushed (`BeamSearch.flushed`), the last one kept: an end-point asks for it more than once."""
        if u.flushed is None or u.flushed[0] != state.enc_frames:
            u.flushed = (state.enc_frames, self.search.flushed(state, u.context, self.config.flush_steps))
        return u.flushed[1]

    @staticmethod
    def _cut(lattice: Lattice, t: int) -> Lattice:
        """A flushed lattice's times held to the end-point t (the padding after it was not heard)."""
        end = seconds(t)
        return lattice.with_times(lambda s: min(s, end))

    @staticmethod
    def _snapshot(u: _Utterance, frames: int) -> DecoderState | None:
        """The search as it stood after `frames` encoder steps (None: older than the snapshots kept)."""
        return next((s for s in u.snapshots if s.enc_frames == frames), None)

    def _best_tokens(self, u: _Utterance, t: int, flush: bool = False) -> tuple[int, ...] | None:
        state, _ = self._state_at(u, t, flush)
        best = self.search.best(state, u.context) if state is not None else None
        return best.tokens if best is not None else None

    def _lattice(self, u: _Utterance, t: int, flush: bool = False) -> Lattice:
        """The lattice as of audio time t (`_state_at`, `flush`ed); an end-point older than the snapshots kept
        cuts the later search (whose beam may have pruned other runners-up)."""
        state, frames = self._state_at(u, t, flush)
        if state is not None:
            lattice = self.search.lattice(state, u.context, first_feature=u.first_frame)
            return self._cut(lattice, t) if flush else lattice
        cut = self.search.lattice(u.search, u.context, cut_frame=frames, first_feature=u.first_frame)
        return cut.cut(seconds(t))

    def _message(self, stream: str, u: _Utterance, lattice: Lattice, revision: int, kind: str, t: int, final: bool):
        return LatticeMessage(
            stream=stream,
            start=t,
            end=t,
            utterance=u.id,
            revision=revision,
            lattice=lattice.to_dict(),
            text=lattice.best(),
            nbest=tuple(lattice.nbest(self.nbest)),
            context=u.phrases,
            endpoint=kind,
            endpoint_s=round(seconds(t), 3),
            final=final,
        )


def _on_the_way(tokens: tuple[int, ...] | None, target: tuple[int, ...] | None) -> bool:
    """Whether `tokens` are a prefix of `target`: the search catching up with a flushed result."""
    return tokens is not None and target is not None and target[: len(tokens)] == tokens


def _cap(phrases: list[str]) -> tuple[tuple[str, ...], str | None]:
    """The first `MAX_PHRASES` phrases, and the warning to send if there were more."""
    if len(phrases) <= MAX_PHRASES:
        return tuple(phrases), None
    return tuple(phrases[:MAX_PHRASES]), (
        f"context of {len(phrases)} phrases: the device decodes with the first {MAX_PHRASES} "
        "(each phrase costs time at every end-point and memory)"
    )
