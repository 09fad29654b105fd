"""Voice activity: silero-vad speech probabilities for consecutive 512-sample windows.

The end-pointers measure trailing silence on this grid. Windows are aligned to
the stream's first sample and carried across chunks, so the probabilities do not
depend on how the audio was cut. Silero is recurrent: instead of its wrapper,
which keeps one hidden state inside the model object, the node calls the inner
network with a (context, state) pair it keeps per stream, so one model serves
every stream. Streams are not batched together: a batch would change the floats
with the arrival order, and the end-pointers must decide the same on every runtime.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from nodes.config import configure
from nodes.features import ChunkCheck
from nodes.messages import AudioChunk, VoiceActivity
from pipeline import Error, Message, Node

WINDOW = 512
"""Samples per probability: silero's fixed window at 16 kHz (32 ms)."""


@dataclass(frozen=True)
class VADConfig:
    """The VAD's settings (the model and its window are silero's own)."""

    threads: int = 1
    """Torch threads of the process the VAD runs in."""


@dataclass
class _Stream:
    next_start: int | None = None  # tick where the next window starts
    pending: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    context: torch.Tensor | None = None  # the previous window's last samples (silero prepends them)
    state: torch.Tensor | None = None  # the recurrent state
    check: ChunkCheck = field(default_factory=ChunkCheck)  # bad audio repaired before it reaches the network


class SileroVAD:
    """The silero network with the recurrent state held by the caller."""

    def __init__(self) -> None:
        from silero_vad import load_silero_vad

        with warnings.catch_warnings():  # silero's own use of deprecated importlib and torch.jit calls
            warnings.simplefilter("ignore", DeprecationWarning)
            wrapper = load_silero_vad()
        self.net = getattr(wrapper, "_model", None)
        if self.net is None or not hasattr(self.net, "context_size_samples"):
            raise RuntimeError("this silero-vad version does not expose its 16 kHz network (tested with 6.x)")
        self.context_size = int(self.net.context_size_samples)

    def initial(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.zeros(1, self.context_size), torch.zeros(2, 1, 128)

    @torch.no_grad()
    def probs(
        self, windows: np.ndarray, context: torch.Tensor, state: torch.Tensor
    ) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
        """Speech probabilities of `windows` (n x 512), and the context and state after them."""
        out = np.empty(len(windows), np.float32)
        x = torch.from_numpy(np.array(windows, dtype=np.float32))  # a copy: messages hold read-only arrays
        for i in range(len(windows)):
            w = x[i : i + 1]
            p, state = self.net(torch.cat([context, w], 1), state)
            context = w[:, -self.context_size :]
            out[i] = float(p)
        return out, context, state


class VoiceActivityDetector(Node):
    """AudioChunk -> VoiceActivity: one message per chunk that completes at least one window."""

    def __init__(self, config: VADConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        self.config = configure(config or VADConfig(), overrides)
        torch.set_num_threads(self.config.threads)
        self.vad = SileroVAD()

    def new_state(self, stream: str) -> _Stream:
        st = _Stream()
        st.context, st.state = self.vad.initial()
        return st

    def on_message(self, msg: Message, state: _Stream) -> Iterable[Message]:
        if not isinstance(msg, AudioChunk):
            return ()
        st = state
        samples, at, jumped, problem = st.check.take(msg)
        out: list[Message] = []
        if problem:
            out.append(Error(stream=msg.stream, start=msg.start, end=msg.end, node=self.name, error=problem))
        if jumped:  # the first chunk, or a jump ahead (reported): the window grid starts here
            st.next_start, st.pending = at, np.zeros(0, np.float32)
        elif not len(samples):
            return out
        x = np.concatenate([st.pending, samples]) if len(st.pending) else samples
        n = len(x) // WINDOW
        st.pending = x[n * WINDOW :].copy()
        if n == 0:
            return out
        probs, st.context, st.state = self.vad.probs(x[: n * WINDOW].reshape(n, WINDOW), st.context, st.state)
        start = st.next_start
        st.next_start = start + n * WINDOW
        out.append(VoiceActivity(stream=msg.stream, start=start, end=st.next_start, probs=probs, window=WINDOW))
        return out


def speech_probs(samples: np.ndarray, vad: SileroVAD | None = None) -> np.ndarray:
    """Probabilities of every complete window of a whole signal (tools, benchmarks)."""
    vad = vad or SileroVAD()
    n = len(samples) // WINDOW
    context, state = vad.initial()
    probs, _, _ = vad.probs(np.asarray(samples[: n * WINDOW], np.float32).reshape(n, WINDOW), context, state)
    return probs
