import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recforge.core.errors import DataFormatError
from recforge.data.matrix import index_interactions, to_csr
from recforge.data.preprocess import deduplicate, k_core, to_implicit
from recforge.data.sampling import NegativeSampler, pairwise_epoch, pointwise_epoch
from recforge.data.split import leave_one_out, ratio_split, temporal_split
from recforge.data.tables import make_interactions


def frame(users, items, times=None):
    out = pd.DataFrame({"user_idx": users, "item_idx": items})
    out["timestamp"] = times if times is not None else range(len(users))
    return out


def test_leave_one_out_by_time_holds_latest_and_keeps_small_users():
    data = frame([0, 0, 0, 0, 1, 1], [1, 2, 3, 4, 5, 6], [4, 3, 2, 1, 1, 2])
    split = leave_one_out(data)
    assert split.test.set_index("user_idx")["item_idx"].to_dict() == {0: 1}
    assert split.valid["item_idx"].tolist() == [2]
    # user 1 has 2 rows: too few for valid + test + 1 train, so all stay in training
    assert sorted(split.train["item_idx"].tolist()) == [3, 4, 5, 6]
    assert len(split.train) + len(split.valid) + len(split.test) == len(data)


def test_random_leave_one_out_is_seeded():
    data = frame([0] * 10 + [1] * 10, list(range(20)))
    first = leave_one_out(data, by="random", rng=np.random.default_rng(1))
    second = leave_one_out(data, by="random", rng=np.random.default_rng(1))
    assert first.test.equals(second.test)
    with pytest.raises(ValueError, match="rng"):
        leave_one_out(data, by="random")


def test_ratio_split_counts_per_user():
    data = frame([0] * 10 + [1] * 25, list(range(35)))
    split = ratio_split(data, (0.8, 0.1, 0.1), by="random", rng=np.random.default_rng(0))
    assert split.test.groupby("user_idx").size().to_dict() == {0: 1, 1: 2}
    assert split.valid.groupby("user_idx").size().to_dict() == {0: 1, 1: 2}
    assert split.train.groupby("user_idx").size().to_dict() == {0: 8, 1: 21}
    together = pd.concat([split.train, split.valid, split.test])
    assert sorted(together["item_idx"]) == list(range(35))


def test_time_split_without_timestamps_is_a_clear_error():
    data = frame([0, 0], [1, 2])
    data["timestamp"] = pd.array([pd.NA, pd.NA], dtype="Int64")
    with pytest.raises(DataFormatError, match="timestamps"):
        leave_one_out(data)


def test_temporal_split_cuts_global_time():
    data = frame([0, 1, 0, 1, 0, 1, 0, 1, 0, 1], list(range(10)), list(range(10)))
    split = temporal_split(data, (0.6, 0.2, 0.2))
    assert split.train["timestamp"].max() < split.valid["timestamp"].min()
    assert split.test["item_idx"].tolist() == [8, 9]


def test_implicit_dedup_kcore():
    table = make_interactions(
        [1, 1, 1, 2, 3], [5, 5, 6, 5, 7], value=[5, 4, 1, 4, 5], timestamp=[1, 2, 3, 4, 5]
    )
    positive = to_implicit(table, threshold=4)
    assert len(positive) == 4 and (positive["value"] == 1).all()
    unique = deduplicate(positive)
    assert len(unique) == 3 and unique["timestamp"].tolist() == [2, 4, 5]
    core = k_core(unique, min_user=1, min_item=2)
    assert sorted(core["user_id"]) == [1, 2]


def test_index_and_csr():
    table = make_interactions(["b", "a", "b"], [10, 20, 20])
    indexed = index_interactions(table)
    assert indexed.frame["user_idx"].tolist() == [1, 0, 1]
    matrix = to_csr(indexed.frame["user_idx"], indexed.frame["item_idx"], n_users=2, n_items=2)
    assert matrix.toarray().tolist() == [[0, 1], [1, 1]]


def seen_matrix():
    rng = np.random.default_rng(0)
    dense = rng.random((50, 30)) < 0.3
    return sp.csr_matrix(dense.astype(np.float32))


def test_uniform_sampler_never_returns_seen_items():
    seen = seen_matrix()
    sampler = NegativeSampler(seen)
    users = np.repeat(np.arange(50), 20)
    negatives = sampler.sample(users, 4, np.random.default_rng(0))
    dense = seen.toarray().astype(bool)
    assert not dense[users[:, None], negatives].any()


def test_popularity_sampler_follows_counts():
    counts = np.array([1000, 10, 1, 1])
    rows = np.concatenate([np.arange(c) for c in counts])
    cols = np.concatenate([np.full(c, i) for i, c in enumerate(counts)])
    seen = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(1000, 4))
    sampler = NegativeSampler(seen, distribution="popularity", alpha=1.0, exclude_seen=False)
    drawn = sampler.sample(np.zeros(20000, np.int64), 1, np.random.default_rng(0)).ravel()
    share = np.bincount(drawn, minlength=4) / len(drawn)
    np.testing.assert_allclose(share, counts / counts.sum(), atol=0.01)


def test_sampler_rejects_user_who_saw_everything():
    with pytest.raises(ValueError, match="user_idx 0"):
        NegativeSampler(sp.csr_matrix(np.ones((1, 3), np.float32)))


def test_epochs_have_expected_composition():
    seen = seen_matrix()
    sampler = NegativeSampler(seen)
    users, items, labels = pointwise_epoch(seen, sampler, 4, np.random.default_rng(0))
    assert len(users) == seen.nnz * 5 and labels.sum() == seen.nnz
    dense = seen.toarray().astype(bool)
    assert dense[users[labels == 1], items[labels == 1]].all()
    assert not dense[users[labels == 0], items[labels == 0]].any()
    users, positives, negatives = pairwise_epoch(seen, sampler, np.random.default_rng(0))
    assert dense[users, positives].all() and not dense[users, negatives].any()
