"""An encoder grown by gated residual layers starts as the one it grew from, and streams, batches and
quantises like any other."""

import torch

from models.rnnt import RNNT, RNNTConfig, RowInt8LSTM, quantize_int8
from nodes.decoder.node import DEFAULT_WEIGHTS


def _grown(gates: tuple[float, ...] = (0.0, 0.0)) -> tuple[RNNT, RNNT]:
    shipped = RNNT.from_checkpoint(torch.load(DEFAULT_WEIGHTS, weights_only=False)).eval()
    grown = RNNT(RNNTConfig(**(vars(shipped.config) | {"enc_residual": len(gates)}))).eval()
    missing, unexpected = grown.load_state_dict(shipped.state_dict(), strict=False)
    assert not unexpected and all(k.startswith(("encoder.residual.", "encoder.gates.")) for k in missing)
    torch.manual_seed(1)
    with torch.no_grad():
        for gate, scale in zip(grown.encoder.gates, gates, strict=True):
            gate.weight.copy_(scale * (torch.eye(gate.in_features) + 0.1 * torch.randn_like(gate.weight)))
    return shipped, grown


def test_a_grown_encoder_starts_as_the_one_it_grew_from():
    shipped, grown = _grown()
    feats = grown.normalise(torch.randn(2, 40, grown.config.n_mels))
    with torch.no_grad():
        before, _ = shipped.encoder(feats)
        after, (h, c) = grown.encoder(feats)
    assert torch.equal(before, after)
    assert h.shape == c.shape == (grown.config.enc_states, 2, grown.config.enc_hidden)


def test_a_grown_encoder_streams_chunk_by_chunk_as_it_reads_the_whole():
    _, grown = _grown((0.5, -0.3))
    feats = torch.randn(1, 48, grown.config.n_mels)
    with torch.no_grad():
        whole, _ = grown.encoder(feats)
        first, state = grown.encoder(feats[:, :20])
        second, _ = grown.encoder(feats[:, 20:], state)
    assert torch.allclose(torch.cat([first, second], 1), whole, atol=1e-5)
    assert not torch.allclose(whole, _grown()[1].encoder(feats)[0], atol=1e-3)  # the open gates are used


def test_a_grown_int8_encoder_is_exact_in_a_batch_and_near_the_float_one():
    _, grown = _grown((0.5, -0.3))
    encoder = quantize_int8(grown).encoder
    lstms = [encoder.lstm, *encoder.residual]
    assert all(isinstance(m, RowInt8LSTM) for m in lstms)
    assert sum(len(m.layers) for m in lstms) == grown.config.enc_states
    torch.manual_seed(0)
    feats = torch.randn(6, 8, grown.config.n_mels)
    out, (h, cell) = encoder(feats)
    for i in range(6):
        one, (h1, c1) = encoder(feats[i : i + 1])
        assert torch.equal(one, out[i : i + 1])
        assert torch.equal(h1, h[:, i : i + 1]) and torch.equal(c1, cell[:, i : i + 1])
    with torch.no_grad():
        exact, _ = grown.encoder(feats)
    assert (out - exact).abs().mean() < 0.05 * exact.abs().mean()
