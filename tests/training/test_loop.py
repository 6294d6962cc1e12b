import json

import pytest
import torch

from recforge.core.batches import SequenceBatch, UserItemBatch
from recforge.core.errors import ConfigError
from recforge.core.sequences import Sequences
from recforge.models.gmf import GMF, GMFConfig
from recforge.models.gru4rec import GRU4Rec, GRU4RecConfig
from recforge.models.mlp import MLP, MLPConfig
from recforge.models.neumf import NeuMF
from recforge.training.loop import TrainConfig, _sequence_loss, fit


def test_log_records_every_epoch_and_early_stopping_restores_best(planted, tmp_path):
    model = GMF(GMFConfig(factors=4), *planted.shape)
    scores = iter([0.5, 0.7, 0.6, 0.65, 0.1, 0.9])
    snapshots = []

    def validate(current):
        snapshots.append({k: v.clone() for k, v in current.state_dict().items()})
        return {"ndcg@10": next(scores)}

    config = TrainConfig(epochs=6, batch_size=128, patience=2, progress=False)
    result = fit(model, planted, config, validate=validate, log_path=tmp_path / "log.jsonl")
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    # 0.5, 0.7 (best), 0.6, 0.65 -> two stale validations -> stop after epoch 4
    assert [r["epoch"] for r in records] == [1, 2, 3, 4]
    assert all(r["loss"] > 0 and "valid" in r for r in records)
    assert result.best_epoch == 2 and result.best_valid == {"ndcg@10": 0.7}
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, snapshots[1][key])


def test_loss_decreases(planted):
    model = GMF(GMFConfig(factors=8), *planted.shape)
    result = fit(model, planted, TrainConfig(epochs=8, batch_size=64, lr=0.02, progress=False))
    losses = [r["loss"] for r in result.history]
    assert losses[-1] < 0.7 * losses[0]


def test_unknown_valid_metric_is_an_error(planted):
    model = GMF(GMFConfig(factors=4), *planted.shape)
    config = TrainConfig(epochs=1, valid_metric="hr@5", progress=False)
    with pytest.raises(ConfigError, match="hr@5"):
        fit(model, planted, config, validate=lambda m: {"hr@10": 0.1})


def test_neumf_from_pretrained_combines_both_logits(planted):
    torch.manual_seed(0)
    gmf = GMF(GMFConfig(factors=4), *planted.shape)
    mlp = MLP(MLPConfig(layers=(8, 4)), *planted.shape)
    fit(gmf, planted, TrainConfig(epochs=2, progress=False))
    fit(mlp, planted, TrainConfig(epochs=2, progress=False))
    neumf = NeuMF.from_pretrained(gmf, mlp, alpha=0.3)
    batch = UserItemBatch(torch.tensor([0, 7, 40]), torch.tensor([1, 30, 2]))
    expected = 0.3 * gmf(batch) + 0.7 * mlp(batch)
    torch.testing.assert_close(neumf(batch), expected)


@pytest.mark.parametrize("weighting", ["targets", "equal"])
def test_every_sequence_target_weighs_the_same_whatever_its_batch(weighting):
    """Batches hold windows of similar length. With ``"targets"`` one epoch of plain SGD
    (tiny steps) moves the weights along the gradient of the mean loss over all targets;
    ``"equal"`` (the old weighting) lets the 2 one-target windows count as much as the
    2 seven-target ones."""
    short, long_ = [0, 1], [2, 3, 4, 5, 6, 7, 8, 0]
    seqs = Sequences.from_lists([short, [1, 2], long_, long_[::-1]])  # 2 + 14 targets
    model = GRU4Rec(GRU4RecConfig(factors=4, max_len=8, dropout=0.0, hidden_size=4), 4, 9)
    model.double()  # the weights move by lr x gradient: float32 would drown it
    start = [p.detach().clone() for p in model.parameters()]
    config = TrainConfig(
        loss="ce",
        epochs=1,
        batch_size=2,
        lr=1e-4,
        optimizer="sgd",
        progress=False,
        batch_weighting=weighting,
    )
    fit(model, seqs.to_csr(9), config, sequences=seqs)
    step = [(p.detach() - s) / -config.lr for p, s in zip(model.parameters(), start, strict=True)]

    model.zero_grad()
    for p, s in zip(model.parameters(), start, strict=True):
        p.data.copy_(s)
    windows = [torch.from_numpy(w) for w in seqs.windows(8)]
    loss, n_targets = _sequence_loss(model, SequenceBatch(*windows), config, None)
    # 2 batches of 8 targets on average: each step's loss is (its targets / 8) x its mean
    (loss * n_targets / 8).backward()
    expected = [p.grad for p in model.parameters()]
    close = all(
        torch.allclose(a, b, rtol=1e-2, atol=1e-6) for a, b in zip(step, expected, strict=True)
    )
    assert close == (weighting == "targets")


@pytest.mark.parametrize("kind", ["pairs", "sequences"])
def test_both_loops_add_the_models_own_loss_term(planted, kind):
    """A model's ``auxiliary_loss`` joins every step of either loop: here a term that
    pulls one parameter toward 3, which no data loss touches."""

    def with_pull(model):
        model.pull = torch.nn.Parameter(torch.zeros(()))
        model.auxiliary_loss = lambda: (model.pull - 3.0) ** 2
        return model

    torch.manual_seed(0)
    if kind == "pairs":
        model = with_pull(GMF(GMFConfig(factors=4), *planted.shape))
        config = TrainConfig(loss="bpr", epochs=2, batch_size=64, lr=0.05, progress=False)
        fit(model, planted, config)
    else:
        config_model = GRU4RecConfig(factors=4, max_len=8, dropout=0.0, hidden_size=4)
        model = with_pull(GRU4Rec(config_model, *planted.shape))
        config = TrainConfig(loss="ce", epochs=2, batch_size=16, lr=0.05, progress=False)
        fit(model, planted, config)
    assert float(model.pull.detach()) > 0.1  # stays 0 if the loop ignores the term
