"""Train/validation/test splits of an indexed interaction frame.

Every function takes a frame with ``user_idx``, ``item_idx`` (and ``timestamp`` for the
time-based ones) and returns ``Split(train, valid, test)`` frames; ``valid`` may be empty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recforge.core.errors import DataFormatError


@dataclass
class Split:
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame


def _order_within_users(
    frame: pd.DataFrame, by: str, rng: np.random.Generator | None
) -> pd.DataFrame:
    if by == "time":
        if frame["timestamp"].isna().any():
            raise DataFormatError(
                "<interactions>", "time-ordered split needs timestamps on every row"
            )
        key = frame["timestamp"].to_numpy(dtype=np.int64)
    elif by == "random":
        if rng is None:
            raise ValueError("a random split needs rng=np.random.Generator")
        key = rng.random(len(frame))
    else:
        raise ValueError(f"by must be 'time' or 'random', got {by!r}")
    order = np.lexsort((key, frame["user_idx"].to_numpy()))
    return frame.iloc[order]


def leave_one_out(
    frame: pd.DataFrame,
    *,
    by: str = "time",
    valid: bool = True,
    rng: np.random.Generator | None = None,
    min_train: int = 1,
) -> Split:
    """Each user's last interaction (by time, or a random one) is the test item, the one
    before it the validation item.

    Users with too few interactions to keep ``min_train`` training rows keep everything in
    training (they are not evaluated), so no interaction is dropped.

    >>> frame = pd.DataFrame({"user_idx": [0, 0, 0, 1], "item_idx": [1, 2, 3, 1],
    ...                       "timestamp": [3, 1, 2, 5]})
    >>> split = leave_one_out(frame)
    >>> split.test["item_idx"].tolist(), split.valid["item_idx"].tolist()
    ([1], [3])
    """
    ordered = _order_within_users(frame, by, rng)
    from_end = ordered.groupby("user_idx", sort=False).cumcount(ascending=False).to_numpy()
    sizes = ordered.groupby("user_idx", sort=False)["user_idx"].transform("size").to_numpy()
    n_held = 2 if valid else 1
    eligible = sizes >= n_held + min_train
    test_mask = eligible & (from_end == 0)
    valid_mask = eligible & (from_end == 1) if valid else np.zeros(len(ordered), bool)
    train_mask = ~(test_mask | valid_mask)
    return Split(
        ordered[train_mask].reset_index(drop=True),
        ordered[valid_mask].reset_index(drop=True),
        ordered[test_mask].reset_index(drop=True),
    )


def ratio_split(
    frame: pd.DataFrame,
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
    *,
    by: str = "random",
    rng: np.random.Generator | None = None,
) -> Split:
    """Per user, the first/random ``ratios[0]`` share to train, then valid, then test.

    Validation and test get ``floor(ratio * n)`` rows of a user with ``n`` interactions and
    training gets the rest (RecBole's convention), so small users keep most rows in training.

    >>> frame = pd.DataFrame({"user_idx": [0] * 10, "item_idx": range(10),
    ...                       "timestamp": range(10)})
    >>> split = ratio_split(frame, by="time")
    >>> len(split.train), split.valid["item_idx"].tolist(), split.test["item_idx"].tolist()
    (8, [8], [9])
    """
    if len(ratios) != 3 or abs(sum(ratios) - 1.0) > 1e-9 or min(ratios) < 0:
        raise ValueError(f"ratios must be three non-negative shares summing to 1, got {ratios}")
    ordered = _order_within_users(frame, by, rng)
    position = ordered.groupby("user_idx", sort=False).cumcount().to_numpy()
    sizes = ordered.groupby("user_idx", sort=False)["user_idx"].transform("size").to_numpy()
    n_valid = np.floor(ratios[1] * sizes + 1e-9).astype(np.int64)
    n_test = np.floor(ratios[2] * sizes + 1e-9).astype(np.int64)
    n_train = sizes - n_valid - n_test
    train_mask = position < n_train
    valid_mask = (position >= n_train) & (position < n_train + n_valid)
    test_mask = position >= n_train + n_valid
    return Split(
        ordered[train_mask].reset_index(drop=True),
        ordered[valid_mask].reset_index(drop=True),
        ordered[test_mask].reset_index(drop=True),
    )


def temporal_split(
    frame: pd.DataFrame, ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
) -> Split:
    """Global temporal split: cut the whole timeline at the ``ratios`` quantiles of time.

    Later interactions of users or items never seen before the cut stay in valid/test;
    evaluation drivers skip users without training rows.
    """
    if frame["timestamp"].isna().any():
        raise DataFormatError("<interactions>", "temporal split needs timestamps on every row")
    ordered = frame.sort_values("timestamp", kind="stable")
    n_rows = len(ordered)
    cut_train = round(ratios[0] * n_rows)
    cut_valid = round((ratios[0] + ratios[1]) * n_rows)
    return Split(
        ordered.iloc[:cut_train].reset_index(drop=True),
        ordered.iloc[cut_train:cut_valid].reset_index(drop=True),
        ordered.iloc[cut_valid:].reset_index(drop=True),
    )


def cold_item_split(
    frame: pd.DataFrame,
    fraction: float = 0.1,
    *,
    rng: np.random.Generator,
    valid_fraction: float = 0.0,
) -> Split:
    """Hold out a random ``fraction`` of the items *entirely* (the cold-start split): every
    interaction with a held-out item goes to ``test``, so no model sees those items in
    training; ``valid_fraction`` of the items are held out the same way for validation.

    Items are drawn among those present in ``frame`` (``round(fraction * n_items)`` of them,
    at least one); ``test["item_idx"].unique()`` lists them. Users whose every interaction
    is with held-out items have no training rows (evaluation drivers skip them).

    >>> frame = pd.DataFrame({"user_idx": [0, 0, 1, 1, 2], "item_idx": [0, 1, 1, 2, 3]})
    >>> split = cold_item_split(frame, 0.25, rng=np.random.default_rng(0))
    >>> held_out = set(split.test["item_idx"])
    >>> len(held_out), held_out.isdisjoint(split.train["item_idx"]), len(split.valid)
    (1, True, 0)
    >>> len(split.train) + len(split.test) == len(frame)
    True
    """
    for name, share in (("fraction", fraction), ("valid_fraction", valid_fraction)):
        if not 0.0 <= share < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {share}")
    items = np.unique(frame["item_idx"].to_numpy())
    n_test = max(1, round(fraction * len(items))) if fraction > 0 else 0
    n_valid = max(1, round(valid_fraction * len(items))) if valid_fraction > 0 else 0
    if n_test + n_valid >= len(items):
        raise ValueError(
            f"holding out {n_test} + {n_valid} of {len(items)} items leaves none to train on"
        )
    drawn = rng.permutation(items)
    test_items, valid_items = drawn[:n_test], drawn[n_test : n_test + n_valid]
    item_idx = frame["item_idx"].to_numpy()
    test_mask = np.isin(item_idx, test_items)
    valid_mask = np.isin(item_idx, valid_items)
    train_mask = ~(test_mask | valid_mask)
    return Split(
        frame[train_mask].reset_index(drop=True),
        frame[valid_mask].reset_index(drop=True),
        frame[test_mask].reset_index(drop=True),
    )
