"""Item2Vec on real-looking histories: time order matters, runs repeat, bad input is clear."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recforge.core.errors import RecforgeError
from recforge.core.sequences import Sequences
from recforge.data.dataset import DataConfig, prepare
from recforge.models import MODELS
from recforge.representation.item2vec import Item2Vec, Item2VecConfig
from recforge.training.experiment import EvalConfig, ExperimentConfig, ModelSpec, run_experiment


def test_prepared_sequences_follow_time_and_match_the_training_matrix():
    data = prepare(DataConfig(dataset="synthetic", synthetic={"n_users": 80, "n_items": 60}))
    seqs = data.train_sequences
    assert seqs is not None and len(seqs) == data.n_users
    assert seqs.n_interactions == data.train.nnz
    for user in range(5):
        assert sorted(seqs.user(user).tolist()) == sorted(data.train[user].indices.tolist())


def test_same_seed_same_vectors_and_bad_input():
    histories = Sequences.from_lists([[0, 1, 2, 3], [3, 2, 1, 0]] * 20)
    config = Item2VecConfig(factors=4, epochs=2)
    first = Item2Vec(config).fit(histories, n_items=5).item_vectors_
    second = Item2Vec(config).fit(histories, n_items=5).item_vectors_
    np.testing.assert_array_equal(first, second)
    assert not first[4].any()  # never seen: zero vector
    with pytest.raises(RecforgeError, match="two or more items"):
        Item2Vec(config).fit(Sequences.from_lists([[1], []]), n_items=5)
    with pytest.raises(RecforgeError, match="n_items"):
        Item2Vec(config).fit(histories, n_items=3)


def test_item2vec_runs_as_an_experiment_on_time_ordered_histories(tmp_path):
    """The experiment hands Item2Vec the time-ordered training histories; it beats
    popularity on the shop's held-out latest items."""
    data_config = DataConfig(
        dataset="synthetic", split="leave_one_out_time", events=("click", "cart", "purchase")
    )
    data = prepare(data_config)
    results = {}
    for name, params in (("item2vec", {"factors": 32}), ("popularity", {})):
        spec = ModelSpec(name, MODELS[name].config_class(**params))
        config = ExperimentConfig(
            spec, name, 0, str(tmp_path), data_config, evaluation=EvalConfig(ks=(10,))
        )
        results[name] = run_experiment(config, data=data).test.metrics["hr@10"]
    assert results["item2vec"] > results["popularity"], results


def test_user_vectors_are_the_mean_of_the_latest_items():
    from recforge.models.item2vec import Item2VecRecConfig, Item2VecRecommender, user_vector

    histories = Sequences.from_lists([[0, 1, 2, 3], [3, 2], [], [4, 0, 1]] * 10)
    model = Item2VecRecommender(Item2VecRecConfig(factors=4, epochs=2, recent=2), 40, 5)
    model.fit(histories.to_csr(5), sequences=histories)
    for user in range(4):
        expected = user_vector(model.input_vectors_, histories.user(user), 2)
        torch.testing.assert_close(model.user_vectors_[user], expected)
