"""GAUC and log loss, the CTR metrics of the ranking benchmarks, against scikit-learn as an
independent reference, and the property GAUC exists for."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss as sklearn_log_loss
from sklearn.metrics import roc_auc_score

from recforge.evaluation.metrics import auc, gauc, log_loss


def sample(seed: int, n: int = 600, n_users: int = 150) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n)
    labels = rng.integers(0, 2, n)
    scores = labels * 0.5 + rng.normal(size=n) + rng.integers(0, 3, n)  # with ties
    return labels, scores.round(1), users


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gauc_is_the_impression_weighted_user_auc(seed: int) -> None:
    """DIN (Zhou et al. 2018, the metrics of Sec. 6):
    ``GAUC = Σ_i #impression_i · AUC_i / Σ_i #impression_i`` over users ``i``; a user with a
    single class has no AUC and is left out of both sums."""
    labels, scores, users = sample(seed)
    total = weight = 0.0
    for user in np.unique(users):
        mine = users == user
        if labels[mine].min() == labels[mine].max():
            continue
        total += mine.sum() * roc_auc_score(labels[mine], scores[mine])
        weight += mine.sum()
    assert weight < len(labels)  # some users were skipped
    assert gauc(labels, scores, users) == pytest.approx(total / weight)


def test_gauc_ignores_a_per_user_offset_auc_does_not() -> None:
    """The point of GAUC: a score offset per user (a user's "bias") does not change the
    ranking within users, so GAUC stays put while the pooled AUC moves."""
    labels, scores, users = sample(3)
    shifted = scores + 10.0 * users
    assert gauc(labels, shifted, users) == pytest.approx(gauc(labels, scores, users))
    assert abs(auc(labels, shifted) - auc(labels, scores)) > 0.05


def test_log_loss_matches_scikit_learn() -> None:
    labels, scores, _ = sample(4)
    probabilities = 1.0 / (1.0 + np.exp(-scores))
    assert log_loss(labels, probabilities) == pytest.approx(
        sklearn_log_loss(labels, probabilities), rel=1e-9
    )
