"""Data preparation end to end: synthetic shop splits and the NCF benchmark on real files."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import real_data
from recforge.core.errors import ConfigError
from recforge.data.dataset import DataConfig, prepare


def small_shop(**overrides):
    return DataConfig(
        dataset="synthetic",
        synthetic={"n_users": 120, "n_items": 60, "n_days": 15},
        **overrides,
    )


def test_leave_one_out_on_the_shop_partitions_interactions():
    data = prepare(small_shop(split="leave_one_out_time"))
    train, valid, test = (m.toarray().astype(bool) for m in (data.train, data.valid, data.test))
    assert not (train & valid).any() and not (train & test).any() and not (valid & test).any()
    assert (test.sum(axis=1) <= 1).all() and test.sum() > 100
    users, _ = data.held_out_pairs("test")
    assert data.test_negatives is not None and data.test_negatives.shape == (len(users), 99)
    # evaluation negatives are never items the user touched
    seen = train | valid | test
    assert not seen[users[:, None], data.test_negatives].any()
    # metadata rows line up with item_idx
    assert data.items is not None
    raw = data.item_vocab.inverse_transform(np.arange(data.n_items))
    assert (data.items["item_id"].to_numpy() == raw).all()


def test_same_seed_same_split():
    first = prepare(small_shop(split="ratio_random", seed=4))
    second = prepare(small_shop(split="ratio_random", seed=4))
    assert (first.test != second.test).nnz == 0


def test_unknown_synthetic_key_is_a_config_error():
    with pytest.raises(ConfigError, match=r"data\.synthetic\.n_user"):
        prepare(DataConfig(dataset="synthetic", synthetic={"n_user": 3}))


@pytest.mark.slow
def test_ncf_benchmark_preparation():
    real_data("ml-1m")
    data = prepare(DataConfig(dataset="ncf-ml-1m", split="ncf"))
    assert (data.n_users, data.n_items) == (6040, 3706)
    full = data.extras["full_train"]
    assert full.nnz == 994_169
    assert data.train.nnz + data.valid.nnz == full.nnz
    assert (np.diff(data.valid.indptr) == 1).all() and (np.diff(data.test.indptr) == 1).all()
    assert data.test_negatives is not None and data.test_negatives.shape == (6040, 99)
    assert data.valid_negatives is not None
    # validation negatives avoid everything the user rated, test items included
    seen = (full + data.test).tocsr()
    users = np.repeat(np.arange(6040), 99)
    assert not np.asarray(seen[users, data.valid_negatives.ravel()]).any()
    # user 0's test item is NCF item 25; titles come from movies.dat through the id map
    assert data.test.indices[0] == 25
    assert data.items is not None and data.items["title"].notna().all()
