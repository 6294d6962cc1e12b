"""Offline recall-then-rank evaluation: the ranker re-orders exactly the recalled items."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from recforge.core.vocab import IdVocab
from recforge.data.dataset import Prepared
from recforge.evaluation.two_stage import evaluate_two_stage
from recforge.models.base import FittedRecommender
from recforge.models.two_stage import RankStage

N_USERS, N_ITEMS = 3, 8
USER_IDS = ["u0", "u1", "u2"]
ITEM_IDS = [f"i{j}" for j in range(N_ITEMS)]


class Fixed(FittedRecommender):
    """Item j scores -j for everyone: the recall order is i0, i1, i2, ..."""

    def score_all(self, user_idx: torch.Tensor) -> torch.Tensor:
        return -torch.arange(N_ITEMS, dtype=torch.float32).repeat(len(user_idx), 1)


class Favourite(RankStage):
    """Scores one item id highest and records the rows it was given."""

    def __init__(self, favourite: str) -> None:
        self.favourite = favourite
        self.seen: list[pd.DataFrame] = []

    def score_rows(self, rows, events=None, users=None):  # type: ignore[no-untyped-def]
        self.seen.append(rows)
        return np.where(rows["item_id"] == self.favourite, 10.0, 0.0).astype(np.float32)


def csr(pairs: list[tuple[int, int]]) -> sp.csr_matrix:
    users, items = zip(*pairs, strict=True) if pairs else ((), ())
    return sp.csr_matrix((np.ones(len(pairs)), (users, items)), shape=(N_USERS, N_ITEMS))


def prepared(test_item: int) -> Prepared:
    # every user trained on i0 and validated on i1: both are excluded from recall
    train = csr([(u, 0) for u in range(N_USERS)])
    valid = csr([(u, 1) for u in range(N_USERS)])
    test = csr([(0, test_item), (1, test_item)])  # u2 has no test item
    return Prepared(
        "toy", train, valid, test, IdVocab("user").fit(USER_IDS), IdVocab().fit(ITEM_IDS)
    )


def test_the_ranker_moves_a_recalled_test_item_to_the_top() -> None:
    stage = Favourite("i4")
    result = evaluate_two_stage(
        Fixed(None, n_users=N_USERS, n_items=N_ITEMS),
        stage,
        prepared(test_item=4),
        at={"u0": 7, "u1": 9, "u2": 3},
        events=None,
        n_candidates=4,
        ks=(1, 3),
    )
    # recall order after excluding i0, i1: i2, i3, i4, i5 -> the test item is third
    assert result.recall.metrics["hr@1"] == 0.0
    assert result.recall.metrics["hr@3"] == 1.0
    assert result.ranked.metrics["hr@1"] == 1.0
    assert result.ranked.metrics["ndcg@1"] == 1.0
    assert result.candidate_recall == 1.0
    assert result.ranked.n_users == 2  # u2 has no test item
    rows = pd.concat(stage.seen)
    assert rows["item_id"].tolist() == ["i2", "i3", "i4", "i5"] * 2
    assert rows["user_id"].tolist() == ["u0"] * 4 + ["u1"] * 4
    assert rows["timestamp"].tolist() == [7] * 4 + [9] * 4


def test_a_test_item_outside_the_candidates_is_a_miss_for_both() -> None:
    result = evaluate_two_stage(
        Fixed(None, n_users=N_USERS, n_items=N_ITEMS),
        Favourite("i7"),
        prepared(test_item=7),
        at={"u0": 1, "u1": 1},
        events=None,
        n_candidates=3,
        ks=(3,),
    )
    assert result.candidate_recall == 0.0
    assert result.ranked.metrics["hr@3"] == result.recall.metrics["hr@3"] == 0.0


def test_users_without_a_time_are_skipped_and_bad_cutoffs_refused() -> None:
    model = Fixed(None, n_users=N_USERS, n_items=N_ITEMS)
    result = evaluate_two_stage(
        model, Favourite("i2"), prepared(4), at={"u1": 2}, events=None, n_candidates=4, ks=(2,)
    )
    assert result.ranked.per_user["user_idx"].tolist() == [1]
    with pytest.raises(ValueError, match="exceed n_candidates"):
        evaluate_two_stage(
            model, Favourite("i2"), prepared(4), at={}, events=None, n_candidates=2, ks=(10,)
        )
    with pytest.raises(ValueError, match="no user"):
        evaluate_two_stage(model, Favourite("i2"), prepared(4), at={}, events=None, ks=(2,))
