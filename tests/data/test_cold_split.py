"""cold_item_split: held-out items never reach training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recforge.data.split import cold_item_split


def _frame(n_users: int = 50, n_items: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, 600)
    items = rng.integers(0, n_items, 600)
    return pd.DataFrame({"user_idx": users, "item_idx": items}).drop_duplicates()


def test_held_out_items_are_disjoint_and_nothing_is_lost():
    frame = _frame()
    split = cold_item_split(frame, 0.1, rng=np.random.default_rng(1), valid_fraction=0.1)
    test_items, valid_items = set(split.test["item_idx"]), set(split.valid["item_idx"])
    train_items = set(split.train["item_idx"])
    assert len(test_items) == 4 and len(valid_items) == 4  # round(0.1 * 40)
    assert test_items.isdisjoint(train_items) and valid_items.isdisjoint(train_items)
    assert test_items.isdisjoint(valid_items)
    assert len(split.train) + len(split.valid) + len(split.test) == len(frame)
    # every interaction of a held-out item is in test
    assert (frame["item_idx"].isin(test_items)).sum() == len(split.test)


def test_same_seed_same_items_other_seed_other_items():
    frame = _frame()
    a = cold_item_split(frame, 0.2, rng=np.random.default_rng(3))
    b = cold_item_split(frame, 0.2, rng=np.random.default_rng(3))
    c = cold_item_split(frame, 0.2, rng=np.random.default_rng(4))
    assert set(a.test["item_idx"]) == set(b.test["item_idx"])
    assert set(a.test["item_idx"]) != set(c.test["item_idx"])


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 0.99])
def test_bad_fractions_are_clear_errors(fraction):
    with pytest.raises(ValueError, match=r"fraction|leaves none"):
        cold_item_split(_frame(), fraction, rng=np.random.default_rng(0), valid_fraction=0.05)
