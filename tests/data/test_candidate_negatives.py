"""Negatives drawn from a recall model's candidates (hard negatives for a rank stage)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recforge.data.ctr_rows import add_candidate_negatives


def rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": ["a", "a", "a", "a", "b", "b"],
            "item_id": [1, 7, 2, 8, 1, 9],
            "timestamp": [1, 1, 2, 2, 1, 1],
            "label": np.array([1, 0, 1, 0, 1, 0], np.int8),
            "hour": [3, 3, 4, 4, 5, 5],
        }
    )


def test_each_positive_gets_negatives_from_its_users_candidates_only() -> None:
    candidates = {"a": np.array([20, 21]), "b": np.array([30])}
    out = add_candidate_negatives(rows(), candidates, np.random.default_rng(0), per_positive=2)
    assert len(out) == 6 + 3 * 2
    new = out.iloc[[1, 2, 5, 6, 9, 10]]
    assert (new["label"] == 0).all() and out["label"].dtype == np.int8
    assert set(new["item_id"][new["user_id"] == "a"]) <= {20, 21}
    assert set(new["item_id"][new["user_id"] == "b"]) == {30}
    # the negatives share their positive's time and context, right after it
    assert out["timestamp"].tolist() == [1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1]
    assert out["hour"].tolist() == [3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5]
    assert out["label"].tolist() == [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]


def test_users_without_candidates_keep_their_rows_and_bad_counts_fail() -> None:
    out = add_candidate_negatives(rows(), {"b": np.array([], np.int64)}, np.random.default_rng(0))
    pd.testing.assert_frame_equal(out, rows())
    with pytest.raises(ValueError, match="per_positive"):
        add_candidate_negatives(rows(), {}, np.random.default_rng(0), per_positive=0)
