"""The two wake-word models.

Stage 1 (on device, always on): a small causal temporal CNN over log-mel frames.
For every 10 ms frame it gives the probability that the wake word ends there,
and an estimate of how long ago it started. Being causal, it runs frame by
frame on a stream with a short buffer of past frames.

Stage 2 (the verifier): a larger model over a fixed window of 195 frames
(1.95 s) that begins 0.5 s before stage 1's estimated start. Convolutions, then
a GRU, then attention pooling over time; trained on shifted windows so that it
does not depend on stage 1's exact alignment. An optional flag says whether the
device was playing audio.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from audio.level import raise_to
from audio.logmel import LOG_FLOOR

STAGE2_FRAMES = 195
PREROLL_FRAMES = 50
PAD = float(np.log(LOG_FLOOR))
"""Log-mel value of the stage-2 window's frames that are not there (before the stream, or still to come):
digital silence, the same in training and in the gate."""


@dataclass(frozen=True)
class Stage1Config:
    n_mels: int = 64
    channels: int = 64
    kernel: int = 3
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 1)


class CausalConv(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.pad = (kernel - 1) * dilation
        self.conv = nn.Conv1d(cin, cout, kernel, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(nn.functional.pad(x, (self.pad, 0)))


class Stage1(nn.Module):
    """(B, T, n_mels) -> end logits (B, T) and start offsets in frames (B, T)."""

    def __init__(self, c: Stage1Config | None = None) -> None:
        super().__init__()
        self.config = c = c or Stage1Config()
        self.inp = nn.Conv1d(c.n_mels, c.channels, 1)
        self.blocks = nn.ModuleList(CausalConv(c.channels, c.channels, c.kernel, d) for d in c.dilations)
        self.norms = nn.ModuleList(nn.BatchNorm1d(c.channels) for _ in c.dilations)
        self.head = nn.Conv1d(c.channels, 2, 1)
        self.register_buffer("feat_mean", torch.zeros(c.n_mels))
        self.register_buffer("feat_std", torch.ones(c.n_mels))

    @property
    def receptive_field(self) -> int:
        return 1 + sum((self.config.kernel - 1) * d for d in self.config.dilations)

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.inp(((feats - self.feat_mean) / self.feat_std).transpose(1, 2))
        for conv, norm in zip(self.blocks, self.norms, strict=True):
            x = x + torch.relu(norm(conv(x)))
        out = self.head(x)
        return out[:, 0], torch.nn.functional.softplus(out[:, 1]) * 50.0

    def checkpoint(self) -> dict:
        return {"config": asdict(self.config), "state": self.state_dict()}

    @classmethod
    def from_checkpoint(cls, ckpt: dict) -> Stage1:
        c = dict(ckpt["config"])
        c["dilations"] = tuple(c["dilations"])
        m = cls(Stage1Config(**c))
        m.load_state_dict(ckpt["state"])
        return m


class Stage1Stream:
    """Stage 1 for streaming inference: a cache of past activations instead of the receptive field.

    A stream's cache holds, for each causal convolution, the last (kernel - 1) * dilation frames of
    its input: `context` (receptive field - 1) frames of `channels` values in all. A step then computes
    only the new frames, and the steps of several streams with as many new frames each run as one
    batch. A fresh cache is zeros, which is what `Stage1.forward` pads a recording with, so streaming
    a recording from a fresh cache gives `forward`'s outputs, up to float rounding (below 1e-5). A
    zero cache followed by at least `context` frames of a stream gives the exact cache after them.

    It runs in NumPy, in float64, and returns float32 as `forward` does. NumPy costs a third of
    PyTorch's per-call overhead at these sizes (a step is a few small matrix products), and float64
    makes a stream's outputs the same whether it runs alone or in a batch (BLAS sums a one-row
    product in another order than a many-row one, which in float32 would show in the last bits).
    The weights are copied when it is built, each BatchNorm folded into its convolution (running
    statistics, as in eval mode): build it from a trained model, not one still training.
    """

    def __init__(self, model: Stage1) -> None:
        c = self.config = model.config
        self.context = model.receptive_field - 1
        with torch.no_grad():
            self.mean = _f64(model.feat_mean)
            self.std = _f64(model.feat_std)
            self.w_in = _f64(model.inp.weight[:, :, 0].T)  # (n_mels, channels)
            self.b_in = _f64(model.inp.bias)
            self.layers: list[tuple[int, int, np.ndarray, np.ndarray]] = []
            for block, norm in zip(model.blocks, model.norms, strict=True):
                scale = _f64(norm.weight) / np.sqrt(_f64(norm.running_var) + norm.eps)
                w = _f64(block.conv.weight) * scale[:, None, None]  # (out, in, kernel)
                b = (_f64(block.conv.bias) - _f64(norm.running_mean)) * scale + _f64(norm.bias)
                # im2col order: row k * channels + i of the weight takes input channel i at tap k
                w = np.ascontiguousarray(w.transpose(2, 1, 0).reshape(c.kernel * c.channels, c.channels))
                self.layers.append((block.conv.dilation[0], block.pad, w, b))
            self.w_head = _f64(model.head.weight[:, :, 0].T)  # (channels, 2)
            self.b_head = _f64(model.head.bias)

    def new_cache(self, batch: int = 1) -> np.ndarray:
        """The cache of streams that have not started: (batch, context, channels) zeros."""
        return np.zeros((batch, self.context, self.config.channels))

    def step(self, feats: np.ndarray, cache: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(B, T, n_mels) new frames and the (B, context, channels) cache -> end logits (B, T), start
        offsets in frames (B, T) and the cache after the new frames."""
        B, T, _ = feats.shape
        C, K = self.config.channels, self.config.kernel
        x = ((feats.astype(np.float64) - self.mean) / self.std).reshape(B * T, -1) @ self.w_in
        x = (x + self.b_in).reshape(B, T, C)
        caches = []
        pos = 0
        for d, pad, w, b in self.layers:
            xp = np.concatenate([cache[:, pos : pos + pad], x], axis=1)  # (B, pad + T, C)
            pos += pad
            caches.append(xp[:, T:])
            cols = np.concatenate([xp[:, k * d : k * d + T] for k in range(K)], axis=2).reshape(B * T, K * C)
            y = cols @ w
            y += b
            x = x + np.maximum(y, 0.0, out=y).reshape(B, T, C)
        out = (x.reshape(B * T, C) @ self.w_head + self.b_head).reshape(B, T, 2)
        starts = np.logaddexp(0.0, out[..., 1]) * 50.0  # softplus
        return out[..., 0].astype(np.float32), starts.astype(np.float32), np.concatenate(caches, axis=1)


