"""Metric functions against hand-computed values and brute-force references."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recforge.evaluation import metrics


def log2(x: float) -> float:
    return math.log2(x)


HITS = np.array([[0, 1, 0, 1]], dtype=bool)  # hits at 1-based ranks 2 and 4
THREE = np.array([3])


class TestHandComputed:
    def test_all_metrics_at_full_length(self) -> None:
        assert metrics.hit_rate(HITS, k=4)[0] == 1.0
        assert metrics.precision(HITS, k=4)[0] == 0.5
        assert metrics.recall(HITS, THREE, k=4)[0] == pytest.approx(2 / 3)
        expected_ndcg = (1 / log2(3) + 1 / log2(5)) / (1 + 1 / log2(3) + 1 / log2(4))
        assert metrics.ndcg(HITS, THREE, k=4)[0] == pytest.approx(expected_ndcg)
        assert metrics.mrr(HITS, k=4)[0] == 0.5
        assert metrics.average_precision(HITS, THREE, k=4)[0] == pytest.approx((1 / 2 + 2 / 4) / 3)

    def test_cut_off_shorter_than_list(self) -> None:
        assert metrics.hit_rate(HITS, k=1)[0] == 0.0
        assert metrics.precision(HITS, k=2)[0] == 0.5
        assert metrics.recall(HITS, THREE, k=2)[0] == pytest.approx(1 / 3)
        # IDCG over min(3, 2) = 2 ideal hits
        assert metrics.ndcg(HITS, THREE, k=2)[0] == pytest.approx((1 / log2(3)) / (1 + 1 / log2(3)))
        assert metrics.mrr(HITS, k=1)[0] == 0.0
        assert metrics.mrr(HITS, k=2)[0] == 0.5
        # denominator min(3, 2) = 2
        assert metrics.average_precision(HITS, THREE, k=2)[0] == pytest.approx(0.25)

    def test_recall_denominator_is_n_relevant_not_capped(self) -> None:
        all_hits = np.ones((1, 2), dtype=bool)
        assert metrics.recall(all_hits, np.array([5]), k=2)[0] == pytest.approx(0.4)
        # NDCG and AP are capped at k and reach 1
        assert metrics.ndcg(all_hits, np.array([5]), k=2)[0] == pytest.approx(1.0)
        assert metrics.average_precision(all_hits, np.array([5]), k=2)[0] == pytest.approx(1.0)

    def test_several_users_at_once(self) -> None:
        hits = np.array([[1, 0, 0], [0, 0, 1], [0, 0, 0]], dtype=bool)
        n_relevant = np.array([1, 2, 1])
        np.testing.assert_allclose(metrics.hit_rate(hits, k=3), [1, 1, 0])
        np.testing.assert_allclose(metrics.mrr(hits, k=3), [1, 1 / 3, 0])
        np.testing.assert_allclose(metrics.recall(hits, n_relevant, k=3), [1, 0.5, 0])
        np.testing.assert_allclose(
            metrics.ndcg(hits, n_relevant, k=3), [1, (1 / 2) / (1 + 1 / log2(3)), 0]
        )
        np.testing.assert_allclose(
            metrics.average_precision(hits, n_relevant, k=3), [1, (1 / 3) / 2, 0]
        )

    def test_integer_hits_are_accepted(self) -> None:
        np.testing.assert_allclose(metrics.precision(HITS.astype(np.int8), k=4), [0.5])


class TestEdgeCases:
    def test_user_without_relevant_items(self) -> None:
        empty = np.zeros((1, 4), dtype=bool)
        none = np.array([0])
        assert np.isnan(metrics.recall(empty, none, k=4)[0])
        assert np.isnan(metrics.ndcg(empty, none, k=4)[0])
        assert np.isnan(metrics.average_precision(empty, none, k=4)[0])
        assert metrics.hit_rate(empty, k=4)[0] == 0.0
        assert metrics.precision(empty, k=4)[0] == 0.0
        assert metrics.mrr(empty, k=4)[0] == 0.0

    def test_k_larger_than_list_counts_missing_ranks_as_misses(self) -> None:
        hits = np.array([[0, 1]], dtype=bool)
        two = np.array([2])
        assert metrics.hit_rate(hits, k=5)[0] == 1.0
        assert metrics.precision(hits, k=5)[0] == pytest.approx(1 / 5)
        assert metrics.recall(hits, two, k=5)[0] == pytest.approx(1 / 2)
        assert metrics.ndcg(hits, two, k=5)[0] == pytest.approx((1 / log2(3)) / (1 + 1 / log2(3)))
        assert metrics.mrr(hits, k=5)[0] == 0.5
        assert metrics.average_precision(hits, two, k=5)[0] == pytest.approx((1 / 2) / 2)

    def test_empty_list_and_no_users(self) -> None:
        no_ranks = np.zeros((2, 0), dtype=bool)
        np.testing.assert_array_equal(metrics.mrr(no_ranks, k=3), [0, 0])
        np.testing.assert_array_equal(metrics.ndcg(no_ranks, np.array([1, 1]), k=3), [0, 0])
        no_users = np.zeros((0, 5), dtype=bool)
        assert metrics.ndcg(no_users, np.zeros(0, dtype=int), k=3).shape == (0,)

    @pytest.mark.parametrize("k", [0, -1, True, 2.0])
    def test_bad_k(self, k: object) -> None:
        with pytest.raises(ValueError, match="k must be a positive integer"):
            metrics.hit_rate(HITS, k=k)  # type: ignore[arg-type]

    def test_bad_shapes_and_values(self) -> None:
        with pytest.raises(ValueError, match="ranked_hits must be 2-d"):
            metrics.hit_rate(np.array([1, 0]), k=1)
        with pytest.raises(ValueError, match="binary"):
            metrics.precision(np.array([[2, 0]]), k=1)
        with pytest.raises(ValueError, match="n_relevant must have shape"):
            metrics.recall(HITS, np.array([3, 3]), k=4)
        with pytest.raises(ValueError, match="smaller than the number of hits"):
            metrics.ndcg(HITS, np.array([1]), k=4)
        with pytest.raises(ValueError, match="non-negative"):
            metrics.recall(np.zeros((1, 2), bool), np.array([-1]), k=2)


def reference_ranking(hits_row: np.ndarray, n_relevant: int, k: int) -> tuple[float, float]:
    """(NDCG@k, AP@k) of one user by the textbook definition, written as a plain loop."""
    dcg = sum(1 / math.log2(rank + 2) for rank in range(min(k, len(hits_row))) if hits_row[rank])
    idcg = sum(1 / math.log2(rank + 2) for rank in range(min(n_relevant, k)))
    found, precision_sum = 0, 0.0
    for rank in range(min(k, len(hits_row))):
        if hits_row[rank]:
            found += 1
            precision_sum += found / (rank + 1)
    return dcg / idcg, precision_sum / min(n_relevant, k)


def test_ndcg_and_ap_match_loop_reference_on_random_data() -> None:
    rng = np.random.default_rng(7)
    hits = rng.random((200, 12)) < 0.3
    n_relevant = hits.sum(axis=1) + rng.integers(0, 4, size=200)
    n_relevant[n_relevant == 0] = 1
    for k in (1, 5, 12, 20):
        expected = np.array(
            [reference_ranking(row, n, k) for row, n in zip(hits, n_relevant, strict=True)]
        )
        np.testing.assert_allclose(metrics.ndcg(hits, n_relevant, k=k), expected[:, 0])
        np.testing.assert_allclose(metrics.average_precision(hits, n_relevant, k=k), expected[:, 1])


# ---------------------------------------------------------------------------------------------
# CTR metrics


def brute_force_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    positives = scores[labels == 1]
    negatives = scores[labels == 0]
    wins = (positives[:, None] > negatives[None, :]).sum()
    ties = (positives[:, None] == negatives[None, :]).sum()
    return float((wins + 0.5 * ties) / (len(positives) * len(negatives)))


class TestAuc:
    def test_hand_computed_with_tie(self) -> None:
        assert metrics.auc(np.array([1, 0, 1, 0]), np.array([0.8, 0.1, 0.4, 0.4])) == 0.875

    def test_perfect_reversed_and_constant(self) -> None:
        labels = np.array([0, 0, 1, 1])
        assert metrics.auc(labels, np.array([1.0, 2, 3, 4])) == 1.0
        assert metrics.auc(labels, np.array([4.0, 3, 2, 1])) == 0.0
        assert metrics.auc(labels, np.zeros(4)) == 0.5

    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_matches_pairwise_count_on_random_data_with_ties(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        labels = rng.integers(0, 2, size=500)
        scores = rng.integers(0, 20, size=500).astype(float)  # many ties
        assert metrics.auc(labels, scores) == pytest.approx(brute_force_auc(labels, scores))

    def test_bool_labels(self) -> None:
        assert metrics.auc(np.array([True, False]), np.array([0.3, 0.2])) == 1.0

    def test_errors_name_the_argument(self) -> None:
        with pytest.raises(ValueError, match="single class"):
            metrics.auc(np.array([1, 1]), np.array([0.1, 0.2]))
        with pytest.raises(ValueError, match="scores contain NaN"):
            metrics.auc(np.array([1, 0]), np.array([np.nan, 0.2]))
        with pytest.raises(ValueError, match="scores must have shape"):
            metrics.auc(np.array([1, 0]), np.array([0.1, 0.2, 0.3]))
        with pytest.raises(ValueError, match="labels must hold only 0 and 1"):
            metrics.auc(np.array([1, 2]), np.array([0.1, 0.2]))


class TestGauc:
    def test_hand_computed(self) -> None:
        # user a: AUC 1 over 3 samples; user b: AUC 0.5 (tie) over 2; user c: one class, skipped
        labels = np.array([1, 0, 0, 1, 0, 0])
        scores = np.array([0.9, 0.2, 0.3, 0.5, 0.5, 0.7])
        groups = np.array(["a", "a", "a", "b", "b", "c"])
        assert metrics.gauc(labels, scores, groups) == pytest.approx((3 * 1 + 2 * 0.5) / 5)

    def test_matches_per_group_loop(self) -> None:
        rng = np.random.default_rng(3)
        labels = rng.integers(0, 2, size=400)
        scores = rng.integers(0, 10, size=400).astype(float)
        groups = rng.integers(0, 30, size=400)
        total, weight = 0.0, 0
        for group in np.unique(groups):
            chosen = groups == group
            if 0 < labels[chosen].sum() < chosen.sum():
                total += brute_force_auc(labels[chosen], scores[chosen]) * chosen.sum()
                weight += chosen.sum()
        assert metrics.gauc(labels, scores, groups) == pytest.approx(total / weight)

    def test_single_group_equals_auc(self) -> None:
        rng = np.random.default_rng(4)
        labels = rng.integers(0, 2, size=100)
        scores = rng.normal(size=100)
        assert metrics.gauc(labels, scores, np.zeros(100)) == pytest.approx(
            metrics.auc(labels, scores)
        )

    def test_errors(self) -> None:
        with pytest.raises(ValueError, match="no group"):
            metrics.gauc(np.array([1, 0]), np.array([0.1, 0.2]), np.array([0, 1]))
        with pytest.raises(ValueError, match="groups must have shape"):
            metrics.gauc(np.array([1, 0]), np.array([0.1, 0.2]), np.array([0]))


class TestLogLoss:
    def test_hand_computed(self) -> None:
        expected = -(math.log(0.8) + math.log(0.5)) / 2
        assert metrics.log_loss(np.array([1, 0]), np.array([0.8, 0.5])) == pytest.approx(expected)

    def test_clipping(self) -> None:
        loss = metrics.log_loss(np.array([1, 0]), np.array([0.0, 0.0]), eps=1e-7)
        assert loss == pytest.approx(-(math.log(1e-7) + math.log(1 - 1e-7)) / 2)

    def test_errors(self) -> None:
        with pytest.raises(ValueError, match="probabilities must lie in"):
            metrics.log_loss(np.array([1]), np.array([1.5]))
        with pytest.raises(ValueError, match="probabilities contain NaN"):
            metrics.log_loss(np.array([1]), np.array([np.nan]))
        with pytest.raises(ValueError, match="empty"):
            metrics.log_loss(np.array([], dtype=int), np.array([]))


class TestCoverage:
    def test_hand_computed(self) -> None:
        recommended = np.array([[0, 1, 2], [2, 1, 5]])
        assert metrics.catalog_coverage(recommended, n_items=10) == pytest.approx(0.4)

    def test_empty_and_errors(self) -> None:
        assert metrics.catalog_coverage(np.zeros((0, 3), dtype=int), n_items=4) == 0.0
        with pytest.raises(ValueError, match="outside"):
            metrics.catalog_coverage(np.array([[0, 4]]), n_items=4)
        with pytest.raises(ValueError, match="must be 2-d"):
            metrics.catalog_coverage(np.array([0, 1]), n_items=4)
