"""Turn raw interactions into clean implicit feedback: thresholding, de-duplication, k-core."""

from __future__ import annotations

import logging
from typing import Literal

import pandas as pd

logger = logging.getLogger(__name__)


def to_implicit(
    interactions: pd.DataFrame,
    *,
    threshold: float | None = None,
    events: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """Keep rows that count as positive feedback and set their value to 1.

    Args:
        interactions: canonical interaction table.
        threshold: keep rows with ``value >= threshold`` (e.g. 4 for 5-star ratings);
            ``None`` keeps every row (the NCF paper treats every rating as positive).
        events: keep only these event names; ``None`` keeps all.

    >>> from recforge.data.tables import make_interactions
    >>> frame = make_interactions([1, 1, 2], [5, 6, 5], value=[4.0, 2.0, 5.0])
    >>> to_implicit(frame, threshold=4)["item_id"].tolist()
    [5, 5]
    """
    keep = pd.Series(True, index=interactions.index)
    if threshold is not None:
        keep &= interactions["value"] >= threshold
    if events is not None:
        keep &= interactions["event"].isin(events)
    out = interactions.loc[keep].copy()
    out["value"] = 1.0
    return out.reset_index(drop=True)


def deduplicate(
    interactions: pd.DataFrame, *, keep: Literal["first", "last"] = "last"
) -> pd.DataFrame:
    """One row per (user, item): the ``last`` (latest timestamp) or ``first`` occurrence.

    Rows without timestamps keep file order.
    """
    frame = interactions
    if frame["timestamp"].notna().all():
        frame = frame.sort_values("timestamp", kind="stable")
    out = frame.drop_duplicates(["user_id", "item_id"], keep=keep)
    dropped = len(interactions) - len(out)
    if dropped:
        logger.info("dropped %d duplicate (user, item) rows", dropped)
    return out.sort_index().reset_index(drop=True)


def k_core(
    interactions: pd.DataFrame, *, min_user: int = 5, min_item: int = 5, max_rounds: int = 100
) -> pd.DataFrame:
    """Repeatedly drop users with fewer than ``min_user`` and items with fewer than
    ``min_item`` interactions until both hold (the k-core of the bipartite graph).

    >>> from recforge.data.tables import make_interactions
    >>> frame = make_interactions([1, 1, 2, 2, 3], [7, 8, 7, 8, 9])
    >>> sorted(k_core(frame, min_user=2, min_item=2)["user_id"].unique().tolist())
    [1, 2]
    """
    frame = interactions
    for _ in range(max_rounds):
        user_counts = frame["user_id"].map(frame["user_id"].value_counts())
        item_counts = frame["item_id"].map(frame["item_id"].value_counts())
        keep = (user_counts >= min_user) & (item_counts >= min_item)
        if keep.all():
            return frame.reset_index(drop=True)
        frame = frame.loc[keep]
    raise RuntimeError(f"k-core did not converge in {max_rounds} rounds")
