"""End-pointers: decide where the open utterance ends, from voice activity and the decoder's signals.

Two instances run side by side: the speculative one fires about 200 ms before the
final one would, so rescoring and NLU can start early; the final one must almost
never cut the speaker off (the decoder repairs a speculative cut with a Reset).

The rule, checked at the end of every 32 ms VAD window of the open utterance, is
`nodes.endpoint_rule` (the benchmark that fits its thresholds runs the same code):
`eoq`, `silence`, `decoder`, `idle`, `no_speech` or `max_length` ends it. A stream that
ends with the utterance still open ends it too (`end_of_stream`).

When the gate closes the utterance (`GateClosed`), the decoder stops; the rule
then goes on with the VAD and the decoder's last word on it.

VAD and decoder signals arrive on two edges, at different times (on Ray in any
order), so the node decides at t only once both cover t: the VAD by a window
ending at t, the decoder by its first signal whose `end` reaches t. Everything
it uses is audio time, so the decision is the same whatever the arrival order.
With `use_decoder=False` it is the VAD-only baseline (trailing silence `silence_s`).

The settings are `EndpointerConfig`'s: the kind, and the rule's thresholds (`EndpointParams`),
by default the kind's pair fitted on dev (`DEFAULTS`).
"""

from __future__ import annotations

import functools
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audio import SAMPLE_RATE
from models.eoq import HISTORY, SPEECH, STRICT, EndOfQuery
from models.lm import WordLM
from nodes.config import configure
from nodes.endpoint_rule import EndpointParams, Situation, decide, eoq_inputs
from nodes.messages import DecoderSignal, EndPoint, GateClosed, VoiceActivity, Wake
from pipeline import EndOfStream, Error, Message, Node

log = logging.getLogger(__name__)

KINDS = ("speculative", "final")
KEEP_S = 10.0
"""VAD history kept behind the decoder's progress while no utterance is open (a `Wake` looks back)."""


FINAL = EndpointParams()
SPECULATIVE = EndpointParams(
    silence_s=0.7, complete_silence_s=0.05, blank_s=0.0, complete_blank_s=0.5, idle_blank_s=1.5
)
DEFAULTS: dict[str, EndpointParams] = {"final": FINAL, "speculative": SPECULATIVE}
"""Fitted as a pair on 200 dev recordings of the wake set (requests phrased in held-out ways) by
`speechgraph bench endpoint --corpus corpus_wake --split dev --limit 200`: the fastest final (p50 + p90) that cuts
at most 2 % of speakers off, waits out a 1 s pause in a request the LM does not think complete, and has a
speculative partner that waits no longer on any threshold, leads it by
150-250 ms (p50) and cuts at most 20 % off; then the decoder silence that ends an utterance whatever the VAD
hears (`idle_blank_s`, the same for both). Refit when the recogniser or the word LM changes."""


LEARNED: dict[str, EndpointParams] = {
    "final": EndpointParams(
        threshold=SPEECH, eoq_threshold=0.98078, silence_s=1.5, complete_blank_s=None, idle_blank_s=None
    ),
    "speculative": EndpointParams(
        threshold=SPEECH, eoq_threshold=0.963645, silence_s=0.5, complete_blank_s=None, idle_blank_s=None
    ),
}
"""The learned end-of-query model's pair (`models.eoq`, trained on the old grammar's recordings). On held-out
phrasings it is no better than the rule (final p50/p90 249/1503 ms against 290/1338; docs/measurements.md),
so it is an option, not the default: `EndPointer(kind=k, rule=LEARNED[k])`."""


@dataclass(frozen=True)
class EndpointerConfig:
    """An end-pointer's settings: its kind and the rule's thresholds."""

    kind: str = "final"
    """"final" or "speculative": tags its end-points and picks the rule's default thresholds."""
    rule: EndpointParams | None = None
    """The rule's thresholds (None: the kind's fitted pair in `DEFAULTS`)."""
    forward_errors: bool = False
    """Forward incoming `Error`s (set on one end-pointer, so a failing VAD is reported once)."""
    eoq_weights: str | None = None
    """The end-of-query model the rule reads when `eoq_threshold` is set (None: the shipped
    `weights/endpointer_eoq.json`)."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")

    @property
    def params(self) -> EndpointParams:
        """The thresholds in force."""
        return self.rule if self.rule is not None else DEFAULTS[self.kind]

    def override(self, **overrides: Any) -> EndpointerConfig:
        """A copy with `overrides` of its own fields, then of the rule's (`silence_s=0.9`) on the
        thresholds in force."""
        rule = {k: overrides.pop(k) for k in [f.name for f in fields(EndpointParams)] if k in overrides}
        config = configure(self, overrides)
        return replace(config, rule=replace(config.params, **rule)) if rule else config


LM_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "lm.pt"


@functools.lru_cache(maxsize=1)
def _word_lm() -> WordLM:
    return WordLM.from_checkpoint(torch.load(LM_WEIGHTS, weights_only=False, map_location="cpu")).eval()


@functools.lru_cache(maxsize=8192)
def end_prob(text: str) -> float:
    """The word LM's probability that the request ends after `text` (`models.lm.WordLM.end_prob`; the LM is
    loaded when first needed). Read from text, not from the NLU's grammar, it judges phrasings no grammar lists."""
    return _word_lm().end_prob(text.split()) if text.strip() else 0.0


@dataclass
class _Utterance:
    id: int
    start: int  # tick where the request may begin (the wake word's end)
    next: int | None = None  # absolute index of the next VAD window to decide on
    speech_end: int | None = None  # end tick of the last speech window so far
    strict_end: int | None = None  # the same at the end-of-query model's strict VAD threshold
    signals: deque[DecoderSignal] = field(default_factory=deque)
    last_signal: DecoderSignal | None = None
    decoder_done: bool = False  # the gate closed it: the decoder will say no more about it


@dataclass
class _Stream:
    ends: list[int] = field(default_factory=list)  # end tick of each VAD window kept
    probs: list[float] = field(default_factory=list)
    base: int = 0  # absolute index of ends[0]
    window: int = 512
    horizon: int = 0  # the newest audio time the decoder side has spoken for
    utt: _Utterance | None = None
    done: set[int] = field(default_factory=set)
    ended: bool = False


@dataclass(frozen=True)
class Decision:
    t: int
    reason: str
    silence: int  # ticks of trailing silence (since the utterance start when no speech yet)
    blank: int | None  # ticks of decoder trailing blank (None without the decoder)
    complete: bool | None
    text: str | None


