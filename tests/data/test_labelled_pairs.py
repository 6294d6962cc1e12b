"""KGCN's click protocol: one unobserved negative per positive, a random labelled split."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recforge.data.sampling import labelled_pairs


def test_one_unobserved_negative_per_positive_and_a_clean_split(planted):
    pairs, train = labelled_pairs(planted, np.random.default_rng(0))
    users = np.concatenate([p[0] for p in pairs.values()])
    items = np.concatenate([p[1] for p in pairs.values()])
    labels = np.concatenate([p[2] for p in pairs.values()])
    assert len(labels) == 2 * planted.nnz and labels.sum() == planted.nnz
    seen = planted.toarray() > 0
    assert seen[users[labels == 1], items[labels == 1]].all()
    assert not seen[users[labels == 0], items[labels == 0]].any()
    # per user as many negatives as positives, never the same negative twice
    for user in range(planted.shape[0]):
        negatives = items[(users == user) & (labels == 0)]
        assert len(negatives) == planted[user].nnz == len(set(negatives.tolist()))
    sizes = {name: len(p[2]) for name, p in pairs.items()}
    assert sizes["valid"] == sizes["test"] == int(0.2 * len(labels))
    train_positives = pairs["train"][2] == 1
    assert train.nnz == train_positives.sum()  # only training positives are fitted on
    again, _ = labelled_pairs(planted, np.random.default_rng(0))
    np.testing.assert_array_equal(again["test"][1], pairs["test"][1])


def test_a_user_with_no_room_for_negatives_is_an_error():
    with pytest.raises(ValueError, match="user 0"):
        labelled_pairs(sp.csr_matrix(np.ones((1, 3))), np.random.default_rng(0))


def test_sampling_no_negatives_gives_an_empty_block(planted):
    """eval_negatives = 0 used to crash NCF preparation (reshape of an empty draw)."""
    from recforge.data.sampling import NegativeSampler

    drawn = NegativeSampler(planted).sample(np.arange(5), 0, np.random.default_rng(0))
    assert drawn.shape == (5, 0) and drawn.dtype == np.int64
