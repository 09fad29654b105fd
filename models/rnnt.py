"""A streaming RNN-T: a causal LSTM encoder over stacked log-mel frames, a
prediction network over characters, and an additive joint network.

The prediction network is stateless by default (`pred_context` > 0): it sees
only the last few characters, as in icefall's stateless transducers. An LSTM
prediction network is a language model of the training text; given a small
grammar it learns the grammar and writes its sentences over what the encoder
hears. Four characters are enough to spell, too few to memorise requests.

An encoder grows deeper without forgetting what it learned: `enc_residual` LSTM
layers above the stack, each added to its input through a gate, a linear map that
starts at zero (the zero-initialised projection of LoRA and ControlNet), so a
recogniser grown from a trained one (`train asr --init`) starts as exactly that
one. A matrix rather than a scalar (ReZero): a scalar gate's gradient is the
layer's random output summed against the loss's, near zero until the layer has
learned, and its layer learns nothing while the gate is shut; a matrix learns
at once which of the new layer's features help.

The encoder never looks ahead: frames are stacked by `stack` and subsampled by
the same factor (40 ms per encoder step with the defaults), and every LSTM is
unidirectional, so decoding chunk by chunk with carried state gives exactly the
outputs of decoding the whole utterance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn

from models.context_bias import ContextBiaser
from models.rnnt_loss import rnnt_loss
from models.tokens import VOCAB


@dataclass(frozen=True)
class RNNTConfig:
    n_mels: int = 64
    stack: int = 4
    enc_hidden: int = 256
    enc_layers: int = 4
    pred_embed: int = 128
    pred_hidden: int = 256
    pred_context: int = 4
    """Characters the prediction network sees (stateless); 0: an LSTM over the whole history."""
    joint_dim: int = 256
    vocab: int = len(VOCAB)
    dropout: float = 0.1
    context_dim: int = 0
    """Width of the learned contextual biasing (`models.context_bias`); 0: none."""
    context_embed: int = 32
    enc_residual: int = 0
    """LSTM layers above the `enc_layers` stack, each added to its input through a linear gate that starts at zero."""
    ctc_head: bool = False
    """A CTC output layer on the encoder: the decoder's second pass reads the audio through it, free of the
    prediction network's language model (`training.ctc_head` fits it)."""

    @property
    def enc_states(self) -> int:
        """LSTM layers of the encoder in all, the rows of its state."""
        return self.enc_layers + self.enc_residual


