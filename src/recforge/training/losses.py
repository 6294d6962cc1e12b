"""Losses on logits. Models return logits; probabilities appear only here and in metrics.

>>> import torch
>>> round(float(pointwise_bce(torch.tensor([0.0]), torch.tensor([1.0]))), 4)
0.6931
>>> round(float(bpr(torch.tensor([2.0]), torch.tensor([2.0]))), 4)
0.6931
>>> round(float(softmax_ce(torch.zeros(1, 4), torch.tensor([2]))), 4)  # ln 4
1.3863
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def pointwise_bce(logits: Tensor, labels: Tensor, weight: Tensor | None = None) -> Tensor:
    """Mean binary log loss, NCF's pointwise objective (He et al. 2017, Eq. 7); entries
    with ``weight`` 0 do not count."""
    return F.binary_cross_entropy_with_logits(logits, labels, weight=weight)


def bpr(positive_logits: Tensor, negative_logits: Tensor) -> Tensor:
    """Mean BPR loss −ln σ(ŷ_ui − ŷ_uj) (Rendle et al. 2009, Eq. 7 without the prior)."""
    return -F.logsigmoid(positive_logits - negative_logits).mean()


def softmax_ce(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy of the softmax over all items ``(N, I)`` against the target item
    indices ``(N,)``: next-item prediction with the full catalogue as negatives."""
    return F.cross_entropy(logits, targets)


def minibatch_aware_l2(weight: Tensor, used: Tensor, counts: Tensor) -> Tensor:
    """DIN's mini-batch aware regulariser for one embedding table (Zhou et al. 2018,
    Sec. 5.1): ``Σ_{j ∈ batch} ||w_j||² / n_j`` over the distinct rows ``j`` the batch
    reads (index 0, padding, excluded), ``n_j`` the row's occurrences in the training data.
    Rare rows are penalised more, and rows the batch does not read not at all, so the cost
    scales with the batch, not the table.

    Args:
        weight: ``(V, D)`` the table.
        used: ``(U,)`` int64 every index the batch reads, repeats allowed.
        counts: ``(V,)`` float occurrences of each index in the training data (0 counts as 1).

    >>> import torch
    >>> table = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    >>> float(minibatch_aware_l2(table, torch.tensor([2, 2, 0, 1]), torch.tensor([5.0, 2.0, 4.0])))
    2.0
    """
    rows = torch.unique(used)
    rows = rows[rows > 0]
    return (weight[rows].pow(2).sum(dim=-1) / counts[rows].clamp(min=1.0)).sum()


def in_batch_logits(
    query: Tensor, candidates: Tensor, target: Tensor, log_q: Tensor | None
) -> Tensor:
    """Logits ``(N, N)`` of the in-batch sampled softmax: row i scores every target of the
    batch for query i, its own positive on the diagonal (Yi et al., RecSys 2019, Section 3).

    * **logQ correction**: column j is ``s(x_i, y_j) − log p_j``, ``p_j = exp(log_q[y_j])``
      the probability that a batch slot holds item ``y_j``. In-batch negatives are drawn in
      proportion to popularity; uncorrected, the softmax learns ``log p(y|x) − log p_y``
      and over-penalises popular items. The correction cancels that: a sampled softmax whose
      optimum is the full softmax's. Batches are slices of a shuffled epoch, so ``p_j`` is
      item j's share of the epoch's targets, counted once from the training windows (the
      paper's streaming estimate is for an unbounded stream); item j's expected count in a
      batch of B slots is B·p_j, and log B, common to every logit, cancels.
    * **duplicates**: where another row's target is row i's own positive, that column is
      not a negative and is masked to −inf (a popular item is often the target of several
      rows; unmasked, its positive would also count as its negative).

    Args:
        query: ``(N, E)`` query vectors.
        candidates: ``(N, E)`` the item vectors of ``target``.
        target: ``(N,)`` item index of each row's positive.
        log_q: ``(I,)`` log sampling probability per item, or None (no correction).

    >>> logits = in_batch_logits(
    ...     torch.eye(3), torch.eye(3), torch.tensor([4, 7, 4]), torch.log(torch.rand(8))
    ... )
    >>> bool(logits[0, 2] == -torch.inf and logits[2, 0] == -torch.inf), logits.shape
    (True, torch.Size([3, 3]))
    """
    logits = query @ candidates.T  # (N, N) s(x_i, y_j)
    if log_q is not None:
        logits = logits - log_q[target][None, :]  # s^c(x_i, y_j) = s(x_i, y_j) − log p_j
    same = target[:, None] == target[None, :]  # (N, N)
    same.fill_diagonal_(False)  # the positive itself stays
    return logits.masked_fill(same, -torch.inf)
