"""The end-pointer's rule, written once: where an open utterance ends.

The EndPointer node (`nodes/endpointer.py`) applies it at the end of each VAD window
of the utterance as the audio arrives; the benchmark that fits its thresholds
(`bench/endpoint.py`) applies it to whole recordings at once, with numpy arrays for
every window and every setting of a grid. Both call `holds`, so the thresholds
fitted are those of the rule the node runs.

At the end t of a window the rule fires for the first reason that holds, in the order
of `REASONS`:

- `eoq` (when `eoq_threshold` is set): speech was heard and the end-of-query model
  (`models.eoq`) puts the probability that the request is over at or above it;
- `silence`: speech was heard and the trailing silence is at least
  `complete_silence_s` when the decoder's hypothesis is a complete request (the
  word LM's end-of-sentence probability after it is at least `complete_prob`) or
  `silence_s` when it is not, and the decoder has emitted nothing for `blank_s`;
  with the end-of-query model, instead the fallback of a model that stays unsure:
  `silence_s` of silence at its strict VAD threshold (`models.eoq.STRICT`);
- `decoder`: the hypothesis is complete and the decoder has emitted nothing for
  `complete_blank_s`, whatever the VAD says;
- `idle` (when `idle_blank_s` is set): the VAD has heard speech for `idle_blank_s`
  past the decoder's last output, whatever the LM says (noise or the device's own
  playback keeps the VAD on while nobody speaks to it; a silent pause never counts);
- `no_speech`: no speech `no_speech_s` after the utterance began;
- `max_length`: the utterance has lasted `max_length_s`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from audio import SAMPLE_RATE
from models.eoq import features

Ticks = int | np.ndarray
"""Audio time in ticks: one value (the node), or one per window and setting (the benchmark)."""
Flags = bool | np.ndarray

REASONS = ("eoq", "silence", "decoder", "idle", "no_speech", "max_length")
"""What ends an utterance, in the order the rule checks them."""


@dataclass(frozen=True)
class EndpointParams:
    """The rule's thresholds (seconds, except `threshold`, the VAD probability counted as speech).

    The defaults are the final end-pointer's, fitted on dev with the speculative one's
    (`nodes.endpointer.SPECULATIVE`) by `bench/endpoint.py`. To evaluate a grid of settings at once,
    give any threshold as a numpy array (None as inf).
    """

    threshold: float = 0.7
    """VAD probability at or above which a window counts as speech."""
    silence_s: float = 1.4
    """Trailing silence that ends an utterance whose hypothesis is not a complete request (the pause a
    speaker may take mid-request: "call ... meg bauer")."""
    complete_silence_s: float = 0.2
    """Trailing silence that ends an utterance whose hypothesis is a complete request (short: the LM
    vouches for it)."""
    blank_s: float = 0.1
    """Besides the silence, the decoder must have emitted nothing for this long (it may still be reading
    the last word)."""
    complete_blank_s: float | None = 0.5
    """A complete hypothesis and this long without decoder output end the utterance whatever the VAD says;
    None: the decoder alone never ends one."""
    complete_prob: float = 0.02
    """The decoder's hypothesis counts as a complete request when the word LM gives the end of the sentence
    at least this probability after it (`nodes.endpointer.end_prob`)."""
    idle_blank_s: float | None = 1.5
    """The VAD has heard speech this long past the decoder's last output (noise or playback, no words): the
    utterance ends whatever the LM says; None: never."""
    use_decoder: bool = True
    """False: the VAD-only baseline (trailing silence `silence_s`, no decoder signals)."""
    no_speech_s: float = 5.0
    """No speech this long after the utterance began ends it (a false wake)."""
    max_length_s: float = 8.0
    """No utterance lasts longer."""
    eoq_threshold: float | None = None
    """None: the silence rule; else the end-of-query model replaces it (its VAD threshold is `models.eoq.SPEECH`)."""


@dataclass(frozen=True)
class Situation:
    """What the rule sees at the end t of a VAD window of the open utterance.

    Scalars for one window (the node), or arrays with one row per window (the benchmark).
    """

    elapsed: Ticks
    """Since the utterance began (the wake word's end)."""
    heard: Flags
    """Speech was heard: a window at or above the rule's VAD `threshold`."""
    silence: Ticks
    """Since the last speech window ended (since the utterance began while none was heard)."""
    strict_heard: Flags = False
    strict_silence: Ticks = 0
    """The same at the end-of-query model's strict threshold (`models.eoq.STRICT`)."""
    blank: Ticks | None = None
    """Since the decoder's last output (None: the rule does without the decoder)."""
    complete: Flags | None = None
    """The decoder's hypothesis is a complete request (None: without the decoder)."""
    eoq: float | np.ndarray | None = None
    """The end-of-query model's probability that the request is over (None: not asked, no speech yet)."""

    def broadcast(self, axes: int) -> Situation:
        """The same with `axes` trailing axes of length 1 on each array, to meet a grid of settings."""
        pad = (1,) * axes
        return replace(
            self,
            **{
                f.name: np.reshape(v, np.shape(v) + pad)
                for f in fields(self)
                if isinstance(v := getattr(self, f.name), np.ndarray)
            },
        )


def reached(ticks: Ticks, seconds: Any) -> Flags:
    """Whether `ticks` last at least `seconds` (half a tick of slack for the seconds' rounding)."""
    return ticks >= np.asarray(seconds, dtype=float) * SAMPLE_RATE - 0.5


def holds(p: EndpointParams, s: Situation) -> dict[str, Flags]:
    """Whether each reason of `REASONS` holds in situation `s` under settings `p` (arrays broadcast)."""
    heard = np.asarray(s.heard)
    blank, complete = (s.blank, s.complete) if p.use_decoder else (None, None)
    if p.eoq_threshold is not None:
        eoq = False if s.eoq is None else heard & (np.asarray(s.eoq) >= p.eoq_threshold)
        silence = heard & np.asarray(s.strict_heard) & reached(s.strict_silence, p.silence_s)
    else:
        eoq = False
        need = p.silence_s if complete is None else np.where(complete, p.complete_silence_s, p.silence_s)
        silence = heard & reached(s.silence, need)
        if blank is not None:
            silence = silence & reached(blank, p.blank_s)
    decoder: Flags = False
    if p.complete_blank_s is not None and blank is not None and complete is not None:
        decoder = np.asarray(complete) & reached(blank, p.complete_blank_s)
    idle: Flags = False
    if p.idle_blank_s is not None and blank is not None:
        idle = heard & reached(np.asarray(blank) - np.asarray(s.silence), p.idle_blank_s)
    return {
        "eoq": eoq,
        "silence": silence,
        "decoder": decoder,
        "idle": idle,
        "no_speech": ~heard & reached(s.elapsed, p.no_speech_s),
        "max_length": reached(s.elapsed, p.max_length_s),
    }


def decide(p: EndpointParams, s: Situation) -> str | None:
    """The reason the utterance ends at this window, or None (one window: scalars)."""
    return next((reason for reason, ok in holds(p, s).items() if ok), None)


NEVER = np.iinfo(np.int64).max // 4
"""`first_fire`'s answer for a setting that never fires."""


def first_fire(p: EndpointParams, s: Situation, t: np.ndarray) -> np.ndarray:
    """The first window end of `t` where the rule fires, for each setting of `p` (NEVER where none).

    `s` has one row per window of `t`; `p` may hold arrays (a grid), which the answer's shape follows.
    The first window where any reason holds is the earliest of each reason's first, and each of those
    is found on the settings it depends on alone (a grid of thousands of settings costs little more).
    """
    grid = np.broadcast_shapes(*(np.shape(getattr(p, f.name)) for f in fields(p) if getattr(p, f.name) is not None))
    first = np.full(grid, len(t))
    for ok in holds(p, s.broadcast(len(grid))).values():
        ok = np.asarray(ok)
        if ok.ndim == 0:
            first = np.minimum(first, 0 if ok else len(t))
            continue
        ok = np.broadcast_to(ok, (len(t), *ok.shape[1:]))
        first = np.minimum(first, np.where(ok.any(0), np.argmax(ok, axis=0), len(t)))
    return np.where(first < len(t), t[np.minimum(first, len(t) - 1)], NEVER)


def first_reason(p: EndpointParams, s: Situation) -> tuple[int, str] | None:
    """(row, reason) of the first window where the rule fires under one setting `p`, or None."""
    masks = {reason: np.broadcast_to(ok, np.shape(s.elapsed)) for reason, ok in holds(p, s).items()}
    fired = functools.reduce(np.logical_or, masks.values())
    if not fired.any():
        return None
    k = int(np.argmax(fired))
    return k, next(reason for reason, ok in masks.items() if ok[k])


def eoq_inputs(s: Situation, recent: np.ndarray, words: Any) -> np.ndarray:
    """The end-of-query model's input rows (`models.eoq.features`) for situation `s` taken at its VAD
    threshold (`models.eoq.SPEECH`): `recent` holds the last windows' VAD probabilities, one row each."""
    tick = SAMPLE_RATE
    return features(
        np.atleast_2d(recent),
        np.atleast_1d(np.asarray(s.silence) / tick),
        np.atleast_1d(np.asarray(s.blank) / tick),
        np.atleast_1d(np.asarray(s.complete)),
        np.atleast_1d(np.asarray(words)),
        np.atleast_1d(np.asarray(s.elapsed) / tick),
        np.atleast_1d(np.asarray(s.strict_silence) / tick),
    )
