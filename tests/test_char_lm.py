"""The character n-gram and its shallow fusion in the first pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.char_lm import END, STEP, UNITS, CharNgram
from models.rnnt import RNNT
from models.tokens import CHARS
from nodes.decoder.beam import BeamSearch

TEXT = ["what is the number", "touch the lamp", "the number is nine", "turn on the lamp", "what time is it"] * 20


def test_every_context_is_a_distribution_and_real_spellings_win():
    lm = CharNgram.train(TEXT, order=4, min_count=1)
    for history in ("", "the n", "zzz", "what is th"):
        p = np.exp(lm.logprobs(history))
        assert p.shape == (len(UNITS),)
        assert p.sum() == pytest.approx(1.0, abs=len(UNITS) * STEP)  # each entry is rounded to STEP nats
    assert lm.score("what is the number") > lm.score("what is the nomber") + 3
    assert lm.score("touch the lamp") > lm.score("tuch the lamp")
    assert lm.logprobs("the lam")[UNITS.index("p")] > lm.logprobs("the lam")[END]
    assert lm.logprobs("the lamp")[END] > lm.logprobs("the lam")[END]


def test_a_pruned_model_saves_loads_and_reads_shorter_contexts(tmp_path):
    full = CharNgram.train([*TEXT, "a rare phrase"], order=5, min_count=1)
    pruned = CharNgram.train([*TEXT, "a rare phrase"], order=5, min_count=5)
    assert len(pruned.contexts) < len(full.contexts)
    pruned.save(tmp_path / "lm.npz")
    again = CharNgram.load(tmp_path / "lm.npz")
    assert again.contexts == pruned.contexts and again.order == 5
    assert again.score("a rare phrase") == pruned.score("a rare phrase")
    assert np.isfinite(again.score("qxqxq zz'"))


def test_fusion_adds_the_weighted_model_to_the_search_and_pulls_it_to_the_text():
    torch.manual_seed(1)
    frames = np.random.default_rng(1).normal(-5, 2, size=(200, 64)).astype(np.float32)
    lm = CharNgram.train(["zz zz zz"] * 50, order=3, min_count=1)
    model = RNNT()
    plain = BeamSearch(model, beam=4, verify=False)
    fused = BeamSearch(model, beam=4, verify=False, lm=lm, lm_weight=3.0, lm_bonus=4.0, ilm_weight=0.0)
    st_plain, st_fused = plain.start(), fused.start()
    plain.accept(st_plain, frames)
    fused.accept(st_fused, frames)
    assert "zz" in fused.best_text(st_fused) and "zz" not in plain.best_text(st_plain)
    best = fused.best(st_fused)
    text = "".join(CHARS[t - 1] for t in best.tokens)
    expected = sum(3.0 * lm.logprobs(text[:i])[CHARS.index(c)] + 4.0 for i, c in enumerate(text))
    assert best.lm == pytest.approx(expected, rel=1e-4)
    assert all(h.lm == 0.0 for h in st_plain.beam)
