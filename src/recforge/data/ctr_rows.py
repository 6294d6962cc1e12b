"""Labelled rows for the CTR protocols, independent of any dataset: DIN's next-behaviour
rows (each behaviour paired with a sampled negative, strict-before histories) and the
random row split; the per-dataset builders in :mod:`recforge.data.ctr` use them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recforge.core.errors import DataFormatError
from recforge.data.sampling import NegativeSampler

ROW_COLUMNS = ("user_id", "item_id", "timestamp", "label")
"""Columns every split has (context columns may follow)."""

MIN_BEHAVIOURS = 4
"""Fewest behaviours a user needs in the next-behaviour protocol (one row of each split)."""


# --- the next-behaviour protocol -----------------------------------------------------------


@dataclass(frozen=True)
class BehaviourRows:
    """What :func:`next_behaviour_rows` returns.

    ``events`` holds every behaviour with its 0-based position as ``timestamp``; ``short_users``
    the ids of users with fewer than ``min_behaviours`` behaviours (no rows),
    ``n_short_behaviours`` their behaviours.
    """

    events: pd.DataFrame
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    short_users: np.ndarray
    n_short_behaviours: int


def next_behaviour_rows(
    behaviours: pd.DataFrame,
    catalogue: np.ndarray | pd.Series,
    rng: np.random.Generator,
    *,
    seen: pd.DataFrame | None = None,
    min_behaviours: int = MIN_BEHAVIOURS,
) -> BehaviourRows:
    """Labelled rows of the next-behaviour protocol (see the module docstring).

    Args:
        behaviours: ``user_id, item_id, timestamp``: positive behaviours; a user's are ordered
            by ``timestamp``, ties kept in input order.
        catalogue: the item ids negatives are drawn from, uniformly.
        rng: draws the negatives.
        seen: further ``user_id, item_id`` pairs never drawn as a user's negative (e.g. every
            rating, not only the clicks); the behaviours themselves are never drawn.
        min_behaviours: users with fewer behaviours get no rows (at least 3).

    Returns:
        :class:`BehaviourRows`; each split has rows ``user_id, item_id, timestamp, label``
        ordered by user, then position, positive before its negative.

    Example:
        >>> behaviours = pd.DataFrame({"user_id": [7, 7, 7, 7, 7], "item_id": [1, 2, 3, 4, 5],
        ...                            "timestamp": [10, 20, 30, 40, 50]})
        >>> rows = next_behaviour_rows(behaviours, np.arange(1, 9), np.random.default_rng(0))
        >>> rows.train[["item_id", "timestamp", "label"]].values[::2].tolist()
        [[2, 1, 1], [3, 2, 1]]
        >>> rows.test[["item_id", "timestamp", "label"]].values[0].tolist()
        [5, 4, 1]
        >>> int(rows.test["item_id"].iloc[1]) in {6, 7, 8}
        True
    """
    if min_behaviours < 3:
        raise ValueError(
            f"min_behaviours must be >= 3 (valid + test + history), got {min_behaviours}"
        )
    keys = pd.to_numeric(behaviours["timestamp"], errors="coerce")
    if keys.isna().any():
        row = int(np.flatnonzero(keys.isna().to_numpy())[0])
        raise DataFormatError(
            "<behaviours>", f"row {row}: the next-behaviour protocol needs an order key"
        )
    user_codes, user_ids = pd.factorize(behaviours["user_id"], sort=True)
    order = np.lexsort((np.arange(len(behaviours)), keys.to_numpy(np.int64), user_codes))
    user_codes = user_codes[order]
    users = np.asarray(user_ids)[user_codes]
    items = behaviours["item_id"].to_numpy()[order]
    counts = np.bincount(user_codes, minlength=len(user_ids))
    starts = np.cumsum(counts) - counts
    position = np.arange(len(order), dtype=np.int64) - starts[user_codes]
    length = counts[user_codes]
    events = pd.DataFrame({"user_id": users, "item_id": items, "timestamp": position})

    pool = pd.Index(pd.unique(np.asarray(catalogue)))
    known = pd.concat([behaviours, seen], ignore_index=True)[["user_id", "item_id"]]
    seen_users = pd.Index(user_ids).get_indexer(known["user_id"])
    seen_items = pool.get_indexer(known["item_id"])
    keep = (seen_users >= 0) & (seen_items >= 0)  # an item outside the pool is never drawn
    seen_matrix = sp.csr_matrix(
        (np.ones(int(keep.sum()), np.float32), (seen_users[keep], seen_items[keep])),
        shape=(len(user_ids), len(pool)),
    )
    long_enough = length >= min_behaviours
    roles = {
        "train": long_enough & (position >= 1) & (position <= length - 3),
        "valid": long_enough & (position == length - 2),
        "test": long_enough & (position == length - 1),
    }
    targets = np.flatnonzero(roles["train"] | roles["valid"] | roles["test"])
    negatives = np.empty(len(order), dtype=np.int64)
    if len(targets):
        sampler = NegativeSampler(seen_matrix)
        negatives[targets] = sampler.sample(user_codes[targets], 1, rng)[:, 0]
    pool_items = pool.to_numpy()
    splits = {}
    for split, mask in roles.items():
        rows = np.flatnonzero(mask)
        splits[split] = _paired_rows(
            users[rows], items[rows], pool_items[negatives[rows]], position[rows]
        )
    short = counts < min_behaviours
    return BehaviourRows(
        events=events,
        short_users=np.asarray(user_ids)[short],
        n_short_behaviours=int(counts[short].sum()),
        **splits,
    )


def add_candidate_negatives(
    rows: pd.DataFrame,
    candidates: Mapping[Any, np.ndarray],
    rng: np.random.Generator,
    *,
    per_positive: int = 1,
) -> pd.DataFrame:
    """``rows`` plus ``per_positive`` negatives after each positive, drawn uniformly from its
    user's ``candidates``: the items a recall model puts first for that user, so a ranker
    trained on them learns to order what the recall stage hands it ("hard" negatives),
    not only recalled items against random ones.

    The candidates must already leave out every item the user interacted with (recall with
    the behaviours excluded); a user without candidates gets no extra rows. The new rows
    copy their positive's columns except ``item_id`` and ``label`` (0); rows stay ordered
    by user and timestamp, each positive before its negatives.

    >>> rows = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [5, 6, 5], "timestamp": [1, 1, 2],
    ...                      "label": np.array([1, 0, 1], np.int8)})
    >>> out = add_candidate_negatives(rows, {1: np.array([9])}, np.random.default_rng(0))
    >>> out[["user_id", "item_id", "label"]].values.tolist()
    [[1, 5, 1], [1, 9, 0], [1, 6, 0], [2, 5, 1]]
    """
    if per_positive < 1:
        raise ValueError(f"per_positive must be >= 1, got {per_positive}")
    positives = rows[rows["label"] == 1]
    users = positives["user_id"].to_numpy()
    known = [user for user in pd.unique(users) if len(candidates.get(user, ()))]
    if not known:
        return rows.copy()
    pools = [np.asarray(candidates[user]) for user in known]
    lengths = np.array([len(pool) for pool in pools])
    offsets = np.cumsum(lengths) - lengths
    code = pd.Index(known).get_indexer(users)
    drawn = positives[code >= 0]
    code = code[code >= 0]
    # one vectorised draw: position j of each positive's pool, then the flat pool array
    picks = np.concatenate(pools)[
        offsets[code][:, None]
        + rng.integers(0, lengths[code][:, None], size=(len(code), per_positive))
    ]
    extra = drawn.loc[drawn.index.repeat(per_positive)].copy()
    extra["item_id"] = picks.reshape(-1)
    extra["label"] = np.int8(0)
    # after their positive: a stable sort on (original position, is-new)
    combined = pd.concat([rows, extra], keys=["old", "new"], names=["source", "row"])
    position = combined.index.get_level_values("row").to_numpy()
    is_new = (combined.index.get_level_values("source") == "new").astype(np.int8)
    order = np.lexsort((is_new, position))
    return combined.iloc[order].reset_index(drop=True)


def _paired_rows(
    users: np.ndarray, positives: np.ndarray, negatives: np.ndarray, timestamps: np.ndarray
) -> pd.DataFrame:
    """Rows ``positive_0, negative_0, positive_1, ...`` sharing user and timestamp."""
    items = np.empty(2 * len(users), dtype=np.result_type(positives, negatives))
    items[0::2], items[1::2] = positives, negatives
    return pd.DataFrame(
        {
            "user_id": np.repeat(users, 2),
            "item_id": items,
            "timestamp": np.repeat(timestamps, 2).astype(np.int64),
            "label": np.tile(np.array([1, 0], dtype=np.int8), len(users)),
        }
    )


def random_split(
    frame: pd.DataFrame,
    rng: np.random.Generator,
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Rows split at random by ``ratios`` (train, valid, test); each part keeps file order.

    valid and test get ``round(ratio * n)`` rows, train the rest.

    >>> parts = random_split(pd.DataFrame({"x": range(10)}), np.random.default_rng(0))
    >>> [len(part) for part in parts]
    [8, 1, 1]
    """
    if len(ratios) != 3 or min(ratios) < 0 or not np.isclose(sum(ratios), 1.0):
        raise ValueError(f"ratios must be three non-negative numbers summing to 1, got {ratios}")
    shuffled = rng.permutation(len(frame))
    n_valid, n_test = round(ratios[1] * len(frame)), round(ratios[2] * len(frame))
    parts = (shuffled[n_valid + n_test :], shuffled[:n_valid], shuffled[n_valid : n_valid + n_test])
    train, valid, test = (frame.iloc[np.sort(rows)].reset_index(drop=True) for rows in parts)
    return train, valid, test
