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
