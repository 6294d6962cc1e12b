"""The test protocol of leave-one-out splits: models that read histories rank the test item
from the training plus validation items; validation is measured before that, never on a
history that holds the validation item."""

from __future__ import annotations

import dataclasses

import pytest

from recforge.data.dataset import DataConfig, prepare
from recforge.models import MODELS
from recforge.training.experiment import (
    EvalConfig,
    ExperimentConfig,
    ModelSpec,
    evaluate_on,
    run_experiment,
)
from recforge.training.loop import TrainConfig

DATA = DataConfig(dataset="synthetic", synthetic={"n_users": 80, "n_items": 60}, eval_negatives=0)


@pytest.fixture(scope="module")
def data():
    return prepare(DATA)


def test_test_input_is_train_plus_valid_in_time_order(data):
    fed = data.test_input_sequences
    for user in range(data.n_users):
        expected = data.train_sequences.user(user).tolist() + data.valid[user].indices.tolist()
        assert fed.user(user).tolist() == expected


def run(name, params, data, tmp_path, **evaluation):
    spec = ModelSpec(name, MODELS[name].config_class(**params))
    config = ExperimentConfig(
        spec,
        name,
        0,
        str(tmp_path),
        DATA,
        training=TrainConfig(loss="ce", epochs=2, batch_size=32, progress=False),
        evaluation=EvalConfig(ks=(10,), **evaluation),
    )
    return run_experiment(config, data=data, run_dir=tmp_path / name)


@pytest.mark.parametrize(
    ("name", "params"),
    [("ease", {"l2": 10.0}), ("ials", {"factors": 4, "iterations": 3}), ("sasrec", {})],
)
def test_history_readers_are_fed_for_test_but_validated_without(name, params, data, tmp_path):
    fed = run(name, params, data, tmp_path / "fed")
    metrics = fed.run_dir.joinpath("metrics.json").read_text()
    assert '"test_history": "train+valid"' in metrics
    plain = run(name, params, data, tmp_path / "plain", test_history="train")
    assert '"test_history": "train"' in plain.run_dir.joinpath("metrics.json").read_text()
    # validation is measured before the feed: the same as on the never-fed run
    assert fed.valid == pytest.approx(plain.valid) and fed.valid
    # and it differs from what a fed model would score (the validation item in its input)
    leaked = evaluate_on(fed.model, data, "valid", "full", (10,)).metrics
    assert leaked != pytest.approx(fed.valid)


def test_models_without_history_input_are_not_fed(data, tmp_path):
    result = run("popularity", {}, data, tmp_path)
    assert '"test_history": "train"' in result.run_dir.joinpath("metrics.json").read_text()


def test_ratio_splits_are_not_fed_by_default():
    config = EvalConfig()
    assert config.feeds_valid("leave_one_out_time") and not config.feeds_valid("ratio_random")
    assert dataclasses.replace(config, test_history="train+valid").feeds_valid("ratio_random")
