"""Evaluation protocols: turn a recommender and held-out data into metrics.

* :func:`evaluate_sampled`: the NCF protocol (He et al. 2017, sec. 4.1): rank each user's
  held-out item among ``N`` sampled negatives.
* :func:`evaluate_full`: rank every item of the catalogue (training items masked) and judge the
  top of the list against all of a user's test items.
* :func:`evaluate_ctr`: AUC, GAUC and log loss of click predictions.

All drivers work on whole user batches (one ``score`` or ``score_all`` call per batch) and
never loop over users in Python. Neural models are put in ``eval()`` mode for the call and
restored to their previous mode afterwards; scoring runs under ``torch.no_grad()`` on the
model's device.

Dimension letters: U evaluated users, B users in a batch, N sampled negatives, C = N + 1
candidates, I items, K list length.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from scipy.special import expit
from torch import Tensor, nn

from recforge.evaluation import metrics
from recforge.models.base import FittedRecommender, Recommender, exclusion_mask

__all__ = [
    "RANKING_METRICS",
    "EvaluationResult",
    "evaluate_ctr",
    "evaluate_full",
    "evaluate_sampled",
]

logger = logging.getLogger(__name__)

#: metric names in the order they appear in results, each reported as ``name@k``
RANKING_METRICS = ("hr", "ndcg", "recall", "precision", "mrr", "map")


@dataclass(frozen=True, eq=False)  # eq would compare DataFrames ambiguously
class EvaluationResult:
    """What a ranking protocol returns.

    Attributes:
        metrics: mean over evaluated users of each metric, keyed ``"ndcg@10"`` etc.
        per_user: one row per evaluated user: ``user_idx`` and one column per metric.
        n_users: number of users evaluated (users without a relevant item are skipped).
        protocol: ``"sampled"`` or ``"full"``.
    """

    metrics: dict[str, float]
    per_user: pd.DataFrame
    n_users: int
    protocol: str = ""

    def to_json(self, path: str | Path) -> Path:
        """Write ``{"protocol", "n_users", "metrics"}`` as JSON (e.g. a run's ``metrics.json``).

        Example:
            >>> import tempfile
            >>> result = EvaluationResult({"hr@10": 0.5}, pd.DataFrame(), n_users=2)
            >>> with tempfile.TemporaryDirectory() as folder:
            ...     written = result.to_json(Path(folder) / "metrics.json")
            ...     json.loads(written.read_text())["metrics"]
            {'hr@10': 0.5}
        """
        out = Path(path)
        payload = {"protocol": self.protocol, "n_users": self.n_users, "metrics": self.metrics}
        out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        return out

    def per_user_to_csv(self, path: str | Path) -> Path:
        """Write :attr:`per_user` as CSV (no index column)."""
        out = Path(path)
        self.per_user.to_csv(out, index=False)
        return out


# ---------------------------------------------------------------------------------------------
# helpers


def _check_ks(ks: Iterable[int]) -> list[int]:
    cutoffs = list(ks)
    if not cutoffs:
        raise ValueError("ks must name at least one cut-off")
    for k in cutoffs:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"ks must hold positive integers, got {k!r}")
    return sorted({int(k) for k in cutoffs})


def _check_batch_size(batch_size: int) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return batch_size


def _index_array(values: Any, name: str, upper: int, ndim: int = 1) -> np.ndarray:
    """``values`` as an int64 array of ``ndim`` dimensions with entries in ``[0, upper)``."""
    if isinstance(values, Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-d, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integer indices, got dtype {array.dtype}")
    array = array.astype(np.int64, copy=False)
    if array.size and (array.min() < 0 or array.max() >= upper):
        raise ValueError(f"{name} holds indices outside [0, {upper})")
    return array


def _model_device(model: Recommender) -> torch.device:
    if isinstance(model, nn.Module):
        for parameter in model.parameters():
            return parameter.device
        for buffer in model.buffers():
            return buffer.device
    return torch.device("cpu")


@contextlib.contextmanager
def _inference(model: Recommender) -> Iterator[None]:
    """``eval()`` mode and no autograd for the block; a module's training mode is restored."""
    was_training = isinstance(model, nn.Module) and model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        if isinstance(model, nn.Module):
            model.train(was_training)


def _check_finite_scores(scores: Tensor) -> None:
    if torch.isnan(scores).any():
        raise ValueError("the model's scores contain NaN; cannot rank")


def _score_candidates(model: Recommender, user_idx: Tensor, item_idx: Tensor) -> Tensor:
    """Scores ``(B, C)`` of candidate items ``item_idx (B, C)`` for users ``user_idx (B,)``.

    Neural (and any duck-typed) models get one ``score`` call over the flattened ``B * C``
    pairs. A :class:`FittedRecommender` computes ``score`` through ``score_all`` one row per
    pair, so it is scored once per user with ``score_all`` and the candidates gathered.
    """
    n_users, n_candidates = item_idx.shape
    if isinstance(model, FittedRecommender):
        return model.score_all(user_idx).gather(1, item_idx)  # (B, C)
    pair_users = user_idx.repeat_interleave(n_candidates)  # (B*C,)
    return model.score(pair_users, item_idx.reshape(-1)).view(n_users, n_candidates)


def _descending_key(scores: Tensor, relevant: Tensor) -> Tensor:
    """An int64 key ``(B, I)`` that sorts by score, then puts non-relevant items first.

    Ranking by this key breaks every score tie *against* the relevant items, so a model that
    scores all items alike earns no credit from the order ``topk`` happens to return. The
    float32 bit pattern becomes an order-preserving integer (the magnitude bits of negative
    floats flipped; ``+ 0.0`` turns ``-0.0`` into ``+0.0`` so the two tie), doubled to make
    room for the tie-break bit.
    """
    bits = (scores.float() + 0.0).contiguous().view(torch.int32)  # (B, I)
    ordered = (bits ^ ((bits >> 31) & 0x7FFFFFFF)).to(torch.int64)  # monotone in the score
    return ordered.mul_(2).add_(~relevant)


def _ranking_metrics(
    ranked_hits: np.ndarray, n_relevant: np.ndarray, ks: list[int]
) -> dict[str, np.ndarray]:
    per_user: dict[str, np.ndarray] = {}
    for k in ks:
        per_user[f"hr@{k}"] = metrics.hit_rate(ranked_hits, k=k)
        per_user[f"ndcg@{k}"] = metrics.ndcg(ranked_hits, n_relevant, k=k)
        per_user[f"recall@{k}"] = metrics.recall(ranked_hits, n_relevant, k=k)
        per_user[f"precision@{k}"] = metrics.precision(ranked_hits, k=k)
        per_user[f"mrr@{k}"] = metrics.mrr(ranked_hits, k=k)
        per_user[f"map@{k}"] = metrics.average_precision(ranked_hits, n_relevant, k=k)
    return per_user


def _result(
    user_idx: np.ndarray, per_user: dict[str, np.ndarray], protocol: str, started: float
) -> EvaluationResult:
    means = {name: float(values.mean()) for name, values in per_user.items()}
    table = pd.DataFrame({"user_idx": user_idx, **per_user})
    logger.info(
        "%s evaluation of %d users in %.2fs: %s",
        protocol,
        len(user_idx),
        time.perf_counter() - started,
        ", ".join(f"{name}={value:.4f}" for name, value in means.items()),
    )
    return EvaluationResult(metrics=means, per_user=table, n_users=len(user_idx), protocol=protocol)


# ---------------------------------------------------------------------------------------------
# protocols


def evaluate_sampled(
    model: Recommender,
    test_user_idx: np.ndarray,
    test_item_idx: np.ndarray,
    negatives: np.ndarray,
    *,
    ks: Iterable[int] = (10,),
    batch_size: int = 1024,
) -> EvaluationResult:
    """Rank each held-out item among its sampled negatives (the NCF protocol).

    For test pair ``u`` the model scores ``C = N + 1`` candidates, the held-out item and the
    ``N`` negatives, and the held-out item's 0-based rank is the number of negatives scoring
    **higher or equal**: ties are broken against the held-out item, so a model that gives every
    item the same score gets rank ``N`` (HR 0) rather than free credit. Each pair has exactly
    one relevant item, so ``recall@k == hr@k`` and ``map@k == mrr@k``.

    Args:
        model: any recommender with ``n_users``, ``n_items`` and ``score``/``score_all``.
        test_user_idx: ``(U,)`` user of each held-out pair (a user may repeat).
        test_item_idx: ``(U,)`` held-out item of each pair.
        negatives: ``(U, N)`` sampled items the user has not interacted with (from the data
            layer's samplers). A negative equal to the held-out item is ignored, as in the
            NCF reference evaluation, whose candidates form a set (the published ML-1M
            negative file has 156 such rows); a warning is logged.
        ks: cut-offs; each metric is reported as ``name@k`` for every ``k``.
        batch_size: pairs (users) scored per call, i.e. ``batch_size * C`` scores at once.

    Returns:
        Metrics averaged over the ``U`` pairs and one ``per_user`` row per pair.

    Raises:
        ValueError: on mismatched shapes, indices out of range, or NaN scores.

    Example:
        >>> from recforge.models.base import FittedRecommender
        >>> class Fixed(FittedRecommender):
        ...     def score_all(self, user_idx):
        ...         return torch.tensor([[0.9, 0.5, 0.1, 0.7]])[user_idx]
        >>> model = Fixed(None, n_users=1, n_items=4)
        >>> result = evaluate_sampled(model, np.array([0]), np.array([1]),
        ...                           np.array([[0, 2, 3]]), ks=(1, 3))
        >>> result.metrics["hr@1"], result.metrics["hr@3"], result.metrics["mrr@3"]
        (0.0, 1.0, 0.3333333333333333)
    """
    started = time.perf_counter()
    cutoffs = _check_ks(ks)
    batch_size = _check_batch_size(batch_size)
    user_idx = _index_array(test_user_idx, "test_user_idx", model.n_users)
    item_idx = _index_array(test_item_idx, "test_item_idx", model.n_items)
    negative_idx = _index_array(negatives, "negatives", model.n_items, ndim=2)
    n_pairs = len(user_idx)
    if item_idx.shape != (n_pairs,):
        raise ValueError(
            f"test_item_idx has shape {item_idx.shape}, test_user_idx has ({n_pairs},)"
        )
    if negative_idx.shape[0] != n_pairs:
        raise ValueError(
            f"negatives must have {n_pairs} rows (one per test pair), got shape "
            f"{negative_idx.shape}"
        )
    if n_pairs == 0:
        raise ValueError("test_user_idx is empty; nothing to evaluate")
    is_positive = negative_idx == item_idx[:, None]  # (U, N)
    clashes = np.flatnonzero(is_positive.any(axis=1))
    if len(clashes):
        logger.warning(
            "negatives contain the held-out item for %d test pairs (first: row %d); "
            "those entries are ignored",
            len(clashes),
            clashes[0],
        )

    candidates = np.concatenate([item_idx[:, None], negative_idx], axis=1)  # (U, C)
    device = _model_device(model)
    ranks = np.empty(n_pairs, dtype=np.int64)
    with _inference(model):
        for start in range(0, n_pairs, batch_size):
            stop = min(start + batch_size, n_pairs)
            users = torch.from_numpy(user_idx[start:stop]).to(device)  # (B,)
            items = torch.from_numpy(candidates[start:stop]).to(device)  # (B, C)
            scores = _score_candidates(model, users, items)  # (B, C)
            _check_finite_scores(scores)
            positive = scores[:, :1]  # (B, 1)
            ignored = torch.from_numpy(is_positive[start:stop]).to(device)  # (B, N)
            rank = ((scores[:, 1:] >= positive) & ~ignored).sum(dim=1)  # (B,) ties count against
            ranks[start:stop] = rank.cpu().numpy()

    list_length = max(cutoffs)
    ranked_hits = np.zeros((n_pairs, list_length), dtype=bool)  # (U, K)
    judged = np.flatnonzero(ranks < list_length)
    ranked_hits[judged, ranks[judged]] = True
    n_relevant = np.ones(n_pairs, dtype=np.int64)
    per_user = _ranking_metrics(ranked_hits, n_relevant, cutoffs)
    return _result(user_idx, per_user, "sampled", started)


def evaluate_full(
    model: Recommender,
    test: sp.csr_matrix,
    *,
    exclude: sp.csr_matrix | None = None,
    ks: Iterable[int] = (10, 20),
    users: np.ndarray | None = None,
    batch_size: int = 1024,
) -> EvaluationResult:
    """Rank the whole catalogue for each user and judge the top against the test items.

    Per user batch: one ``score_all`` call, items in ``exclude`` (the training interactions)
    set to minus infinity, then ``torch.topk`` of ``max(ks)``. Score ties are broken against
    test items, so a constant model earns nothing from ``topk``'s internal order. Scores are
    compared in float32.

    Edge cases: users without test items are skipped (they appear neither in the means nor in
    ``per_user``); an excluded item never counts as a hit, even if it is also a test item
    (such overlap is leakage and is logged as a warning; it still counts in ``n_relevant``);
    a catalogue smaller than ``k`` gives a shorter list whose missing ranks are misses.

    Args:
        model: any recommender with ``n_users``, ``n_items`` and ``score_all``.
        test: ``(n_users, n_items)`` CSR whose non-zeros are each user's relevant items.
        exclude: ``(n_users, n_items)`` CSR of items never to rank (usually the training
            matrix), or None.
        ks: cut-offs; each metric is reported as ``name@k`` for every ``k``.
        users: which users to evaluate (default: all users with a test item).
        batch_size: users scored per ``score_all`` call (memory ~ ``batch_size * n_items``).

    Returns:
        Metrics averaged over evaluated users and one ``per_user`` row per user.

    Raises:
        ValueError: on mismatched shapes, indices out of range, NaN scores or when no user has
            a test item.

    Example:
        >>> from recforge.models.base import FittedRecommender
        >>> class Fixed(FittedRecommender):
        ...     def score_all(self, user_idx):
        ...         return torch.tensor([[0.9, 0.5, 0.1, 0.7]])[user_idx]
        >>> model = Fixed(None, n_users=1, n_items=4)
        >>> test = sp.csr_matrix(np.array([[0, 1, 0, 0]]))
        >>> seen = sp.csr_matrix(np.array([[1, 0, 0, 0]]))
        >>> result = evaluate_full(model, test, exclude=seen, ks=(1, 2))
        >>> result.metrics["hr@1"], result.metrics["hr@2"], result.metrics["mrr@2"]
        (0.0, 1.0, 0.5)
    """
    started = time.perf_counter()
    cutoffs = _check_ks(ks)
    batch_size = _check_batch_size(batch_size)
    n_items = model.n_items
    expected = (model.n_users, n_items)
    if not sp.issparse(test) or test.ndim != 2:
        raise ValueError("test must be a scipy.sparse users x items matrix")
    if test.shape != expected:
        raise ValueError(f"test has shape {test.shape}, the model expects {expected}")
    test = sp.csr_matrix(test)
    test.eliminate_zeros()
    if exclude is not None:
        if not sp.issparse(exclude) or exclude.shape != expected:
            raise ValueError(
                f"exclude must be a scipy.sparse matrix of shape {expected}, got "
                f"{getattr(exclude, 'shape', type(exclude).__name__)}"
            )
        exclude = sp.csr_matrix(exclude)
        exclude.eliminate_zeros()
        overlap = test.multiply(exclude).count_nonzero()
        if overlap:
            logger.warning(
                "%d test interactions are also in exclude; they can never be hits", overlap
            )

    n_relevant_all = np.diff(test.indptr).astype(np.int64)  # (n_users,)
    if users is None:
        user_idx = np.flatnonzero(n_relevant_all > 0)
    else:
        requested = _index_array(users, "users", model.n_users)
        user_idx = requested[n_relevant_all[requested] > 0]
        if len(user_idx) < len(requested):
            logger.info("skipping %d users without test items", len(requested) - len(user_idx))
    if len(user_idx) == 0:
        raise ValueError("no user to evaluate has a test item")

    list_length = min(max(cutoffs), n_items)
    device = _model_device(model)
    hit_blocks = []
    with _inference(model):
        for start in range(0, len(user_idx), batch_size):
            batch_users = user_idx[start : start + batch_size]
            scores = model.score_all(torch.from_numpy(batch_users).to(device))  # (B, I)
            _check_finite_scores(scores)
            relevant = exclusion_mask(test, batch_users, n_items).to(scores.device)  # (B, I)
            if exclude is not None:
                excluded = exclusion_mask(exclude, batch_users, n_items).to(scores.device)
                scores = scores.float().masked_fill(excluded, -torch.inf)
                relevant &= ~excluded
            key = _descending_key(scores, relevant)  # (B, I)
            top_items = torch.topk(key, list_length, dim=1).indices  # (B, K)
            hit_blocks.append(relevant.gather(1, top_items).cpu().numpy())  # (B, K)

    ranked_hits = np.concatenate(hit_blocks)  # (U, K)
    per_user = _ranking_metrics(ranked_hits, n_relevant_all[user_idx], cutoffs)
    return _result(user_idx, per_user, "full", started)


def evaluate_ctr(
    labels: np.ndarray | Tensor,
    scores: np.ndarray | Tensor,
    groups: np.ndarray | Tensor | None = None,
) -> dict[str, float]:
    """AUC, log loss and (with ``groups``) GAUC of click predictions.

    Args:
        labels: ``(N,)`` 0/1 clicks.
        scores: ``(N,)`` logits, as models return them; log loss applies the sigmoid.
        groups: ``(N,)`` group of each sample (usually ``user_idx``) for GAUC.

    Returns:
        ``{"auc": ..., "logloss": ...}`` plus ``"gauc"`` when ``groups`` is given.

    Example:
        >>> out = evaluate_ctr(np.array([1, 0]), np.array([2.0, -1.0]))
        >>> out["auc"], round(out["logloss"], 4)
        (1.0, 0.2201)
    """

    def as_numpy(values: np.ndarray | Tensor) -> np.ndarray:
        if isinstance(values, Tensor):
            if values.dtype in (torch.float16, torch.bfloat16):  # no NumPy equivalent
                values = values.float()
            return values.detach().cpu().numpy()
        return np.asarray(values)

    label_array = as_numpy(labels)
    logits = as_numpy(scores).astype(np.float64)
    out = {
        "auc": metrics.auc(label_array, logits),
        "logloss": metrics.log_loss(label_array, expit(logits)),
    }
    if groups is not None:
        out["gauc"] = metrics.gauc(label_array, logits, as_numpy(groups))
    return out
