"""One contract for every registered model: shapes, finite gradients, learns a planted signal,
checkpoint round-trip gives identical scores, deterministic under a seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recforge.core.batches import UserItemBatch
from recforge.models import MODELS, NeuralRecommender
from recforge.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from recforge.training.loop import TrainConfig, fit

# small but not toy settings per model: each must learn the two taste groups of `planted`
TRAINING = {
    "bprmf": TrainConfig(
        loss="bpr", epochs=40, batch_size=64, lr=0.02, n_negatives=1, progress=False
    ),
    "gmf": TrainConfig(epochs=40, batch_size=64, lr=0.02, progress=False),
    "mlp": TrainConfig(epochs=40, batch_size=64, lr=0.01, progress=False),
    "neumf": TrainConfig(epochs=40, batch_size=64, lr=0.01, progress=False),
}
PARAMS = {
    "bprmf": {"factors": 8},
    "gmf": {"factors": 8},
    "mlp": {"layers": (16, 8)},
    "neumf": {"factors": 8, "layers": (16, 8)},
    "itemknn": {"k_neighbours": 10},
    "ease": {"l2": 10.0},
    "ials": {"factors": 8, "iterations": 10},
    "item2vec": {"factors": 8, "epochs": 30},
}


def build(name: str, n_users: int, n_items: int):
    cls = MODELS[name]
    return cls(cls.config_class(**PARAMS.get(name, {})), n_users=n_users, n_items=n_items)


def trained(name: str, train, seed: int = 0):
    torch.manual_seed(seed)
    model = build(name, *train.shape)
    if isinstance(model, NeuralRecommender):
        fit(model, train, TRAINING[name])
    else:
        model.fit(train)
    return model


@pytest.fixture(params=sorted(MODELS))
def name(request):
    return request.param


def test_every_neural_model_has_training_settings():
    neural = {n for n, cls in MODELS.items() if issubclass(cls, NeuralRecommender)}
    assert neural <= set(TRAINING)


def test_shapes_and_finite_scores(name, planted):
    model = trained(name, planted)
    users = torch.tensor([0, 5, 59])
    all_scores = model.score_all(users)
    assert all_scores.shape == (3, 40) and torch.isfinite(all_scores).all()
    pairs = model.score(users, torch.tensor([1, 2, 39]))
    assert pairs.shape == (3,)
    torch.testing.assert_close(pairs, all_scores[[0, 1, 2], [1, 2, 39]], rtol=1e-4, atol=1e-5)


def test_neural_backward_is_finite(name):
    model = build(name, 6, 5)
    if not isinstance(model, NeuralRecommender):
        pytest.skip("not a neural model")
    logits = model(UserItemBatch(torch.tensor([0, 1, 5]), torch.tensor([4, 0, 2])))
    assert logits.shape == (3,)
    logits.sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)


def test_learns_planted_groups(name, planted):
    if name == "popularity":
        pytest.skip("popularity is not personalised by design")
    model = trained(name, planted)
    scores = model.score_all(torch.arange(60)).detach().numpy()
    seen = planted.toarray().astype(bool)
    own = np.zeros((60, 40), bool)
    own[:30, :20] = True
    own[30:, 20:] = True
    # unseen items of the user's own group must outrank the other group's items
    wins = []
    for user in range(60):
        mine = scores[user, own[user] & ~seen[user]]
        other = scores[user, ~own[user]]
        wins.append((mine[:, None] > other[None, :]).mean())
    assert np.mean(wins) > 0.8, f"{name} pairwise accuracy {np.mean(wins):.3f}"


def test_checkpoint_round_trip(name, planted, tmp_path):
    model = trained(name, planted)
    save_checkpoint(model, tmp_path / "model.pt", MODELS)
    loaded = load_checkpoint(tmp_path / "model.pt", MODELS)
    assert type(loaded) is type(model) and loaded.config == model.config
    users = torch.arange(60)
    torch.testing.assert_close(loaded.score_all(users), model.score_all(users), rtol=0, atol=0)


def test_deterministic_under_seed(name, planted):
    first = trained(name, planted, seed=3).score_all(torch.arange(60))
    second = trained(name, planted, seed=3).score_all(torch.arange(60))
    torch.testing.assert_close(first, second, rtol=0, atol=0)


def test_checkpoint_refuses_unknown_version(planted, tmp_path):
    model = build("gmf", *planted.shape)
    save_checkpoint(model, tmp_path / "model.pt", MODELS)
    payload = torch.load(tmp_path / "model.pt", weights_only=True)
    payload["format_version"] = 99
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="format_version 99"):
        load_checkpoint(tmp_path / "future.pt", MODELS)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"junk\.pt"):
        load_checkpoint(tmp_path / "junk.pt", MODELS)
