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

from nodes.features import LOG_FLOOR

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


@dataclass(frozen=True)
class Stage2Config:
    n_mels: int = 64
    channels: int = 96
    hidden: int = 128
    use_device_flag: bool = True


class Stage2(nn.Module):
    """(B, 195, n_mels) window (+ device-playing flag) -> accept logit (B,)."""

    def __init__(self, c: Stage2Config | None = None) -> None:
        super().__init__()
        self.config = c = c or Stage2Config()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.MaxPool2d((1, 2)),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d((1, 2)),
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