def _f64(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float64)  # a copy


@dataclass(frozen=True)
class Stage2Config:
    n_mels: int = 64
    channels: int = 96
    hidden: int = 128
    use_device_flag: bool = True


class PairMax(nn.Module):
    """`nn.MaxPool2d((1, 2))` over an even last axis, the same values about 10x faster on one core: torch's
    pooling kernel cost stage 2 a fifth of its time."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.maximum(x[..., 0::2], x[..., 1::2])


class Stage2(nn.Module):
    """(B, 195, n_mels) window (+ device-playing flag) -> accept logit (B,)."""

    def __init__(self, c: Stage2Config | None = None) -> None:
        super().__init__()
        self.config = c = c or Stage2Config()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            PairMax(),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            PairMax(),
        )
        self.proj = nn.Linear(32 * (c.n_mels // 4), c.channels)
        self.gru = nn.GRU(c.channels, c.hidden, batch_first=True, bidirectional=True)
        self.attn = nn.Linear(2 * c.hidden, 1)
        self.out = nn.Linear(2 * c.hidden + (1 if c.use_device_flag else 0), 1)
        self.register_buffer("feat_mean", torch.zeros(c.n_mels))
        self.register_buffer("feat_std", torch.ones(c.n_mels))

    def forward(self, window: torch.Tensor, device_playing: torch.Tensor | None = None) -> torch.Tensor:
        x = ((window - self.feat_mean) / self.feat_std)[:, None]  # (B, 1, T, F)
        x = self.conv(x)  # (B, 32, T, F/4)
        B, C, T, F = x.shape
        x = torch.relu(self.proj(x.permute(0, 2, 1, 3).reshape(B, T, C * F)))
        h, _ = self.gru(x)
        weights = torch.softmax(self.attn(h), dim=1)
        pooled = (weights * h).sum(1)
        if self.config.use_device_flag:
            flag = device_playing if device_playing is not None else torch.zeros(B)
            pooled = torch.cat([pooled, flag.float()[:, None]], dim=1)
        return self.out(pooled)[:, 0]

    def checkpoint(self) -> dict:
        return {"config": asdict(self.config), "state": self.state_dict()}

    @classmethod
    def from_checkpoint(cls, ckpt: dict) -> Stage2:
        m = cls(Stage2Config(**ckpt["config"]))
        m.load_state_dict(ckpt["state"])
        return m


def proposes(score: float, frame: int, last: int, threshold: float, refractory: int) -> bool:
    """Stage 1's rule, the one the gate streams and the recipes and benchmarks replay: propose a wake
    word ending at `frame` when the smoothed score reaches `threshold` more than `refractory` frames
    after the previous proposal (at `last`)."""
    return score >= threshold and frame - last > refractory


@torch.no_grad()
def stage1_scores(model: Stage1, frames: np.ndarray, smooth: int) -> tuple[np.ndarray, np.ndarray]:
    """Stage 1 over a whole recording (causal, so the same as streaming it): the score averaged over
    the last `smooth` frames, as the gate smooths it, and the estimated frames since the start."""
    logits, starts = model(torch.from_numpy(np.asarray(frames, dtype=np.float32))[None])
    p = torch.sigmoid(logits[0]).numpy().astype(np.float64)
    c = np.concatenate([[0.0], np.cumsum(p)])
    idx = np.arange(len(p))
    lo = np.maximum(0, idx + 1 - smooth)
    return (c[idx + 1] - c[lo]) / (idx + 1 - lo), starts[0].numpy()


def proposals(
    smoothed: np.ndarray, starts: np.ndarray, threshold: float, refractory: int
) -> list[tuple[int, int, float]]:
    """(end frame, estimated start frame, score) of each stage-1 proposal: the smoothed score
    reaches `threshold` more than `refractory` frames after the previous proposal."""
    out: list[tuple[int, int, float]] = []
    last = -(10**9)
    for f in np.flatnonzero(smoothed >= threshold):
        if proposes(float(smoothed[f]), int(f), last, threshold, refractory):
            out.append((int(f), round(f - float(starts[f])), float(smoothed[f])))
            last = f
    return out


STAGE2_TRAINED_LOW = -4.72
"""5th percentile of the level (`audio.level`) of stage 2's windows around the wake word in the wake set's
train split (every fifth of its rows that has the wake word, 696; 1st percentile -5.7, median -1.6)."""


def level_raised(window: np.ndarray, low: float = STAGE2_TRAINED_LOW) -> np.ndarray:
    """A stage-2 window with a quiet speaker raised to level `low` (`audio.level.raise_to`); padding and
    digital silence stay as they are. 20 dB quieter, dev's false rejects went from 20.8% to 17.8%, and
    at the usual level from 11.6% to 11.4% (wake-word model card)."""
    heard = (window > PAD + 1e-3).any(axis=1)
    shift = raise_to(window[heard].mean(axis=1), low) if heard.any() else 0.0
    if not shift:
        return window
    return np.where(heard[:, None], window + np.float32(shift), window).astype(np.float32)


def stage2_input(frames: np.ndarray, first: int, start: int, heard_to: int, level_low: float | None) -> np.ndarray:
    """What stage 2 verifies: `stage2_window`, a quiet speaker raised to `level_low` (None: as heard)."""
    window = stage2_window(frames, first, start, heard_to)
    return window if level_low is None else level_raised(window, level_low)


def stage2_window(frames: np.ndarray, first: int, start: int, heard_to: int) -> np.ndarray:
    """Stage 2's input for a wake word estimated to start at frame `start`: 195 frames from 0.5 s
    before it, `PAD` where there is no audio (before the stream, or from frame `heard_to` on: not
    heard yet when the gate verifies). `frames[0]` is frame `first` of the stream."""
    lo = start - PREROLL_FRAMES
    window = np.full((STAGE2_FRAMES, frames.shape[1]), PAD, np.float32)
    a, b = max(lo, first), min(first + len(frames), lo + STAGE2_FRAMES, heard_to)
    if b > a:
        window[a - lo : b - lo] = frames[a - first : b - first]
    return window
