"""CTR metrics over labelled pairs: hand-computed values, scikit-learn agreement, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.metrics import f1_score, roc_auc_score

from recforge.evaluation.ctr import best_threshold, ctr_metrics, f1_at, score_pairs
from recforge.models.bpr import BPRMF, BPRMFConfig
from recforge.models.popularity import Popularity, PopularityConfig


def test_by_hand():
    labels = np.array([1, 1, 0, 0, 1])
    logits = np.array([3.0, -1.0, 0.5, -2.0, 0.0])
    # predicted positive at σ ≥ 0.5 ⇔ logit ≥ 0: pairs 0, 2, 4 -> tp 2, fp 1, fn 1
    out = ctr_metrics(labels, logits)
    assert out["f1"] == pytest.approx(2 / 3)
    # positive/negative pairs: (3 vs .5 win, 3 vs -2 win, -1 vs .5 loss, -1 vs -2 win,
    # 0 vs .5 loss, 0 vs -2 win) = 4 / 6
    assert out["auc"] == pytest.approx(4 / 6)
    assert f1_at(labels, logits, threshold=-1.5) == pytest.approx(2 * 3 / (4 + 3))


def test_agrees_with_scikit_learn_on_random_data():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 500)
    logits = rng.normal(size=500) + labels  # informative, with ties below
    logits[:50] = 0.0
    out = ctr_metrics(labels, logits)
    assert out["auc"] == pytest.approx(roc_auc_score(labels, logits))
    assert out["f1"] == pytest.approx(f1_score(labels, logits >= 0))


def test_edge_cases():
    assert f1_at(np.array([1, 0]), np.array([0.1, 0.2])) == 0.0  # nothing predicted positive
    assert f1_at(np.array([0, 0]), np.array([0.9, 0.2])) == 0.0  # no positive label
    with pytest.raises(ValueError, match="single class"):
        ctr_metrics(np.array([1, 1]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="NaN"):
        f1_at(np.array([1, 0]), np.array([np.nan, 0.2]))
    with pytest.raises(ValueError, match="1-d"):
        f1_at(np.array([1, 0]), np.array([0.2]))


def test_best_threshold_maximises_f1():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.normal(size=300) + labels, 1)  # many ties
    cut = best_threshold(labels, scores)
    best = f1_at(labels, scores, threshold=cut)
    for candidate in np.unique(scores):
        assert f1_at(labels, scores, threshold=candidate) <= best + 1e-12
    assert not np.isin(cut, scores)  # halfway between two scores
    with pytest.raises(ValueError, match="no positive"):
        best_threshold(np.array([0, 0]), np.array([1.0, 2.0]))


def test_score_pairs_neural_and_fitted_restores_mode():
    torch.manual_seed(0)
    model = BPRMF(BPRMFConfig(factors=4, init_std=1.0), n_users=3, n_items=5).train()
    users, items = np.array([0, 2, 1]), np.array([4, 0, 3])
    logits = score_pairs(model, users, items, batch_size=2)
    expected = model.score_all(torch.tensor([0, 2, 1]))[[0, 1, 2], [4, 0, 3]]
    # a sum of products against a matrix product: equal up to float32 rounding
    np.testing.assert_allclose(logits, expected.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert model.training  # put back in training mode
    popular = Popularity(PopularityConfig(), 3, 5).fit(sp.csr_matrix(np.eye(3, 5)))
    assert score_pairs(popular, users, items).tolist() == [0.0, 1.0, 0.0]
    assert score_pairs(popular, np.array([], np.int64), np.array([], np.int64)).shape == (0,)
