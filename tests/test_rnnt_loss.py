"""The RNN-T loss against a brute-force sum over every alignment, values and gradients."""

from __future__ import annotations

import itertools

import pytest
import torch

from models.rnnt_loss import rnnt_loss


def brute_force(logits: torch.Tensor, target: list[int], T: int, blank: int = 0) -> torch.Tensor:
    """-log sum over all alignments: sequences of T blanks and len(target) labels, ending in a blank."""
    lp = torch.log_softmax(logits.double(), dim=-1)
    U = len(target)
    total = []
    # An alignment is the set of frames at which each label is emitted (non-decreasing), with the final
    # blank at frame T-1 after all labels: choose for each label the frame it is emitted at.
    for frames in itertools.combinations_with_replacement(range(T), U):
        score = lp.new_zeros(())
        t, u = 0, 0
        for f in frames:
            while t < f:  # blanks move to the next frame
                score = score + lp[t, u, blank]
                t += 1
            score = score + lp[t, u, target[u]]
            u += 1
        while t < T - 1:
            score = score + lp[t, u, blank]
            t += 1
        score = score + lp[T - 1, U, blank]
        total.append(score)
    return -torch.logsumexp(torch.stack(total), 0)


@pytest.mark.parametrize(("T", "U", "V"), [(1, 0, 3), (1, 2, 3), (3, 1, 4), (4, 3, 5), (5, 2, 3)])
def test_loss_equals_brute_force(T, U, V):
    torch.manual_seed(T * 10 + U)
    logits = torch.randn(1, T, U + 1, V, dtype=torch.double)
    target = torch.randint(1, V, (1, max(U, 1)))[:, :U] if U else torch.zeros(1, 0, dtype=torch.long)
    ours = rnnt_loss(logits, target, torch.tensor([T]), torch.tensor([U]), reduction="none")[0]
    ref = brute_force(logits[0], target[0].tolist(), T)
    assert torch.allclose(ours.double(), ref, atol=1e-5), (ours, ref)


def test_gradients_equal_brute_force():
    torch.manual_seed(0)
    T, U, V = 4, 3, 4
    a = torch.randn(1, T, U + 1, V, dtype=torch.double, requires_grad=True)
    b = a.detach().clone().requires_grad_(True)
    target = torch.tensor([[1, 3, 2]])
    rnnt_loss(a, target, torch.tensor([T]), torch.tensor([U])).backward()
    brute_force(b[0], [1, 3, 2], T).backward()
    assert torch.allclose(a.grad, b.grad, atol=1e-6)


def test_batch_with_padding_equals_items_alone():
    torch.manual_seed(1)
    V = 5
    lengths = [(5, 3), (3, 1), (4, 0)]
    T, U = max(t for t, _ in lengths), max(u for _, u in lengths)
    logits = torch.randn(len(lengths), T, U + 1, V, dtype=torch.double)
    targets = torch.randint(1, V, (len(lengths), U))
    batch = rnnt_loss(
        logits, targets, torch.tensor([t for t, _ in lengths]), torch.tensor([u for _, u in lengths]), reduction="none"
    )
    for i, (t, u) in enumerate(lengths):
        alone = rnnt_loss(logits[i : i + 1, :t, : u + 1], targets[i : i + 1, :u], torch.tensor([t]), torch.tensor([u]))
        assert torch.allclose(batch[i], alone, atol=1e-9)


def test_loss_is_a_probability_and_learns():
    torch.manual_seed(2)
    logits = torch.zeros(2, 6, 3, 4, requires_grad=True)
    targets = torch.tensor([[1, 2], [3, 3]])
    opt = torch.optim.SGD([logits], lr=1.0)
    first = None
    for _ in range(50):
        loss = rnnt_loss(logits, targets, torch.tensor([6, 6]), torch.tensor([2, 2]))
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first > 0 and loss.item() < first / 5
