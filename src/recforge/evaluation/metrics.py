"""Pure metric functions of NumPy arrays.

Ranking metrics take the judged top of each user's list and return one value per user; the
drivers in :mod:`recforge.evaluation.protocols` average them. Their inputs:

* ``ranked_hits``: ``(U, K')`` bool, ``ranked_hits[u, r]`` is True when the item at rank ``r``
  (0-based) of user ``u``'s list is relevant. Only the first ``k`` columns are read; when the
  list is shorter than ``k`` (``K' < k``, e.g. a catalogue of fewer than ``k`` items) the missing
  ranks count as misses.
* ``n_relevant``: ``(U,)`` int, how many relevant items user ``u`` has in total (in or out of
  the list). It must be at least the number of hits in the row.

A user with ``n_relevant == 0`` has no defined recall, NDCG or average precision: those
metrics return NaN for that user so drivers skip it (the drivers never pass such users).
Metrics that do not take ``n_relevant`` (hit rate, precision, MRR) return 0 for a row without
hits, whatever the reason.

Dimension letters: U users, K' judged list length, N samples, K recommendations per user.
"""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy

__all__ = [
    "auc",
    "average_precision",
    "catalog_coverage",
    "gauc",
    "hit_rate",
    "log_loss",
    "mrr",
    "ndcg",
    "precision",
    "recall",
]


