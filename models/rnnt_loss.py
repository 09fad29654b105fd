"""The RNN-T loss (Graves 2012), in log space, vectorised over the batch and the label axis.

alpha[t, u] is the log-probability of having emitted the first u labels by frame t:

    alpha[t, u] = logaddexp(alpha[t-1, u] + blank[t-1, u], alpha[t, u-1] + emit[t, u-1])

Within one frame the label recursion is a prefix sum in log space: with
C[u] = sum_{j<u} emit[t, j],

    alpha[t, u] = C[u] + logcumsumexp_k(alpha[t-1, k] + blank[t-1, k] - C[k])[u]

so each frame is one `logcumsumexp` over u, and the loop runs over T only.
Autograd gives the gradients (the backward recursion is not written by hand).
"""

from __future__ import annotations

import torch


def rnnt_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    logit_lengths: torch.Tensor,
    target_lengths: torch.Tensor,
    blank: int = 0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Negative log-likelihood of `targets` under the RNN-T output `logits`.

    logits: (B, T, U+1, V) joint network outputs (unnormalised).
    targets: (B, U) label ids (padding anywhere past target_lengths).
    logit_lengths, target_lengths: (B,) valid T and U per item.
    reduction: "mean" (over the batch, each item's loss divided by nothing), "sum" or "none".
    """
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    B, T, U1, _ = log_probs.shape
    blank_lp = log_probs[..., blank]  # (B, T, U+1)
    if U1 > 1:
        emit_lp = torch.gather(log_probs[:, :, :-1, :], 3, targets[:, None, : U1 - 1, None].expand(B, T, U1 - 1, 1))
        emit_lp = emit_lp.squeeze(-1)  # (B, T, U)
    else:
        emit_lp = log_probs.new_zeros(B, T, 0)
    return rnnt_loss_from_log_probs(blank_lp, emit_lp, logit_lengths, target_lengths, reduction)


def rnnt_loss_from_log_probs(
    blank_lp: torch.Tensor,
    emit_lp: torch.Tensor,
    logit_lengths: torch.Tensor,
    target_lengths: torch.Tensor,
    reduction: str = "mean",
) -> torch.Tensor:
    """`rnnt_loss` from the log-probabilities it reads: of a blank at each (t, u), `blank_lp` (B, T, U+1), and of
    the next target label, `emit_lp` (B, T, U). Scoring many texts against one audio (the decoder's second
    pass) gathers these two from shared joint outputs instead of building (B, T, U+1, V) logits."""
    B, T, _ = blank_lp.shape
    zero = blank_lp.new_zeros(B, T, 1)
    cum_emit = torch.cat([zero, torch.cumsum(emit_lp, dim=2)], dim=2)  # C[t, u] = sum_{j<u} emit[t, j]

    alphas = []
    # t = 0: only label emissions along u.
    alpha = cum_emit[:, 0]
    alphas.append(alpha)
    for t in range(1, T):
        from_below = alpha + blank_lp[:, t - 1]
        c = cum_emit[:, t]
        alpha = c + torch.logcumsumexp(from_below - c, dim=1)
        alphas.append(alpha)
    stacked = torch.stack(alphas, dim=1)  # (B, T, U+1)
    b = torch.arange(B, device=blank_lp.device)
    t_last = (logit_lengths - 1).long()
    u_last = target_lengths.long()
    ll = stacked[b, t_last, u_last] + blank_lp[b, t_last, u_last]
    loss = -ll
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss
