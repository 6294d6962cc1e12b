"""Protocols over tiny fake recommenders whose ranks are known exactly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from torch import Tensor, nn

from recforge.core.batches import UserItemBatch
from recforge.evaluation.protocols import (
    EvaluationResult,
    evaluate_ctr,
    evaluate_full,
    evaluate_sampled,
)
from recforge.models.base import FittedRecommender, NeuralRecommender


class FixedScores(FittedRecommender):
    """A fitted recommender that returns rows of a fixed score matrix."""

    state_names = ("scores_",)

    def __init__(self, scores: np.ndarray) -> None:
        super().__init__(None, n_users=scores.shape[0], n_items=scores.shape[1])
        self.scores_ = torch.as_tensor(scores, dtype=torch.float32)

    def score_all(self, user_idx: Tensor) -> Tensor:
        return self.scores_[user_idx]


class LookupNet(NeuralRecommender):
    """A neural recommender scoring pairs from a fixed matrix; records how it was called."""

    def __init__(self, scores: np.ndarray) -> None:
        super().__init__(n_users=scores.shape[0], n_items=scores.shape[1])
        self.table = nn.Parameter(torch.as_tensor(scores, dtype=torch.float32))
        self.calls: list[tuple[bool, bool, int]] = []  # (training, grad enabled, batch size)

    def forward(self, batch: UserItemBatch) -> Tensor:
        self.calls.append((self.training, torch.is_grad_enabled(), len(batch)))
        return self.table[batch.user_idx, batch.item_idx]


def result_frame(result: EvaluationResult) -> pd.DataFrame:
    return result.per_user.sort_values("user_idx", kind="stable").reset_index(drop=True)


METRIC_NAMES = {"hr", "ndcg", "recall", "precision", "mrr", "map"}


# ---------------------------------------------------------------------------------------------
# sampled protocol


class TestSampled:
    def test_oracle_gets_perfect_scores(self) -> None:
        scores = np.zeros((3, 6))
        positives = np.array([1, 4, 0])
        scores[np.arange(3), positives] = 1.0
        negatives = np.array([[0, 2, 3], [0, 1, 5], [2, 3, 4]])
        result = evaluate_sampled(
            FixedScores(scores), np.arange(3), positives, negatives, ks=(1, 3)
        )
        assert set(result.metrics) == {f"{m}@{k}" for m in METRIC_NAMES for k in (1, 3)}
        assert result.metrics["hr@1"] == 1.0
        assert result.metrics["ndcg@1"] == 1.0
        assert result.metrics["ndcg@3"] == 1.0
        assert result.metrics["precision@3"] == pytest.approx(1 / 3)
        assert result.n_users == 3
        assert result.protocol == "sampled"

    def test_positive_at_known_rank(self) -> None:
        # the positive (item 0) is beaten by 3 of 5 negatives: 0-based rank 3
        scores = np.array([[0.5, 0.9, 0.8, 0.7, 0.1, 0.2]])
        result = evaluate_sampled(
            FixedScores(scores), [0], [0], np.array([[1, 2, 3, 4, 5]]), ks=(3, 4, 10)
        )
        assert result.metrics["hr@3"] == 0.0
        assert result.metrics["hr@4"] == 1.0
        assert result.metrics["ndcg@3"] == 0.0
        assert result.metrics["ndcg@4"] == pytest.approx(1 / math.log2(5))
        assert result.metrics["mrr@10"] == pytest.approx(1 / 4)
        assert result.metrics["map@10"] == pytest.approx(1 / 4)
        assert result.metrics["recall@4"] == 1.0
        assert result.metrics["precision@4"] == pytest.approx(1 / 4)

    def test_ties_count_against_the_positive(self) -> None:
        # one negative higher, two tied: rank 3
        scores = np.array([[0.5, 0.9, 0.5, 0.5, 0.1]])
        result = evaluate_sampled(
            FixedScores(scores), [0], [0], np.array([[1, 2, 3, 4]]), ks=(3, 4)
        )
        assert result.metrics["hr@3"] == 0.0
        assert result.metrics["mrr@4"] == pytest.approx(1 / 4)
        # a constant model gets nothing
        constant = evaluate_sampled(
            FixedScores(np.ones((2, 5))),
            [0, 1],
            [0, 4],
            np.array([[1, 2, 3, 4], [0, 1, 2, 3]]),
            ks=(4,),
        )
        assert constant.metrics["hr@4"] == 0.0

    def test_neural_path_flattens_pairs_and_restores_training_mode(self) -> None:
        rng = np.random.default_rng(0)
        scores = rng.normal(size=(7, 20))
        user_idx = np.arange(7)
        item_idx = rng.integers(0, 10, size=7)
        negatives = rng.integers(10, 20, size=(7, 4))
        net = LookupNet(scores)
        net.train()
        neural = evaluate_sampled(net, user_idx, item_idx, negatives, ks=(1, 3), batch_size=3)
        assert net.training
        assert net.calls == [(False, False, 15), (False, False, 15), (False, False, 5)]
        fitted = evaluate_sampled(FixedScores(scores), user_idx, item_idx, negatives, ks=(1, 3))
        assert neural.metrics == pytest.approx(fitted.metrics)

    @pytest.mark.parametrize("batch_size", [1, 7, 1000])
    def test_equals_per_user_loop_and_ignores_batch_size(self, batch_size: int) -> None:
        rng = np.random.default_rng(1)
        n_users, n_items, n_negatives = 60, 40, 9
        scores = rng.integers(0, 5, size=(n_users, n_items)).astype(float)  # many ties
        user_idx = rng.integers(0, n_users, size=80)
        item_idx = rng.integers(0, n_items, size=80)
        offsets = rng.integers(1, n_items, size=(80, n_negatives))
        negatives = (item_idx[:, None] + offsets) % n_items  # never the positive
        result = evaluate_sampled(
            FixedScores(scores), user_idx, item_idx, negatives, ks=(1, 5), batch_size=batch_size
        )
        expected_hr5, expected_ndcg5, expected_mrr5 = [], [], []
        for user, item, row in zip(user_idx, item_idx, negatives, strict=True):
            rank = sum(scores[user, negative] >= scores[user, item] for negative in row)
            expected_hr5.append(float(rank < 5))
            expected_ndcg5.append(1 / math.log2(rank + 2) if rank < 5 else 0.0)
            expected_mrr5.append(1 / (rank + 1) if rank < 5 else 0.0)
        np.testing.assert_array_equal(result.per_user["user_idx"], user_idx)
        np.testing.assert_allclose(result.per_user["hr@5"], expected_hr5)
        np.testing.assert_allclose(result.per_user["ndcg@5"], expected_ndcg5)
        np.testing.assert_allclose(result.per_user["mrr@5"], expected_mrr5)
        assert result.metrics["hr@5"] == pytest.approx(np.mean(expected_hr5))

    def test_negative_equal_to_held_out_item_is_ignored(self, caplog) -> None:
        # the NCF reference evaluation scores a set of candidates, so a duplicate of the
        # held-out item among the negatives neither counts against it nor raises
        model = FixedScores(np.array([[0.1, 0.9, 0.5, 0.3]]))
        result = evaluate_sampled(model, [0], [2], np.array([[2, 1, 3]]), ks=(1, 2))
        assert result.metrics["hr@1"] == 0.0 and result.metrics["hr@2"] == 1.0
        assert "ignored" in caplog.text

    def test_bad_input(self) -> None:
        model = FixedScores(np.zeros((2, 5)))
        with pytest.raises(ValueError, match="negatives must have 1 rows"):
            evaluate_sampled(model, [0], [1], np.array([[2], [3]]))
        with pytest.raises(ValueError, match=r"test_item_idx holds indices outside \[0, 5\)"):
            evaluate_sampled(model, [0], [5], np.array([[2]]))
        with pytest.raises(ValueError, match="test_user_idx holds indices outside"):
            evaluate_sampled(model, [2], [1], np.array([[2]]))
        with pytest.raises(ValueError, match="ks must hold positive integers"):
            evaluate_sampled(model, [0], [1], np.array([[2]]), ks=(0,))
        with pytest.raises(ValueError, match="NaN"):
            evaluate_sampled(FixedScores(np.full((1, 3), np.nan)), [0], [0], np.array([[1, 2]]))


# ---------------------------------------------------------------------------------------------
# full-ranking protocol


def brute_force_full(
    scores: np.ndarray, test: np.ndarray, exclude: np.ndarray, k: int
) -> dict[str, list[float]]:
    """Per-user HR, recall, NDCG and AP by sorting each user's unexcluded items in a loop,
    ties broken against test items."""
    out: dict[str, list[float]] = {"hr": [], "recall": [], "ndcg": [], "map": []}
    for user in range(scores.shape[0]):
        relevant = set(np.flatnonzero(test[user]))
        if not relevant:
            continue
        candidates = [item for item in range(scores.shape[1]) if not exclude[user, item]]
        ranked = sorted(candidates, key=lambda item: (-scores[user, item], item in relevant))
        hits = [item in relevant for item in ranked[:k]]
        dcg = sum(1 / math.log2(rank + 2) for rank, hit in enumerate(hits) if hit)
        idcg = sum(1 / math.log2(rank + 2) for rank in range(min(len(relevant), k)))
        found, precision_sum = 0, 0.0
        for rank, hit in enumerate(hits):
            if hit:
                found += 1
                precision_sum += found / (rank + 1)
        out["hr"].append(float(any(hits)))
        out["recall"].append(sum(hits) / len(relevant))
        out["ndcg"].append(dcg / idcg)
        out["map"].append(precision_sum / min(len(relevant), k))
    return out


class TestFull:
    def test_oracle(self) -> None:
        test = sp.csr_matrix(np.array([[1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1]]))
        scores = test.toarray() + np.linspace(0, 0.1, 6)
        result = evaluate_full(FixedScores(scores), test, ks=(1, 2, 5))
        assert result.metrics["hr@1"] == 1.0
        assert result.metrics["ndcg@1"] == 1.0
        assert result.metrics["ndcg@5"] == 1.0
        assert result.metrics["recall@1"] == pytest.approx((1 / 2 + 1) / 2)
        assert result.metrics["recall@2"] == 1.0
        assert result.metrics["precision@5"] == pytest.approx((2 / 5 + 1 / 5) / 2)
        assert result.metrics["map@5"] == 1.0
        assert result.protocol == "full"

    def test_hand_computed_ranks(self) -> None:
        # ranking of user 0: items 3, 0, 4, 1, 2; relevant items 0 and 1 at 1-based ranks 2, 4
        scores = np.array([[0.8, 0.4, 0.1, 0.9, 0.5]])
        test = sp.csr_matrix(np.array([[1, 1, 0, 0, 0]]))
        result = evaluate_full(FixedScores(scores), test, ks=(1, 4))
        assert result.metrics["hr@1"] == 0.0
        assert result.metrics["recall@4"] == 1.0
        assert result.metrics["ndcg@4"] == pytest.approx(
            (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
        )
        assert result.metrics["mrr@4"] == 0.5
        assert result.metrics["map@4"] == pytest.approx((1 / 2 + 2 / 4) / 2)

    def test_excluded_items_are_masked(self) -> None:
        scores = np.array([[0.9, 0.5, 0.1, 0.7]])  # item 0 (seen) scores top
        test = sp.csr_matrix(np.array([[0, 0, 0, 1]]))
        seen = sp.csr_matrix(np.array([[1, 0, 0, 0]]))
        without = evaluate_full(FixedScores(scores), test, ks=(1,))
        masked = evaluate_full(FixedScores(scores), test, exclude=seen, ks=(1,))
        assert without.metrics["hr@1"] == 0.0
        assert masked.metrics["hr@1"] == 1.0

    def test_excluded_test_item_is_never_a_hit(self) -> None:
        # a 2-item catalogue with k = 2: the excluded test item still fills the list
        test = sp.csr_matrix(np.array([[1, 1]]))
        seen = sp.csr_matrix(np.array([[1, 0]]))
        result = evaluate_full(FixedScores(np.array([[0.9, 0.1]])), test, exclude=seen, ks=(2,))
        assert result.metrics["hr@2"] == 1.0
        assert result.metrics["recall@2"] == 0.5
        assert result.metrics["precision@2"] == 0.5

    def test_ties_broken_against_test_items(self) -> None:
        test = sp.csr_matrix(np.array([[0, 0, 1, 0, 1, 0]]))
        constant = evaluate_full(FixedScores(np.zeros((1, 6))), test, ks=(4, 5))
        assert constant.metrics["hr@4"] == 0.0
        assert constant.metrics["mrr@5"] == pytest.approx(1 / 5)
        # -0.0 and +0.0 tie; the relevant item goes last among them
        signed = np.array([[0.0, -0.0, -0.0, 1.0, 0.0, -1.0]])
        result = evaluate_full(FixedScores(signed), test, ks=(4,))
        assert result.metrics["mrr@4"] == pytest.approx(1 / 4)

    def test_users_without_test_items_are_skipped(self) -> None:
        scores = np.arange(12, dtype=float).reshape(3, 4)
        test = sp.csr_matrix(np.array([[0, 0, 0, 1], [0, 0, 0, 0], [1, 0, 0, 0]]))
        result = evaluate_full(FixedScores(scores), test, ks=(1,))
        assert result.n_users == 2
        assert list(result.per_user["user_idx"]) == [0, 2]
        assert list(result.per_user["hr@1"]) == [1.0, 0.0]
        chosen = evaluate_full(FixedScores(scores), test, ks=(1,), users=np.array([1, 2]))
        assert list(chosen.per_user["user_idx"]) == [2]

    def test_catalogue_smaller_than_k(self) -> None:
        test = sp.csr_matrix(np.array([[0, 0, 1]]))
        result = evaluate_full(FixedScores(np.array([[0.3, 0.2, 0.1]])), test, ks=(10,))
        assert result.metrics["hr@10"] == 1.0
        assert result.metrics["precision@10"] == pytest.approx(0.1)
        assert result.metrics["ndcg@10"] == pytest.approx(1 / math.log2(4))

    @pytest.mark.parametrize("batch_size", [1, 5, 1024])
    def test_equals_brute_force_and_ignores_batch_size(self, batch_size: int) -> None:
        rng = np.random.default_rng(2)
        n_users, n_items = 30, 25
        scores = rng.integers(0, 6, size=(n_users, n_items)).astype(float)  # many ties
        test = rng.random((n_users, n_items)) < 0.15
        exclude = (rng.random((n_users, n_items)) < 0.3) & ~test
        result = evaluate_full(
            FixedScores(scores),
            sp.csr_matrix(test),
            exclude=sp.csr_matrix(exclude),
            ks=(3, 10),
            batch_size=batch_size,
        )
        for k in (3, 10):
            expected = brute_force_full(scores, test, exclude, k)
            for name, values in expected.items():
                np.testing.assert_allclose(result.per_user[f"{name}@{k}"], values, err_msg=name)
        assert result.n_users == int(test.any(axis=1).sum())

    def test_neural_model_restores_mode(self) -> None:
        scores = np.random.default_rng(3).normal(size=(4, 6))
        test = sp.csr_matrix(np.eye(4, 6))
        net = LookupNet(scores)
        net.train()
        neural = evaluate_full(net, test, ks=(2,))
        assert net.training
        assert all(not training and not grad for training, grad, _ in net.calls)
        fitted = evaluate_full(FixedScores(scores), test, ks=(2,))
        assert neural.metrics == pytest.approx(fitted.metrics)

    def test_negative_equal_to_held_out_item_is_ignored(self, caplog) -> None:
        # the NCF reference evaluation scores a set of candidates, so a duplicate of the
        # held-out item among the negatives neither counts against it nor raises
        model = FixedScores(np.array([[0.1, 0.9, 0.5, 0.3]]))
        result = evaluate_sampled(model, [0], [2], np.array([[2, 1, 3]]), ks=(1, 2))
        assert result.metrics["hr@1"] == 0.0 and result.metrics["hr@2"] == 1.0
        assert "ignored" in caplog.text

    def test_bad_input(self) -> None:
        model = FixedScores(np.zeros((2, 3)))
        with pytest.raises(ValueError, match=r"test has shape \(3, 2\)"):
            evaluate_full(model, sp.csr_matrix(np.ones((3, 2))))
        with pytest.raises(ValueError, match="exclude must be"):
            evaluate_full(model, sp.csr_matrix(np.ones((2, 3))), exclude=sp.csr_matrix((2, 4)))
        with pytest.raises(ValueError, match="no user to evaluate"):
            evaluate_full(model, sp.csr_matrix((2, 3)))
        with pytest.raises(ValueError, match="NaN"):
            evaluate_full(FixedScores(np.full((2, 3), np.nan)), sp.csr_matrix(np.ones((2, 3))))

    def test_ml1m_size_matches_a_warm_up_subset(self) -> None:
        # speed at this size is measured by benchmarks/speed.py, not asserted here
        class DotProduct(NeuralRecommender):
            def __init__(self, n_users: int, n_items: int) -> None:
                super().__init__(n_users, n_items)
                generator = torch.Generator().manual_seed(0)
                self.user_vectors = nn.Parameter(torch.randn(n_users, 32, generator=generator))
                self.item_vectors = nn.Parameter(torch.randn(n_items, 32, generator=generator))

            def score_all(self, user_idx: Tensor) -> Tensor:
                return self.user_vectors[user_idx] @ self.item_vectors.T

        n_users, n_items = 6040, 3706
        rng = np.random.default_rng(0)

        def random_matrix(nnz: int) -> sp.csr_matrix:
            rows = rng.integers(0, n_users, nnz)
            cols = rng.integers(0, n_items, nnz)
            return sp.csr_matrix((np.ones(nnz), (rows, cols)), shape=(n_users, n_items))

        train, test = random_matrix(800_000), random_matrix(100_000)
        model = DotProduct(n_users, n_items)
        subset = evaluate_full(model, test, exclude=train, ks=(10, 20), users=np.arange(100))
        result = evaluate_full(model, test, exclude=train, ks=(10, 20), batch_size=700)
        assert result.n_users == int((np.diff(test.indptr) > 0).sum())
        whole = result.per_user.set_index("user_idx")
        part = subset.per_user.set_index("user_idx")
        np.testing.assert_allclose(whole.loc[part.index, "ndcg@10"], part["ndcg@10"])


# ---------------------------------------------------------------------------------------------
# results and CTR


def test_result_exports(tmp_path: Path) -> None:
    scores = np.array([[0.9, 0.5, 0.1], [0.1, 0.2, 0.3]])
    test = sp.csr_matrix(np.array([[1, 0, 0], [1, 0, 0]]))
    result = evaluate_full(FixedScores(scores), test, ks=(1,))
    saved = json.loads(result.to_json(tmp_path / "metrics.json").read_text())
    assert saved == {"protocol": "full", "n_users": 2, "metrics": result.metrics}
    assert saved["metrics"]["hr@1"] == 0.5
    table = pd.read_csv(result.per_user_to_csv(tmp_path / "per_user.csv"))
    assert list(table.columns) == [
        "user_idx",
        "hr@1",
        "ndcg@1",
        "recall@1",
        "precision@1",
        "mrr@1",
        "map@1",
    ]
    assert list(table["hr@1"]) == [1.0, 0.0]


class TestCtr:
    def test_hand_computed(self) -> None:
        labels = np.array([1, 0, 1, 0])
        logits = np.array([2.0, -1.0, 0.0, 0.0])
        out = evaluate_ctr(labels, logits, groups=np.array([7, 7, 8, 8]))
        # pairs: (2,-1) win, (2,0) win, (0,-1) win, (0,0) tie
        assert out["auc"] == pytest.approx(3.5 / 4)
        expected_loss = (math.log1p(math.exp(-2)) + math.log1p(math.exp(-1)) + 2 * math.log(2)) / 4
        assert out["logloss"] == pytest.approx(expected_loss)
        assert out["gauc"] == pytest.approx((2 * 1 + 2 * 0.5) / 4)

    def test_tensors_and_no_groups(self) -> None:
        out = evaluate_ctr(torch.tensor([1, 0]), torch.tensor([0.5, -0.5]))
        assert set(out) == {"auc", "logloss"}
        assert out["auc"] == 1.0