class EndPointer(Node):
    """VoiceActivity, DecoderSignal and `Wake` in; one `EndPoint` per utterance out (users see it as
    an `endpoint` event).

    Options: `config` (default `EndpointerConfig()`), and overrides of its fields or of any
    `EndpointParams` field (`kind="speculative", silence_s=0.9`). Incoming notices
    and events are consumed, not forwarded (they reach the results by other paths),
    except Errors when `forward_errors` is set (so a failing VAD is reported once).
    """

    def __init__(self, config: EndpointerConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        self.config = c = (config or EndpointerConfig()).override(**overrides)
        self.kind = c.kind
        self.params = c.params
        self.after_gate = replace(c.params, idle_blank_s=None)
        """The rule once the gate closed an utterance: the decoder stopped, so its silence says nothing."""
        self.forward_errors = c.forward_errors
        self.eoq: EndOfQuery | None = None
        if self.params.eoq_threshold is not None:
            if not self.params.use_decoder or self.params.threshold != SPEECH:
                raise ValueError(f"the end-of-query model needs the decoder's signals and a VAD threshold of {SPEECH}")
            self.eoq = EndOfQuery.load(c.eoq_weights)

    def new_state(self, stream: str) -> _Stream:
        return _Stream()

    def complete(self, text: str) -> bool:
        """Whether the hypothesis is a complete request: the LM expects the sentence to end after it."""
        return end_prob(text) >= self.params.complete_prob

    # -- inputs --------------------------------------------------------------------

    def on_message(self, msg: Message, st: _Stream) -> Iterable[Message]:
        if isinstance(msg, VoiceActivity):
            self._add_vad(msg, st)
        elif isinstance(msg, DecoderSignal):
            out = self._add_signal(msg, st)
            return out + self._advance(msg.stream, st)
        else:
            return ()
        return self._advance(msg.stream, st)

    def on_control(self, msg: Message, st: _Stream) -> Iterable[Message]:
        st.horizon = max(st.horizon, msg.end)
        out: list[Message] = []
        if isinstance(msg, Wake):
            start = round(msg.end_s * SAMPLE_RATE)
            if msg.utterance not in st.done and (st.utt is None or st.utt.id != msg.utterance):
                out.extend(self._open(msg.stream, st, msg.utterance, start))
            elif st.utt is not None and st.utt.id == msg.utterance and start > st.utt.start:
                self._reanchor(st, start)
        elif isinstance(msg, GateClosed) and st.utt and msg.utterance == st.utt.id:
            st.utt.decoder_done = True
        elif isinstance(msg, Error) and self.forward_errors:
            out.append(msg)
        out.extend(self._advance(msg.stream, st))
        return out

    def on_end_of_stream(self, msg: EndOfStream, st: _Stream) -> Iterable[Message]:
        st.ended = True  # every input has ended: the decoder will say no more
        out = self._advance(msg.stream, st)
        if st.utt is not None:
            t = max(st.utt.start, msg.end, st.ends[-1] if st.ends else 0)
            out.append(self._fire(msg.stream, st, self._decision(st, t, "end_of_stream")))
        return out

    def _add_vad(self, msg: VoiceActivity, st: _Stream) -> None:
        st.window = msg.window
        last = st.ends[-1] if st.ends else -1
        for i, p in enumerate(msg.probs):
            end = msg.start + (i + 1) * msg.window
            if end > last:  # overlapping windows (a restarted VAD) are dropped
                st.ends.append(end)
                st.probs.append(float(p))
                last = end

    def _add_signal(self, msg: DecoderSignal, st: _Stream) -> list[Message]:
        st.horizon = max(st.horizon, msg.end)
        if msg.utterance in st.done:
            return []
        out: list[Message] = []
        if st.utt is None or st.utt.id != msg.utterance:
            out.extend(self._open(msg.stream, st, msg.utterance, msg.start))
        u = st.utt
        assert u is not None
        if u.last_signal is None or msg.end > u.last_signal.end:
            u.signals.append(msg)
            u.last_signal = msg
        return out

    def _open(self, stream: str, st: _Stream, utterance: int, start: int) -> list[Message]:
        out: list[Message] = []
        if st.utt is not None:  # a new utterance before this one ended: close it where we stand
            out.append(self._fire(stream, st, self._decision(st, self._next_t(st), "superseded")))
        st.utt = _Utterance(utterance, start)
        return out

    def _reanchor(self, st: _Stream, start: int) -> None:
        """The decoder's first signal opened the utterance at the first audio the gate forwarded; its `Wake`,
        arriving later, says where the wake word ended (a few ms on). The wake word's end is the
        start either way round, so windows already walked that straddle the wake word stop counting."""
        u = st.utt
        assert u is not None
        u.start = start
        u.speech_end = u.strict_end = None
        if u.next is None:
            return
        half = st.window // 2
        inside = [i for i in range(u.next - st.base) if st.ends[i] - half >= start]
        for i in inside:
            if st.probs[i] >= self.params.threshold:
                u.speech_end = st.ends[i]
            if st.probs[i] >= STRICT:
                u.strict_end = st.ends[i]
        if not inside:
            u.next = None

    # -- deciding ----------------------------------------------------------------------

    def _next_t(self, st: _Stream) -> int:
        u = st.utt
        assert u is not None
        if u.next is not None and u.next - st.base < len(st.ends):
            return st.ends[u.next - st.base]
        return max(u.start, st.ends[-1] if st.ends else 0)

    def _advance(self, stream: str, st: _Stream) -> list[Message]:
        """Decide at every window end both inputs now cover; fire at the first that ends the utterance."""
        out: list[Message] = []
        u = st.utt
        p = self.params
        half = st.window // 2
        while u is not None:
            if u.next is None:  # the first window whose centre lies in the utterance
                i = next((k for k, e in enumerate(st.ends) if e - half >= u.start), None)
                if i is None:
                    break
                u.next = st.base + i
            i = u.next - st.base
            if i >= len(st.ends):
                break
            t = st.ends[i]
            sig = self._signal_at(u, t, st.ended or u.decoder_done)
            if p.use_decoder and sig is None and not (st.ended or u.decoder_done):
                break  # the decoder has not reached t yet
            if st.probs[i] >= p.threshold:
                u.speech_end = t
            if st.probs[i] >= STRICT:
                u.strict_end = t
            u.next += 1
            recent = st.probs[max(0, i - HISTORY + 1) : i + 1] if self.eoq is not None else []
            decision = self._rule(u, t, sig, recent)
            if decision is not None:
                out.append(self._fire(stream, st, decision))
                u = None
        self._prune(st)
        return out

    @staticmethod
    def _signal_at(u: _Utterance, t: int, ended: bool) -> DecoderSignal | None:
        """The decoder's first signal that reaches t (its last one once it will send no more)."""
        while u.signals and u.signals[0].end < t:
            u.signals.popleft()
        if u.signals:
            return u.signals[0]
        return u.last_signal if ended else None

    def _rule(self, u: _Utterance, t: int, sig: DecoderSignal | None, recent: list[float]) -> Decision | None:
        """`nodes.endpoint_rule` at window end t, from what the node holds: its decision, or None."""
        s = Situation(
            elapsed=t - u.start,
            heard=u.speech_end is not None,
            silence=t - (u.speech_end if u.speech_end is not None else u.start),
            strict_heard=u.strict_end is not None,
            strict_silence=t - (u.strict_end if u.strict_end is not None else u.start),
        )
        text = None
        if self.params.use_decoder:
            text = sig.text if sig is not None else ""
            last = round(sig.last_token_s * SAMPLE_RATE) if sig is not None and text else u.start
            s = replace(s, blank=t - max(last, u.start), complete=self.complete(text))
        if self.eoq is not None and s.heard:
            probs = np.zeros(HISTORY, np.float32)
            if recent:
                probs[-len(recent) :] = recent
            inputs = eoq_inputs(s, probs, len((text or "").split()))
            s = replace(s, eoq=float(self.eoq.prob(inputs)[0]))
        reason = decide(self.after_gate if u.decoder_done else self.params, s)
        if reason is None:
            return None
        return Decision(t, reason, int(s.silence), None if s.blank is None else int(s.blank), s.complete, text)

    def _decision(self, st: _Stream, t: int, reason: str) -> Decision:
        u = st.utt
        assert u is not None
        silence = t - (u.speech_end if u.speech_end is not None else u.start)
        if not self.params.use_decoder:
            return Decision(t, reason, silence, None, None, None)
        sig = u.last_signal
        text = sig.text if sig is not None else ""
        last = round(sig.last_token_s * SAMPLE_RATE) if sig is not None and text else u.start
        return Decision(t, reason, silence, t - max(last, u.start), self.complete(text), text)

    def _fire(self, stream: str, st: _Stream, d: Decision) -> EndPoint:
        u = st.utt
        assert u is not None
        st.done.add(u.id)
        st.utt = None
        tick = SAMPLE_RATE
        log.debug("%s: stream %s utterance %d ends at %.3f s (%s)", self.name, stream, u.id, d.t / tick, d.reason)
        return EndPoint(
            stream=stream,
            start=d.t,
            end=d.t,
            utterance=u.id,
            kind=self.kind,
            reason=d.reason,
            trailing_silence_s=round(d.silence / tick, 3),
            trailing_blank_s=None if d.blank is None else round(d.blank / tick, 3),
            complete=d.complete,
            text=d.text,
        )

    def _prune(self, st: _Stream) -> None:
        """Drop VAD windows no decision can need again."""
        keep_from = st.horizon - round(KEEP_S * SAMPLE_RATE)
        drop = 0
        while drop < len(st.ends) and st.ends[drop] < keep_from:
            drop += 1
        if st.utt is not None:
            drop = min(drop, (st.utt.next - st.base) if st.utt.next is not None else 0)
        if drop > 0:
            del st.ends[:drop], st.probs[:drop]
            st.base += drop
