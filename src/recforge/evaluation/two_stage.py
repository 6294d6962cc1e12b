"""Offline evaluation of recall-then-rank against the recall model alone, on full ranking.

For every user with a held-out test item, the recall model ranks the whole catalogue (the
items in ``exclude`` set to minus infinity, as :func:`~recforge.evaluation.protocols.evaluate_full`
does) and keeps its top ``n_candidates``. Single-stage metrics judge that list as it stands;
two-stage metrics judge it re-ordered by the rank stage's logits
(:meth:`~recforge.models.two_stage.RankStage.score_rows`, the code the server runs). A test
item the recall stage missed is a miss for both, so ``candidate_recall`` (the share of test
items among the candidates) bounds what the ranker can do.

The rank stage reads features by raw id: each candidate row is ``(user id, item id, time)``,
where ``at[user id]`` is the time of the user's test behaviour, and the user's history is
their ``events`` strictly before it (the DIN next-behaviour protocol's test row).

Differences from ``evaluate_full``: lists are cut at ``n_candidates`` (so ``k`` must not
exceed it), and score ties inside the list keep ``torch.topk``'s order rather than being
broken against the test item (real-valued scores almost never tie).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recforge.data.dataset import Prepared
from recforge.evaluation.protocols import EvaluationResult, _check_ks, _ranking_metrics, _result
from recforge.models.base import Recommender, recommend

logger = logging.getLogger(__name__)


class RowScorer(Protocol):
    """What ranks the candidates: :class:`recforge.models.two_stage.RankStage` (named by
    its method only, so evaluation does not import the models that read representations)."""

    def score_rows(self, rows: pd.DataFrame, events: pd.DataFrame | None = None) -> np.ndarray:
        """``(R,)`` scores of ``user_id, item_id, timestamp`` rows."""
        ...


@dataclass(frozen=True, eq=False)
class TwoStageResult:
    """The recall model's list and the re-ranked list, judged on the same users.

    Attributes:
        recall: metrics of the recall model's own top of the candidates (single stage).
        ranked: metrics of the candidates ordered by the rank stage (two stages).
        candidate_recall: share of test items among the ``n_candidates`` recalled.
        n_candidates: candidates per user.
        recall_seconds / rank_seconds: wall time of each stage over all users.
    """

    recall: EvaluationResult
    ranked: EvaluationResult
    candidate_recall: float
    n_candidates: int
    recall_seconds: float
    rank_seconds: float


def evaluate_two_stage(
    recall: Recommender,
    stage: RowScorer,
    data: Prepared,
    *,
    at: Mapping[Any, float],
    events: pd.DataFrame | None,
    n_candidates: int = 100,
    ks: Iterable[int] = (10, 50),
    exclude: sp.csr_matrix | None = None,
    chunk_users: int = 256,
) -> TwoStageResult:
    """Judge recall-then-rank and recall alone on ``data.test``.

    Args:
        recall: the recall model, trained on ``data.train``.
        stage: the rank stage (its pipeline encodes raw ids as ``data``'s vocabularies hold
            them).
        data: the prepared split; users with a test item and a time in ``at`` are evaluated.
        at: raw user id -> time of the test request (rows' ``timestamp``).
        events: ``user_id, item_id, timestamp`` behaviours the histories come from (None when
            the rank stage reads no history).
        n_candidates: recalled items per user.
        ks: cut-offs, each at most ``n_candidates``.
        exclude: items never recalled (default: training plus validation items).
        chunk_users: users whose candidates are encoded and scored at once.

    Raises:
        ValueError: a cut-off above ``n_candidates``, or no user to evaluate.
    """
    cutoffs = _check_ks(ks)
    if max(cutoffs) > n_candidates:
        raise ValueError(f"cut-offs {cutoffs} exceed n_candidates={n_candidates}")
    if exclude is None:
        exclude = (data.train + data.valid).tocsr()
    test = sp.csr_matrix(data.test)
    test.eliminate_zeros()
    user_ids = data.user_vocab.ids_
    n_relevant_all = np.diff(test.indptr).astype(np.int64)
    timed = np.array([user_id in at for user_id in user_ids], dtype=bool)
    users = np.flatnonzero((n_relevant_all > 0) & timed)
    if not len(users):
        raise ValueError("no user has both a test item and a time in `at`")
    started = time.perf_counter()
    candidates, recall_scores = recommend(recall, users, k=n_candidates, exclude=exclude)
    recall_seconds = time.perf_counter() - started
    hits = _relevant(test, users, candidates)  # (U, N)
    n_relevant = n_relevant_all[users]
    top = min(max(cutoffs), candidates.shape[1])
    per_user = _ranking_metrics(hits[:, :top], n_relevant, cutoffs)
    single = _result(users, per_user, "full", started)

    started = time.perf_counter()
    item_ids = data.item_vocab.ids_
    reordered = np.empty_like(hits)
    for start in range(0, len(users), chunk_users):
        block = slice(start, start + chunk_users)
        block_users = users[block]
        block_items = candidates[block]  # (C, N)
        width = block_items.shape[1]
        rows = pd.DataFrame(
            {
                "user_id": np.repeat(user_ids[block_users], width),
                "item_id": item_ids[block_items.reshape(-1)],
                "timestamp": np.repeat([at[user_ids[u]] for u in block_users], width),
            }
        )
        logits = stage.score_rows(rows, events).reshape(len(block_users), width)
        logits = np.where(np.isfinite(recall_scores[block]), logits, -np.inf)
        order = np.argsort(-logits, axis=1, kind="stable")
        reordered[block] = np.take_along_axis(hits[block], order, axis=1)
    rank_seconds = time.perf_counter() - started
    ranked = _result(
        users, _ranking_metrics(reordered[:, :top], n_relevant, cutoffs), "full", started
    )
    caught = hits.sum(axis=1) / n_relevant
    logger.info(
        "two-stage: %d users, %d candidates hold %.4f of the test items",
        len(users),
        n_candidates,
        float(caught.mean()),
    )
    return TwoStageResult(
        single, ranked, float(caught.mean()), n_candidates, recall_seconds, rank_seconds
    )


def _relevant(test: sp.csr_matrix, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """``(U, N)`` bool: is ``items[u, j]`` a test item of ``users[u]``."""
    n_items = test.shape[1]
    coo = test[users].tocoo()
    keys = coo.row.astype(np.int64) * n_items + coo.col
    wanted = np.arange(len(users), dtype=np.int64)[:, None] * n_items + items
    return np.isin(wanted, keys)


__all__ = ["TwoStageResult", "evaluate_two_stage"]