# ---------------------------------------------------------------------------------------------
# input checks


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _check_hits(ranked_hits: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` columns of ``ranked_hits`` as a bool array ``(U, min(K', k))``."""
    hits = np.asarray(ranked_hits)
    if hits.ndim != 2:
        raise ValueError(f"ranked_hits must be 2-d (users, ranks), got shape {hits.shape}")
    if hits.dtype != np.bool_:
        if not (np.issubdtype(hits.dtype, np.integer) or np.issubdtype(hits.dtype, np.floating)):
            raise ValueError(f"ranked_hits must be bool, got dtype {hits.dtype}")
        if not np.isin(hits, (0, 1)).all():
            raise ValueError("ranked_hits must hold only 0/1 (binary relevance)")
        hits = hits.astype(bool)
    return hits[:, :k]


def _check_n_relevant(n_relevant: np.ndarray, ranked_hits: np.ndarray) -> np.ndarray:
    counts = np.asarray(n_relevant)
    if counts.shape != (ranked_hits.shape[0],):
        raise ValueError(
            f"n_relevant must have shape ({ranked_hits.shape[0]},) to match ranked_hits, "
            f"got {counts.shape}"
        )
    integral = np.issubdtype(counts.dtype, np.integer) or (
        np.issubdtype(counts.dtype, np.floating) and (counts == np.round(counts)).all()
    )
    if counts.size and not integral:
        raise ValueError(f"n_relevant must hold integers, got dtype {counts.dtype}")
    counts = counts.astype(np.int64)
    if (counts < 0).any():
        raise ValueError("n_relevant must be non-negative")
    if (np.asarray(ranked_hits).sum(axis=1) > counts).any():
        raise ValueError("n_relevant is smaller than the number of hits in ranked_hits for a user")
    return counts


def _check_binary_labels(labels: np.ndarray, name: str = "labels") -> np.ndarray:
    values = np.asarray(labels)
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-d, got shape {values.shape}")
    if values.dtype != np.bool_:
        if not (
            np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating)
        ):
            raise ValueError(f"{name} must be 0/1 or bool, got dtype {values.dtype}")
        if not np.isin(values, (0, 1)).all():
            raise ValueError(f"{name} must hold only 0 and 1")
    return values.astype(bool)


def _check_scores(scores: np.ndarray, n: int, name: str = "scores") -> np.ndarray:
    values = np.asarray(scores, dtype=np.float64)
    if values.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match labels, got {values.shape}")
    if np.isnan(values).any():
        raise ValueError(f"{name} contain NaN")
    return values


# ---------------------------------------------------------------------------------------------
# ranking metrics, one value per user


def hit_rate(ranked_hits: np.ndarray, *, k: int) -> np.ndarray:
    """HR@k: 1 when at least one of the first ``k`` items is relevant, else 0.

    Edge cases: a row without hits (including a user with no relevant item) scores 0; ``k``
    beyond the list length counts the missing ranks as misses.

    Args:
        ranked_hits: ``(U, K')`` bool relevance of each ranked item.
        k: cut-off.

    Returns:
        ``(U,)`` float64.

    Example:
        >>> hit_rate(np.array([[0, 0, 1], [0, 0, 0]], dtype=bool), k=3)
        array([1., 0.])
        >>> hit_rate(np.array([[0, 0, 1]], dtype=bool), k=2)
        array([0.])
    """
    hits = _check_hits(ranked_hits, _check_k(k))
    return np.asarray(hits.any(axis=1), dtype=np.float64)


def precision(ranked_hits: np.ndarray, *, k: int) -> np.ndarray:
    """Precision@k: relevant items among the first ``k``, divided by ``k``.

    Edge cases: the denominator is always ``k``, also when the list holds fewer than ``k``
    items (the missing ranks are misses); a row without hits scores 0.

    Args:
        ranked_hits: ``(U, K')`` bool relevance of each ranked item.
        k: cut-off.

    Returns:
        ``(U,)`` float64.

    Example:
        >>> precision(np.array([[0, 1, 0, 1]], dtype=bool), k=4)
        array([0.5])
        >>> precision(np.array([[1, 1]], dtype=bool), k=4)  # list shorter than k
        array([0.5])
    """
    k = _check_k(k)
    hits = _check_hits(ranked_hits, k)
    return hits.sum(axis=1) / float(k)


def recall(ranked_hits: np.ndarray, n_relevant: np.ndarray, *, k: int) -> np.ndarray:
    """Recall@k: relevant items among the first ``k``, divided by ``n_relevant``.

    The denominator is the user's whole number of relevant items, *not*
    ``min(n_relevant, k)`` (as in RecBole), so a user with more than ``k`` relevant items cannot
    reach 1.

    Edge cases: a user with ``n_relevant == 0`` gets NaN (skipped by drivers).

    Args:
        ranked_hits: ``(U, K')`` bool relevance of each ranked item.
        n_relevant: ``(U,)`` number of relevant items of each user.
        k: cut-off.

    Returns:
        ``(U,)`` float64.

    Example:
        >>> hits = np.array([[0, 1, 0, 1], [0, 0, 0, 0]], dtype=bool)
        >>> recall(hits, np.array([3, 0]), k=4)
        array([0.66666667,        nan])
        >>> recall(np.array([[1, 1]], dtype=bool), np.array([5]), k=2)  # 2 / 5, not 2 / 2
        array([0.4])
    """
    hits = _check_hits(ranked_hits, _check_k(k))
    counts = _check_n_relevant(n_relevant, ranked_hits)
    n_hits = hits.sum(axis=1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(counts > 0, n_hits / counts, np.nan)


def ndcg(ranked_hits: np.ndarray, n_relevant: np.ndarray, *, k: int) -> np.ndarray:
    """NDCG@k with binary relevance.

    ``DCG = sum_{r < k} hit[r] / log2(r + 2)`` (``r`` 0-based) and the ideal ``IDCG`` puts
    ``min(n_relevant, k)`` hits at the top.

    Edge cases: a user with ``n_relevant == 0`` gets NaN (skipped by drivers); a user with
    more than ``k`` relevant items reaches 1 when the first ``k`` are all relevant.

    Args:
        ranked_hits: ``(U, K')`` bool relevance of each ranked item.
        n_relevant: ``(U,)`` number of relevant items of each user.
        k: cut-off.

    Returns:
        ``(U,)`` float64.

    Example:
        Hits at ranks 2 and 4 of 4, three relevant items:
        ``(1/log2(3) + 1/log2(5)) / (1 + 1/log2(3) + 1/log2(4)) = 0.49819``.

        >>> hits = np.array([[0, 1, 0, 1]], dtype=bool)
        >>> ndcg(hits, np.array([3]), k=4).round(5)
        array([0.49819])
        >>> ndcg(np.array([[1, 0]], dtype=bool), np.array([1]), k=2)
        array([1.])
    """
    k = _check_k(k)
    hits = _check_hits(ranked_hits, k)
    counts = _check_n_relevant(n_relevant, ranked_hits)
    discount = 1.0 / np.log2(np.arange(k) + 2.0)  # (k,)
    dcg = hits @ discount[: hits.shape[1]]  # (U,)
    ideal_cumulative = np.concatenate(([0.0], np.cumsum(discount)))  # (k+1,)
    idcg = ideal_cumulative[np.minimum(counts, k)]  # (U,)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(counts > 0, dcg / idcg, np.nan)


def mrr(ranked_hits: np.ndarray, *, k: int) -> np.ndarray:
    """MRR@k: reciprocal (1-based) rank of the first relevant item within ``k``, else 0.

    Edge cases: a row without hits in the first ``k`` (including a user with no relevant
    item) scores 0.

    Args:
        ranked_hits: ``(U, K')`` bool relevance of each ranked item.
        k: cut-off.

    Returns:
        ``(U,)`` float64.

    Example:
        >>> mrr(np.array([[0, 0, 1, 1], [0, 0, 0, 0]], dtype=bool), k=4)
        array([0.33333333, 0.        ])
        >>> mrr(np.array([[0, 0, 1]], dtype=bool), k=2)
        array([0.])
    """
    hits = _check_hits(ranked_hits, _check_k(k))
    if hits.shape[1] == 0:
        return np.zeros(hits.shape[0])
    first = hits.argmax(axis=1)  # (U,) 0 where no hit
    return np.where(hits.any(axis=1), 1.0 / (first + 1.0), 0.0)


def average_precision(ranked_hits: np.ndarray, n_relevant: np.ndarray, *, k: int) -> np.ndarray:
    """AP@k (its mean over users is MAP@k).

    ``AP = sum_{r < k} hit[r] * precision@(r+1) / min(n_relevant, k)``: the denominator is
    capped at ``k`` so a perfect top-``k`` list scores 1.

    Edge cases: a user with ``n_relevant == 0`` gets NaN (skipped by drivers).

    Args:
        ranked_hits: ``(U, K')`` bool relevance of each ranked item.
        n_relevant: ``(U,)`` number of relevant items of each user.
        k: cut-off.

    Returns:
        ``(U,)`` float64.

    Example:
        Hits at ranks 2 and 4, three relevant items: ``(1/2 + 2/4) / 3 = 1/3``.

        >>> hits = np.array([[0, 1, 0, 1]], dtype=bool)
        >>> average_precision(hits, np.array([3]), k=4)
        array([0.33333333])
        >>> average_precision(np.array([[1, 1]], dtype=bool), np.array([5]), k=2)
        array([1.])
    """
    k = _check_k(k)
    hits = _check_hits(ranked_hits, k)
    counts = _check_n_relevant(n_relevant, ranked_hits)
    ranks = np.arange(1, hits.shape[1] + 1, dtype=np.float64)  # (K',) 1-based
    precision_at = np.cumsum(hits, axis=1) / ranks  # (U, K')
    summed = (precision_at * hits).sum(axis=1)  # (U,)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(counts > 0, summed / np.minimum(counts, k), np.nan)


# ---------------------------------------------------------------------------------------------
# classification (CTR) metrics, one number each


def _grouped_auc(
    labels: np.ndarray, scores: np.ndarray, group_codes: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-group AUC by the rank-sum (Mann-Whitney) formula with average ranks for ties.

    Returns ``(auc (G,), n_positive (G,), n_negative (G,))``; AUC is NaN for one-class groups.
    """
    order = np.lexsort((scores, group_codes))  # by group, then score ascending
    sorted_groups = group_codes[order]
    sorted_scores = scores[order]
    n = len(order)
    position = np.arange(n)
    # a tie block is a run of equal (group, score); everyone in it gets the mean position
    new_block = np.ones(n, dtype=bool)
    new_block[1:] = (sorted_groups[1:] != sorted_groups[:-1]) | (
        sorted_scores[1:] != sorted_scores[:-1]
    )
    block_id = np.cumsum(new_block) - 1  # (N,)
    block_start = position[new_block]
    block_end = np.append(block_start[1:], n) - 1
    mean_position = (block_start + block_end)[block_id] / 2.0  # (N,)
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = sorted_groups[1:] != sorted_groups[:-1]
    group_start = np.maximum.accumulate(np.where(new_group, position, 0))  # (N,)
    rank_in_group = mean_position - group_start + 1.0  # (N,) 1-based average rank
    positive = labels[order]
    n_positive = np.bincount(sorted_groups, weights=positive, minlength=n_groups)
    n_total = np.bincount(sorted_groups, minlength=n_groups).astype(np.float64)
    n_negative = n_total - n_positive
    positive_rank_sum = np.bincount(
        sorted_groups, weights=np.where(positive, rank_in_group, 0.0), minlength=n_groups
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        group_auc = (positive_rank_sum - n_positive * (n_positive + 1) / 2.0) / (
            n_positive * n_negative
        )
    group_auc = np.where((n_positive > 0) & (n_negative > 0), group_auc, np.nan)
    return group_auc, n_positive, n_negative


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve: the chance a random positive outscores a random negative.

    Computed from ranks (Mann-Whitney U), ``O(N log N)``; a tied positive/negative pair
    counts one half.

    Edge cases: raises ``ValueError`` when ``labels`` hold a single class (AUC undefined) or
    ``scores`` hold NaN.

    Args:
        labels: ``(N,)`` 0/1 or bool.
        scores: ``(N,)`` any monotone score (logits or probabilities).

    Returns:
        The AUC in ``[0, 1]``.

    Example:
        Pairs (pos, neg): (0.8, 0.1) win, (0.8, 0.4) win, (0.4, 0.1) win, (0.4, 0.4) tie:
        ``3.5 / 4``.

        >>> auc(np.array([1, 0, 1, 0]), np.array([0.8, 0.1, 0.4, 0.4]))
        0.875
    """
    truth = _check_binary_labels(labels)
    values = _check_scores(scores, len(truth))
    if truth.all() or not truth.any():
        raise ValueError("labels hold a single class; AUC needs both positives and negatives")
    group_auc, _, _ = _grouped_auc(truth, values, np.zeros(len(truth), dtype=np.int64), 1)
    return float(group_auc[0])


def gauc(labels: np.ndarray, scores: np.ndarray, groups: np.ndarray) -> float:
    """Group AUC: per-group AUC averaged with weights equal to the group sizes.

    Used for CTR with ``groups`` = user (DIN, Zhou et al. 2018, eq. 7, with impressions as
    weights). Groups holding a single class have no AUC and are skipped (they weigh nothing).

    Edge cases: raises ``ValueError`` when no group holds both classes, or on NaN scores.

    Args:
        labels: ``(N,)`` 0/1 or bool.
        scores: ``(N,)`` any monotone score.
        groups: ``(N,)`` group key of each sample (e.g. ``user_idx``), any sortable dtype.

    Returns:
        The weighted mean of group AUCs.

    Example:
        Group 0 has AUC 1 over 3 samples, group 1 AUC 0 over 2, group 2 one class (skipped):
        ``(3 * 1 + 2 * 0) / 5 = 0.6``.

        >>> labels = np.array([1, 0, 0, 1, 0, 1])
        >>> scores = np.array([0.9, 0.2, 0.3, 0.1, 0.5, 0.7])
        >>> gauc(labels, scores, np.array([0, 0, 0, 1, 1, 2]))
        0.6
    """
    truth = _check_binary_labels(labels)
    values = _check_scores(scores, len(truth))
    keys = np.asarray(groups)
    if keys.shape != truth.shape:
        raise ValueError(f"groups must have shape {truth.shape} to match labels, got {keys.shape}")
    _, codes = np.unique(keys, return_inverse=True)
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    group_auc, n_positive, n_negative = _grouped_auc(truth, values, codes.ravel(), n_groups)
    valid = ~np.isnan(group_auc)
    if not valid.any():
        raise ValueError("no group in groups holds both positive and negative labels")
    weights = (n_positive + n_negative)[valid]
    return float((group_auc[valid] * weights).sum() / weights.sum())


def log_loss(labels: np.ndarray, probabilities: np.ndarray, *, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy ``-mean(y log p + (1 - y) log(1 - p))``.

    Probabilities are clipped to ``[eps, 1 - eps]`` so a confident mistake costs
    ``-log(eps)`` instead of infinity.

    Edge cases: raises ``ValueError`` on NaN or out-of-``[0, 1]`` probabilities and on an empty
    input.

    Args:
        labels: ``(N,)`` 0/1 or bool.
        probabilities: ``(N,)`` predicted probability of label 1.
        eps: clipping margin.

    Returns:
        The mean loss in nats.

    Example:
        ``-(log 0.8 + log 0.5) / 2 = 0.45815``.

        >>> round(log_loss(np.array([1, 0]), np.array([0.8, 0.5])), 5)
        0.45815
    """
    truth = _check_binary_labels(labels).astype(np.float64)
    if len(truth) == 0:
        raise ValueError("labels are empty; log loss needs at least one sample")
    values = _check_scores(probabilities, len(truth), name="probabilities")
    if ((values < 0) | (values > 1)).any():
        raise ValueError("probabilities must lie in [0, 1]")
    clipped = np.clip(values, eps, 1.0 - eps)
    losses = -(xlogy(truth, clipped) + xlogy(1.0 - truth, 1.0 - clipped))
    return float(losses.mean())


def catalog_coverage(recommended_item_idx: np.ndarray, *, n_items: int) -> float:
    """Share of the catalogue that appears in at least one user's recommendations.

    Edge cases: an empty ``(0, K)`` array covers 0; raises ``ValueError`` for indices outside
    ``[0, n_items)``.

    Args:
        recommended_item_idx: ``(U, K)`` int item indices recommended to each user.
        n_items: catalogue size.

    Returns:
        ``distinct recommended items / n_items``.

    Example:
        >>> catalog_coverage(np.array([[0, 1], [1, 2]]), n_items=8)
        0.375
    """
    items = np.asarray(recommended_item_idx)
    if items.ndim != 2:
        raise ValueError(f"recommended_item_idx must be 2-d (users, k), got shape {items.shape}")
    if isinstance(n_items, bool) or not isinstance(n_items, int | np.integer) or n_items < 1:
        raise ValueError(f"n_items must be a positive integer, got {n_items!r}")
    if items.size == 0:
        return 0.0
    if not np.issubdtype(items.dtype, np.integer):
        raise ValueError(f"recommended_item_idx must hold integers, got dtype {items.dtype}")
    if items.min() < 0 or items.max() >= n_items:
        raise ValueError(f"recommended_item_idx holds indices outside [0, {n_items})")
    return float(len(np.unique(items)) / n_items)