class Encoder(nn.Module):
    def __init__(self, c: RNNTConfig) -> None:
        super().__init__()
        self.c = c
        self.inp = nn.Linear(c.n_mels * c.stack, c.enc_hidden)
        self.lstm = nn.LSTM(c.enc_hidden, c.enc_hidden, c.enc_layers, batch_first=True, dropout=c.dropout)
        self.residual = nn.ModuleList(
            nn.LSTM(c.enc_hidden, c.enc_hidden, 1, batch_first=True) for _ in range(c.enc_residual)
        )
        self.gates = nn.ModuleList(nn.Linear(c.enc_hidden, c.enc_hidden, bias=False) for _ in range(c.enc_residual))
        for gate in self.gates:
            nn.init.zeros_(gate.weight)
        self.norm = nn.LayerNorm(c.enc_hidden)

    def stack_frames(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, T, F) -> (B, T // stack, F * stack): a frame at 40 ms holds the four 10 ms frames before it."""
        B, T, F = feats.shape
        T2 = T // self.c.stack
        return feats[:, : T2 * self.c.stack].reshape(B, T2, F * self.c.stack)

    def forward(self, feats: torch.Tensor, state=None):
        """Encoder frames of (B, T, F) features and the state after them: (h, c), each (`enc_states`, B, H)."""
        x = torch.relu(self.inp(self.stack_frames(feats)))
        n = self.c.enc_layers
        out, (h, c) = self.lstm(x, None if state is None else (state[0][:n], state[1][:n]))
        hs, cs = [h], [c]
        for k, lstm in enumerate(self.residual):
            y, (hk, ck) = lstm(out, None if state is None else (state[0][n + k, None], state[1][n + k, None]))
            out = out + self.gates[k](nn.functional.dropout(y, self.c.dropout, self.training))
            hs.append(hk)
            cs.append(ck)
        return self.norm(out), (torch.cat(hs), torch.cat(cs))


class Predictor(nn.Module):
    """LSTM prediction network: its state is `(h, c)`, each (1, B, H)."""

    def __init__(self, c: RNNTConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(c.vocab, c.pred_embed)
        self.lstm = nn.LSTM(c.pred_embed, c.pred_hidden, 1, batch_first=True)

    def forward(self, labels: torch.Tensor, state=None):
        out, state = self.lstm(self.embed(labels), state)
        return out, state


class StatelessPredictor(nn.Module):
    """The last `pred_context` units, embedded and mixed by one layer; its state is `(history,)`, the
    last `pred_context - 1` units as a (1, B, k-1) tensor (blank before the first), so a decoder can
    carry it exactly like an LSTM state."""

    def __init__(self, c: RNNTConfig) -> None:
        super().__init__()
        self.k = c.pred_context
        self.embed = nn.Embedding(c.vocab, c.pred_embed)
        self.mix = nn.Linear(c.pred_embed * self.k, c.pred_hidden)

    def forward(self, labels: torch.Tensor, state=None):
        B = labels.shape[0]
        history = state[0][0] if state is not None else labels.new_zeros(B, self.k - 1)
        seq = torch.cat([history, labels], dim=1)
        windows = seq.unfold(1, self.k, 1)  # (B, U, k): each unit with the k-1 before it
        out = torch.relu(self.mix(self.embed(windows).flatten(2)))
        return out, (seq[:, seq.shape[1] - (self.k - 1) :][None],)


class Joint(nn.Module):
    def __init__(self, c: RNNTConfig) -> None:
        super().__init__()
        self.enc = nn.Linear(c.enc_hidden, c.joint_dim)
        self.pred = nn.Linear(c.pred_hidden, c.joint_dim)
        self.out = nn.Linear(c.joint_dim, c.vocab)

    def forward(self, enc: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
        """enc (B, T, H) and pred (B, U+1, H) -> logits (B, T, U+1, V); or matching shapes for one step."""
        if enc.dim() == 3 and pred.dim() == 3:
            return self.out(torch.tanh(self.enc(enc)[:, :, None] + self.pred(pred)[:, None]))
        return self.out(torch.tanh(self.enc(enc) + self.pred(pred)))


class RNNT(nn.Module):
    def __init__(self, c: RNNTConfig | None = None) -> None:
        super().__init__()
        self.config = c or RNNTConfig()
        self.encoder = Encoder(self.config)
        self.predictor = StatelessPredictor(self.config) if self.config.pred_context else Predictor(self.config)
        self.joint = Joint(self.config)
        c = self.config
        self.biaser = (
            ContextBiaser(c.vocab, c.context_embed, c.context_dim, c.enc_hidden, c.pred_hidden)
            if c.context_dim
            else None
        )
        self.ctc_head = nn.Linear(c.enc_hidden, c.vocab) if c.ctc_head else None
        self.register_buffer("feat_mean", torch.zeros(self.config.n_mels))
        self.register_buffer("feat_std", torch.ones(self.config.n_mels))
        self.words: frozenset[str] = frozenset()
        """The words of its training transcripts: a decoded word outside them was spelled letter by letter, the
        mark of a name the recogniser has not learned (`nodes.decoder.respell`)."""

    def normalise(self, feats: torch.Tensor) -> torch.Tensor:
        return (feats - self.feat_mean) / self.feat_std

    def forward(
        self,
        feats: torch.Tensor,
        labels: torch.Tensor,
        enc_lens: torch.Tensor,
        label_lens: torch.Tensor,
        contexts: Sequence[Sequence[str]] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Training losses of normalised features (B, T, F) and labels (B, U), `enc_lens` in encoder steps:
        the transducer loss per target character (read through each row's context phrases if the model has
        learned biasing) and the CTC loss of the encoder alone (None without a CTC layer), which makes the
        encoder listen from the first steps."""
        enc, _ = self.encoder(feats)
        start = torch.zeros(labels.shape[0], 1, dtype=labels.dtype, device=labels.device)  # blank starts
        pred, _ = self.predictor(torch.cat([start, labels], dim=1))
        heard = enc
        if self.biaser is not None and contexts is not None:
            mem = self.biaser.memory(contexts)
            heard, pred = self.biaser.bias_encoder(enc, mem), self.biaser.bias_predictor(pred, mem)
        per_token = max(1.0, float(label_lens.float().mean()))
        transducer = rnnt_loss(self.joint(heard, pred), labels, enc_lens, label_lens) / per_token
        if self.ctc_head is None:
            return transducer, None
        log_probs = torch.log_softmax(self.ctc_head(enc), -1).transpose(0, 1)
        ctc = nn.functional.ctc_loss(log_probs, labels, enc_lens, label_lens, zero_infinity=True)
        return transducer, ctc  # CTC's loss is already per target token

    def checkpoint(self, half: bool = True) -> dict:
        """Config and weights; stored in float16 (half the size), loaded back as float32."""
        state = {k: v.half() if half and v.is_floating_point() else v for k, v in self.state_dict().items()}
        return {"config": asdict(self.config), "state": state, "words": sorted(self.words)}

    @classmethod
    def from_checkpoint(cls, ckpt: dict) -> RNNT:
        model = cls(RNNTConfig(**({"pred_context": 0} | ckpt["config"])))  # older checkpoints: LSTM predictor
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ckpt["state"].items()})
        model.words = frozenset(ckpt.get("words", ()))
        return model

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def quantize_int8(model: RNNT) -> RNNT:
    """Post-training dynamic int8 quantisation (torch.ao) of the LSTMs and linear layers, for CPU inference, with
    each input row quantised alone (`RowInt8Linear`, `RowInt8LSTM`): torch's own kernels give a call's rows one
    scale, so a hypothesis' or a stream's scores would depend on which others shared its call, and a runtime's
    results on its timing. The context reader (bidirectional, once per context list) keeps torch's kernels."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's quantized tensors are deprecated in favour of torchao
        quantized = torch.ao.quantization.quantize_dynamic(model.eval(), {nn.LSTM, nn.Linear}, dtype=torch.qint8)
    for parent in list(quantized.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.ao.nn.quantized.dynamic.Linear):
                setattr(parent, name, RowInt8Linear(child))
            elif isinstance(child, torch.ao.nn.quantized.dynamic.LSTM) and not child.bidirectional:
                setattr(parent, name, RowInt8LSTM(child))
    return quantized


def _row_quantised(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row of `x` as 8-bit integers (held in float32) and its scale: the row's range, zero included, in
    127 steps (the reduced range of torch's dynamic quantisation on x86). The zero point only shifts the
    integers, and the product subtracts it again, so it is left out."""
    lo, hi = torch.aminmax(x, dim=-1, keepdim=True)
    scale = hi.clamp_(min=0.0).sub_(lo.clamp_(max=0.0)).div_(127.0).clamp_(min=1e-30)  # a row of zeros: any scale
    return torch.div(x, scale).round_(), scale


def _int8_linear(linear: nn.Module) -> tuple[torch.Tensor, float]:
    """A dynamically quantised linear layer's weight, transposed, as integers held in float32, and its scale."""
    w = linear.weight()
    return (w.int_repr().float() - w.q_zero_point()).t().contiguous(), float(w.q_scale())


def _row_product(x: torch.Tensor, weight_t: torch.Tensor, scale: float) -> torch.Tensor:
    """`x` times an `_int8_linear` weight, each row of `x` quantised alone: exact whichever rows share the call."""
    q, row_scale = _row_quantised(x)
    return (q @ weight_t).mul_(row_scale.mul_(scale))


class _Int8LSTMLayer:
    """One layer of a dynamically quantised LSTM with its inputs quantised row by row.

    torch's dynamic quantisation gives a call's input one scale, so a row's result depends on the rows
    beside it. Here each row of the input and of the hidden state gets its own scale, and the integer
    products are summed in float32: every partial sum is an integer below 2^24, exact in any order, so a
    row's result is the same in a batch of any size (and within float rounding of torch's own: ~1e-7)."""

    def __init__(self, w_ih: torch.Tensor, b_ih: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor) -> None:
        ws = [w.int_repr().float() - w.q_zero_point() for w in (w_ih, w_hh)]
        if max(w.shape[1] for w in ws) * 127 * 128 >= 2**24:
            raise ValueError("rows this long may not sum exactly in float32")
        self.weight_t = torch.stack([w.t() for w in ws]).contiguous()  # (2, in, 4 x hidden)
        self.scale = torch.tensor([float(w_ih.q_scale()), float(w_hh.q_scale())]).reshape(2, 1, 1)
        self.bias = b_ih.float() + b_hh.float()

    def __call__(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q, scale = _row_quantised(torch.stack([x, h]))
        acc = torch.bmm(q, self.weight_t)  # integers in float32: exact, and 20-50x faster than torch._int_mm on CPU
        gates = (acc * (scale * self.scale)).sum(0) + self.bias
        i, f, g, o = gates.chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


def _int8_layers(lstm: nn.Module) -> list[_Int8LSTMLayer]:
    ws, bs = lstm.get_weight(), lstm.get_bias()
    return [
        _Int8LSTMLayer(ws[f"weight_ih_l{k}"], bs[f"bias_ih_l{k}"], ws[f"weight_hh_l{k}"], bs[f"bias_hh_l{k}"])
        for k in range(lstm.num_layers)
    ]


class RowInt8Linear(nn.Module):
    """A dynamically quantised linear layer (torch.ao) run with each row of its input quantised alone."""

    def __init__(self, linear: nn.Module) -> None:
        super().__init__()
        self.weight_t, self.scale = _int8_linear(linear)
        if self.weight_t.shape[0] * 127 * 128 >= 2**24:
            raise ValueError("rows this long may not sum exactly in float32")
        bias = linear.bias()
        self.bias = None if bias is None else bias.float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = _row_product(x, self.weight_t, self.scale)
        return y if self.bias is None else y.add_(self.bias)


class RowInt8LSTM(nn.Module):
    """A dynamically quantised unidirectional, batch-first LSTM (torch.ao) run on `_Int8LSTMLayer`s: each
    sequence's outputs and states are the same whichever sequences share the call."""

    def __init__(self, lstm: nn.Module) -> None:
        super().__init__()
        if not lstm.batch_first:
            raise ValueError("only batch-first LSTMs")
        self.layers = _int8_layers(lstm)
        self.hidden_size = lstm.hidden_size

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x (B, T, I) and the state (h, c), each (layers, B, H), as `nn.LSTM` takes and gives them."""
        if state is None:
            zeros = x.new_zeros(len(self.layers), x.shape[0], self.hidden_size)
            state = (zeros, zeros)
        h, c = list(state[0].unbind(0)), list(state[1].unbind(0))
        outs = []
        for t in range(x.shape[1]):
            y = x[:, t]
            for k, layer in enumerate(self.layers):
                h[k], c[k] = layer(y, h[k], c[k])
                y = h[k]
            outs.append(y)
        return torch.stack(outs, 1), (torch.stack(h), torch.stack(c))


@torch.no_grad()
def greedy_decode(
    model: RNNT, feats: torch.Tensor, contexts: Sequence[Sequence[str]] | None = None, max_symbols: int = 5
) -> list[list[int]]:
    """Greedy RNN-T decoding of normalised features (B, T, F), with each row's context phrases if the model
    has learned biasing: for quick dev checks during training."""
    model.eval()
    enc, _ = model.encoder(feats)
    mem = model.biaser.memory(contexts) if model.biaser is not None and contexts is not None else None
    if mem is not None:
        enc = model.biaser.bias_encoder(enc, mem)
    read = (lambda p: model.biaser.bias_predictor(p, mem)) if mem is not None else (lambda p: p)
    B, T, _ = enc.shape
    out: list[list[int]] = [[] for _ in range(B)]
    last = torch.zeros(B, 1, dtype=torch.long, device=feats.device)
    pred, state = model.predictor(last)
    pred = read(pred)
    for t in range(T):
        for _ in range(max_symbols):
            logits = model.joint(enc[:, t], pred[:, 0])
            k = logits.argmax(-1)
            emit = k != 0
            if not emit.any():
                break
            new_pred, new_state = model.predictor(k[:, None], state)
            pred = torch.where(emit[:, None, None], read(new_pred), pred)
            state = tuple(torch.where(emit[None, :, None], n, s) for n, s in zip(new_state, state, strict=True))
            for b in torch.nonzero(emit).flatten().tolist():
                out[b].append(int(k[b]))
    return out
