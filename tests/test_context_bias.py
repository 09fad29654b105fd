"""Learned contextual biasing: neutral when added, independent of batching, trained by the recipe, used in search."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from models.rnnt import RNNT, RNNTConfig, greedy_decode
from nodes.decoder.beam import BeamSearch
from nodes.decoder.context import ContextGraph
from training.asr import train
from training.options import asr_arguments

SHIPPED = Path(__file__).resolve().parent.parent / "weights" / "asr_rnnt.pt"


def with_learned_bias(dim: int = 32) -> tuple[RNNT, RNNT]:
    """The shipped recogniser without learned biasing, and the same with an untrained one added."""
    shipped = RNNT.from_checkpoint(torch.load(SHIPPED, weights_only=False))
    plain = RNNT(RNNTConfig(**{**shipped.config.__dict__, "context_dim": 0}))
    plain.load_state_dict(shipped.state_dict(), strict=False)
    biased = RNNT(RNNTConfig(**{**shipped.config.__dict__, "context_dim": dim}))
    biased.load_state_dict(plain.state_dict(), strict=False)
    return plain, biased


def test_a_phrase_reads_the_same_whatever_else_is_in_the_batch():
    model = RNNT(RNNTConfig(context_dim=16))
    alone = model.biaser.memory([["meg bauer"]])
    batched = model.biaser.memory([["zdenek szczepanski", "oven"], ["meg bauer"], []])
    n = int(alone.valid.sum())
    assert n == 1 + len(" meg bauer ")  # the "none" entry and every position of the phrase
    assert torch.allclose(alone.values[0, :n], batched.values[1, :n], atol=1e-6)
    assert batched.valid[2].tolist() == [True] + [False] * (batched.valid.shape[1] - 1)


def test_the_encoder_side_read_scales_with_its_decoding_strength():
    model = RNNT(RNNTConfig(context_dim=16))
    torch.nn.init.normal_(model.biaser.enc_write.weight)  # as if trained: the write-back starts at zero
    mem = model.biaser.memory([["meg bauer"]])
    enc = torch.randn(1, 5, model.config.enc_hidden)
    full = model.biaser.bias_encoder(enc, mem) - enc
    assert full.abs().sum() > 0
    assert torch.equal(model.biaser.bias_encoder(enc, mem, strength=0.0), enc)
    assert torch.allclose(model.biaser.bias_encoder(enc, mem, strength=0.5) - enc, full / 2, atol=1e-6)


def test_learned_biasing_added_to_a_trained_model_changes_nothing_until_trained():
    plain, biased = with_learned_bias()
    x = torch.randn(2, 120, plain.config.n_mels)
    contexts = [["meg bauer", "kitchen lights"], []]
    assert greedy_decode(biased, x, contexts) == greedy_decode(plain, x)
    graph = ContextGraph(contexts[0], bonus=0.0)
    frames = np.random.default_rng(0).normal(size=(200, plain.config.n_mels)).astype(np.float32)
    texts = []
    for search in (BeamSearch(plain), BeamSearch(biased)):
        st = search.start()
        search.accept(st, frames, graph)
        texts.append(search.best_text(st, graph))
    assert texts[0] == texts[1]


def test_the_recipe_trains_learned_biasing_on_top_of_a_trained_model(tiny, tmp_path):
    p = argparse.ArgumentParser()
    asr_arguments(p)
    common = ["--corpus", str(tiny), "--epochs", "1", "--max-frames", "2500", "--dev-limit", "2", "--threads", "1"]
    plain = p.parse_args([*common, "--run", str(tmp_path / "a"), "--weights", str(tmp_path / "a.pt")])
    train(plain)
    on_top = ["--init", str(tmp_path / "a.pt"), "--context-dim", "16"]
    biased = p.parse_args([*common, "--run", str(tmp_path / "b"), "--weights", str(tmp_path / "b.pt"), *on_top])
    train(biased)
    model = RNNT.from_checkpoint(torch.load(tmp_path / "b.pt", weights_only=False))
    assert model.config.context_dim == 16
    assert model.biaser.pred_write.weight.abs().sum() > 0  # it learned something, starting from zero
    start = RNNT.from_checkpoint(torch.load(tmp_path / "a.pt", weights_only=False))
    assert not torch.equal(model.joint.out.weight, start.joint.out.weight)  # the whole model trains with it


def test_train_only_fits_the_biasing_and_leaves_the_rest_as_it_was(tiny, tmp_path):
    p = argparse.ArgumentParser()
    asr_arguments(p)
    common = ["--corpus", str(tiny), "--epochs", "1", "--max-frames", "2500", "--dev-limit", "2", "--threads", "1"]
    first = [*common, "--run", str(tmp_path / "a"), "--weights", str(tmp_path / "a.pt"), "--context-dim", "16"]
    train(p.parse_args(first))
    refit = ["--run", str(tmp_path / "b"), "--weights", str(tmp_path / "b.pt"), "--init", str(tmp_path / "a.pt")]
    train(p.parse_args([*common, *refit, "--context-dim", "16", "--train-only", "biaser"]))
    start = RNNT.from_checkpoint(torch.load(tmp_path / "a.pt", weights_only=False)).state_dict()
    fitted = RNNT.from_checkpoint(torch.load(tmp_path / "b.pt", weights_only=False)).state_dict()
    changed = {k.split(".")[0] for k in start if not torch.equal(start[k], fitted[k])}
    assert changed == {"biaser"}
