"""Click-through-rate evaluation over labelled (user, item, label) pairs: the protocol of
KGCN, RippleNet and their kin (Wang et al. 2018, 2019): AUC of the scores and F1 of the
predictions ``σ(logit) ≥ threshold`` (0.5 in the papers).

The metric functions are pure functions of arrays; :func:`score_pairs` is the one driver
that turns a recommender and pairs into logits.

A note on F1 at 0.5: it is meaningful for models trained with a pointwise log loss, whose
``σ(logit)`` estimates a probability. A model trained to rank (BPR) or a count (popularity)
has no calibrated threshold; :func:`best_threshold` picks one on validation pairs so such
models can be compared fairly, and the threshold is then applied to the test pairs.

Dimension letters: N labelled pairs.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import expit
from sklearn.metrics import f1_score
from torch import Tensor, nn

from recforge.evaluation import metrics
from recforge.models.base import Recommender

__all__ = ["best_threshold", "ctr_metrics", "f1_at", "score_pairs"]


def f1_at(labels: np.ndarray, probabilities: np.ndarray, *, threshold: float = 0.5) -> float:
    """F1 of the positive class when pairs with ``probability >= threshold`` are predicted
    positive.

    Edge cases: no predicted positive, or no positive label, gives 0 (scikit-learn's
    ``zero_division=0``).

    Args:
        labels: ``(N,)`` 0/1.
        probabilities: ``(N,)`` scores on the scale of ``threshold``.
        threshold: the cut.

    Example:
        Predicted positive: pairs 0 and 2; precision 1/2, recall 1/2:

        >>> f1_at(np.array([1, 0, 0, 1]), np.array([0.9, 0.2, 0.6, 0.4]))
        0.5
    """
    truth = np.asarray(labels).astype(bool)
    values = np.asarray(probabilities, np.float64)
    if truth.shape != values.shape or truth.ndim != 1:
        raise ValueError(f"labels {truth.shape} and probabilities {values.shape} must be 1-d alike")
    if np.isnan(values).any():
        raise ValueError("probabilities hold NaN")
    return float(f1_score(truth, values >= threshold, zero_division=0))


def ctr_metrics(
    labels: np.ndarray, logits: np.ndarray, *, threshold: float = 0.5
) -> dict[str, float]:
    """AUC of ``logits`` and F1 of ``σ(logits) >= threshold``.

    Args:
        labels: ``(N,)`` 0/1, both classes present.
        logits: ``(N,)`` model outputs before the sigmoid.
        threshold: probability cut for F1.

    Returns:
        ``{"auc": ..., "f1": ...}``.

    Example:
        >>> ctr_metrics(np.array([1, 0, 1, 0]), np.array([2.0, -1.0, -0.5, -3.0]))
        {'auc': 1.0, 'f1': 0.6666666666666666}
    """
    values = np.asarray(logits, np.float64)
    return {
        "auc": metrics.auc(np.asarray(labels), values),
        "f1": f1_at(labels, expit(values), threshold=threshold),
    }


def best_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The cut on ``scores`` that maximises F1 over these pairs (choose it on validation).

    Every distinct score is a candidate; the F1 of all of them comes from one sort. The
    returned cut sits halfway between the chosen score and the next lower one, so it does
    not land exactly on a score of other data.

    Example:
        >>> best_threshold(np.array([1, 0, 1, 0]), np.array([5.0, 1.0, 3.0, 2.0]))
        2.5
    """
    truth = np.asarray(labels).astype(bool)
    values = np.asarray(scores, np.float64)
    if truth.shape != values.shape or truth.ndim != 1 or len(truth) == 0:
        raise ValueError("labels and scores must be non-empty 1-d arrays of one length")
    if not truth.any():
        raise ValueError("labels hold no positive; F1 is undefined")
    order = np.argsort(-values, kind="stable")
    ordered, hits = values[order], truth[order]
    last_of_tie = np.append(ordered[1:] != ordered[:-1], True)  # cut after whole ties
    true_positives = np.cumsum(hits)[last_of_tie]
    predicted = (np.flatnonzero(last_of_tie) + 1).astype(np.float64)
    f1 = 2 * true_positives / (predicted + truth.sum())
    best = int(np.argmax(f1))
    distinct = ordered[last_of_tie]
    below = distinct[best + 1] if best + 1 < len(distinct) else distinct[best] - 1.0
    return float((distinct[best] + below) / 2)


@torch.no_grad()
def score_pairs(
    model: Recommender, user_idx: np.ndarray, item_idx: np.ndarray, *, batch_size: int = 65536
) -> np.ndarray:
    """Logits ``(N,)`` of ``model`` for the pairs, in eval mode (training mode restored)."""
    was_training = isinstance(model, nn.Module) and model.training
    model.eval()
    users = torch.as_tensor(np.asarray(user_idx), dtype=torch.int64)
    items = torch.as_tensor(np.asarray(item_idx), dtype=torch.int64)
    out: list[Tensor] = []
    try:
        for start in range(0, len(users), batch_size):
            stop = start + batch_size
            out.append(model.score(users[start:stop], items[start:stop]).float().cpu())
    finally:
        if isinstance(model, nn.Module):
            model.train(was_training)
    return torch.cat(out).numpy() if out else np.empty(0, np.float32)
