"""The ranker training loop: objective terms, early stopping with the best weights restored,
scoring helpers and errors."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from recforge.core.batches import FeatureBatch
from recforge.core.errors import ConfigError
from recforge.evaluation import metrics
from recforge.features.fields import FeatureSchema, Field
from recforge.models.dnn import DNN, DNNConfig
from recforge.models.ranker import FeatureEmbedding, Ranker, RankerOutputs
from recforge.training import losses
from recforge.training.ranking import (
    RankerTrainConfig,
    evaluate_ranker,
    fit_ranker,
    predict_logits,
)

SCHEMA = FeatureSchema(
    fields=(
        Field("user_id", "sparse", 12),
        Field("item_id", "sparse", 12),
        Field("tags", "multi", 6, max_len=2),
    ),
    history=("item_id",),
    history_length=3,
)
QUIET = RankerTrainConfig(epochs=3, batch_size=16, lr=0.01, progress=False, threads=1)


def rows(n: int, seed: int = 0, signal: bool = True) -> FeatureBatch:
    """``n`` rows of SCHEMA; the label is ``item_id >= 7`` (or random without ``signal``)."""
    generator = torch.Generator().manual_seed(seed)
    sparse = torch.randint(2, 12, (n, 2), generator=generator)
    label = sparse[:, 1] >= 7 if signal else torch.rand(n, generator=generator) < 0.5
    lengths = torch.randint(0, 4, (n,), generator=generator)
    history = torch.randint(2, 12, (n, 3), generator=generator)
    history = torch.where(torch.arange(3) < lengths[:, None], history, 0)
    return FeatureBatch(
        sparse=sparse,
        dense=torch.zeros(n, 0),
        label=label.float(),
        group=sparse[:, 0],
        multi={"tags": torch.randint(0, 6, (n, 2), generator=generator)},
        history={"item_id": history},
        history_length=lengths,
    )


@dataclass(frozen=True)
class ProbeConfig:
    dim: int = 3


class Probe(Ranker):
    """Logits are a bias; the embedding and a dense weight enter with weight zero (their
    gradient from the BCE is exactly 0), and an auxiliary loss pulls ``target`` to 3."""

    config_class = ProbeConfig

    def __init__(self, config: ProbeConfig, schema: FeatureSchema) -> None:
        super().__init__(config, schema)
        self.embedding = FeatureEmbedding(schema, config.dim, init_std=1.0)
        self.dense_weight = nn.Parameter(torch.ones(4))
        self.bias = nn.Parameter(torch.zeros(()))
        self.target = nn.Parameter(torch.zeros(()))

    def forward(self, batch: FeatureBatch) -> Tensor:
        unused = self.embedding.fields(batch).sum() + self.embedding.history(batch).sum()
        return self.bias + 0.0 * (unused + self.dense_weight.sum()) + torch.zeros(len(batch))

    def training_outputs(self, batch: FeatureBatch) -> RankerOutputs:
        return RankerOutputs(self(batch), (self.target - 3.0) ** 2)


def test_weight_decay_spares_the_embeddings() -> None:
    model = Probe(ProbeConfig(), SCHEMA)
    before = {k: v.clone() for k, v in model.embedding.state_dict().items()}
    config = replace(QUIET, optimizer="sgd", lr=0.1, weight_decay=0.5)
    fit_ranker(model, rows(64), None, config)
    for name, value in model.embedding.state_dict().items():
        assert torch.equal(value, before[name]), name
    steps = 3 * 4  # epochs x batches
    expected = torch.full((4,), (1 - 0.1 * 0.5) ** steps)
    torch.testing.assert_close(model.dense_weight.detach(), expected)


def test_minibatch_aware_l2_shrinks_read_rows_by_their_frequency() -> None:
    model = Probe(ProbeConfig(), SCHEMA)
    train = rows(40)
    before = model.embedding.tables["item_id"].weight.detach().clone()
    config = replace(QUIET, epochs=1, batch_size=40, optimizer="sgd", lr=0.1, embedding_l2=0.5)
    fit_ranker(model, train, None, config)  # one step over every row
    used = torch.cat([train.sparse[:, 1], train.history["item_id"].reshape(-1)])
    counts = torch.bincount(used, minlength=12).float()
    # SGD on λ ||w_j||² / n_j: w_j ← w_j (1 - lr · 2λ / n_j) for each row read, index 0 kept
    factor = torch.where(counts > 0, 1 - 0.1 * 2 * 0.5 / counts.clamp(min=1), 1.0)
    factor[0] = 1.0
    after = model.embedding.tables["item_id"].weight.detach()
    torch.testing.assert_close(after, before * factor[:, None])
    assert (counts[2:] > 0).all() and not torch.equal(after, before)


def test_minibatch_aware_l2_by_hand() -> None:
    table = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0], [3.0, 3.0]])
    used = torch.tensor([2, 2, 0, 1, 1])  # row 3 not read, row 0 is padding
    penalty = losses.minibatch_aware_l2(table, used, torch.tensor([9.0, 2.0, 4.0, 1.0]))
    assert float(penalty) == pytest.approx(2 / 2 + 4 / 4)


def test_auxiliary_loss_is_added() -> None:
    model = Probe(ProbeConfig(), SCHEMA)
    config = replace(QUIET, epochs=30, optimizer="sgd", lr=0.1)
    result = fit_ranker(model, rows(32), None, config)
    assert float(model.target.detach()) == pytest.approx(3.0, abs=1e-3)
    first = result.history[0]["loss"]
    assert first > 5.0  # BCE ≈ 0.69 plus an auxiliary loss that starts at 9


def test_early_stopping_restores_the_best_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = DNN(DNNConfig(embedding_dim=16, hidden=(64,)), SCHEMA)
    train, valid = rows(48, seed=1, signal=False), rows(200, seed=2, signal=False)
    config = replace(QUIET, epochs=40, lr=0.05, patience=2, valid_metric="logloss")
    result = fit_ranker(model, train, valid, config, log_path=tmp_path / "log.jsonl")
    losses_per_epoch = [record["valid"]["logloss"] for record in result.history]
    assert result.best_epoch == int(np.argmin(losses_per_epoch)) + 1
    assert len(result.history) == result.best_epoch + 2 < 40  # stopped by patience
    assert evaluate_ranker(model, valid) == result.best_valid  # the best epoch's weights
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == list(range(1, len(lines) + 1))
    assert result.samples_per_second > 0 and not model.training


def test_lr_decay_after_each_validation_without_a_better_metric() -> None:
    torch.manual_seed(0)
    model = DNN(DNNConfig(embedding_dim=16, hidden=(64,)), SCHEMA)
    train, valid = rows(48, seed=1, signal=False), rows(200, seed=2, signal=False)
    config = replace(QUIET, epochs=12, lr=0.05, patience=0, lr_decay=0.5, valid_metric="logloss")
    result = fit_ranker(model, train, valid, config)
    best, lr, decayed = np.inf, 0.05, 0
    for record in result.history:
        if record["valid"]["logloss"] < best:
            best = record["valid"]["logloss"]
            assert "lr" not in record
        else:
            lr, decayed = lr * 0.5, decayed + 1
            assert record["lr"] == pytest.approx(lr)
    assert decayed >= 2  # random labels: the validation loss stalls after a few epochs
    plain = fit_ranker(model, train, valid, replace(config, lr_decay=1.0))
    assert all("lr" not in record for record in plain.history)


def test_auc_selection_and_no_validation() -> None:
    torch.manual_seed(0)
    model = DNN(DNNConfig(embedding_dim=8, hidden=(16,)), SCHEMA)
    result = fit_ranker(model, rows(400), rows(200, seed=5), replace(QUIET, patience=0))
    aucs = [record["valid"]["auc"] for record in result.history]
    assert result.best_epoch == int(np.argmax(aucs)) + 1 and len(result.history) == 3
    assert result.best_valid["auc"] > 0.9
    result = fit_ranker(model, rows(64), None, QUIET)
    assert result.best_epoch == 3 and result.best_valid == {}


def test_predict_and_evaluate() -> None:
    torch.manual_seed(0)
    model = DNN(DNNConfig(embedding_dim=4, hidden=(8,), dropout=0.5), SCHEMA)
    batch = rows(50)
    model.train()
    logits = predict_logits(model, batch, batch_size=7)
    assert model.training  # mode restored
    with torch.no_grad():
        np.testing.assert_allclose(logits, model.eval()(batch).numpy(), rtol=1e-6)
    scores = evaluate_ranker(model, batch, batch_size=7)
    labels, groups = batch.label.numpy(), batch.group.numpy()
    assert scores["auc"] == pytest.approx(metrics.auc(labels, logits))
    assert scores["gauc"] == pytest.approx(metrics.gauc(labels, logits, groups))
    assert predict_logits(model, batch.rows(torch.arange(0)), 7).shape == (0,)


def test_errors_name_the_setting() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        RankerTrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="valid_metric"):
        RankerTrainConfig(valid_metric="ndcg")  # type: ignore[arg-type]
    for decay in (0.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="lr_decay"):
            RankerTrainConfig(lr_decay=decay)

    class Bare(Probe):
        def __init__(self, config: ProbeConfig, schema: FeatureSchema) -> None:
            super().__init__(config, schema)
            self.tables = self.embedding
            del self.embedding

        def forward(self, batch: FeatureBatch) -> Tensor:
            return self.bias + torch.zeros(len(batch))

    with pytest.raises(ConfigError, match="embedding_l2"):
        fit_ranker(Bare(ProbeConfig(), SCHEMA), rows(8), None, replace(QUIET, embedding_l2=1.0))
    one_row_per_user = replace(rows(20), group=torch.arange(20))
    assert np.isnan(evaluate_ranker(Probe(ProbeConfig(), SCHEMA), one_row_per_user)["gauc"])
    with pytest.raises(ConfigError, match="'gauc' is undefined"):
        fit_ranker(
            Probe(ProbeConfig(), SCHEMA),
            rows(8),
            one_row_per_user,
            replace(QUIET, valid_metric="gauc"),
        )
