"""The recogniser's internal LM, which the rescorer subtracts: a letter model of its training text."""

from __future__ import annotations

import pytest
import torch

from models.internal_lm import InternalLM
from nodes.rescorer import ASR_WEIGHTS


@pytest.fixture(scope="module")
def ilm() -> InternalLM:
    torch.set_num_threads(1)
    return InternalLM.from_weights(ASR_WEIGHTS)


def test_it_prefers_english_letters_to_scrambled_ones(ilm):
    fluent, scrambled, noise = ilm.score(["set a timer for ten minutes", "minutes ten for timer a set", "xqzj kkqv"])
    assert fluent > scrambled > noise
    assert fluent < 0


def test_batched_scores_equal_single_ones(ilm):
    texts = ["call meg bauer", "turn on the kitchen lights please", "a"]
    batched = ilm.score(texts)
    assert batched == pytest.approx([ilm.score([t])[0] for t in texts], abs=1e-4)
    assert ilm.score([]) == []
