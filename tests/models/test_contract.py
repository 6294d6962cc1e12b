"""One contract for every registered model: shapes, finite gradients, learns a planted signal,
checkpoint round-trip gives identical scores, deterministic under a seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from recforge.core.batches import UserItemBatch
from recforge.core.graph import KnowledgeGraph
from recforge.core.sequences import Sequences
from recforge.models import MODELS, NeuralRecommender
from recforge.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from recforge.models.sequential import SequentialRecommender
from recforge.training.loop import TrainConfig, fit

# small but not toy settings per model: each must learn the two taste groups of `planted`
TRAINING = {
    "bprmf": TrainConfig(
        loss="bpr", epochs=40, batch_size=64, lr=0.02, n_negatives=1, progress=False
    ),
    "gmf": TrainConfig(epochs=40, batch_size=64, lr=0.02, progress=False),
    "mlp": TrainConfig(epochs=40, batch_size=64, lr=0.01, progress=False),
    "neumf": TrainConfig(epochs=40, batch_size=64, lr=0.01, progress=False),
    "textcnn": TrainConfig(
        loss="bpr", epochs=40, batch_size=64, lr=0.02, n_negatives=1, progress=False
    ),
    "gru4rec": TrainConfig(loss="ce", epochs=30, batch_size=16, lr=0.01, progress=False),
    "sasrec": TrainConfig(loss="ce", epochs=30, batch_size=16, lr=0.01, progress=False),
    "twotower": TrainConfig(loss="in_batch", epochs=30, batch_size=16, lr=0.01, progress=False),
    "kgcn": TrainConfig(epochs=15, batch_size=128, lr=0.05, n_negatives=1, progress=False),
    "kgin": TrainConfig(
        loss="bpr", epochs=20, batch_size=64, lr=0.02, n_negatives=1, progress=False
    ),
    "lightgcn": TrainConfig(
        loss="bpr", epochs=20, batch_size=64, lr=0.02, n_negatives=1, progress=False
    ),
    "kglightgcn": TrainConfig(
        loss="bpr", epochs=20, batch_size=64, lr=0.02, n_negatives=1, progress=False
    ),
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
    "content": {"dim": 8},
    "textcnn": {"factors": 8, "max_tokens": 6, "word_dim": 8, "widths": (2, 3), "filters": 8},
    "gru4rec": {"factors": 16, "hidden_size": 16, "max_len": 8, "dropout": 0.1},
    "sasrec": {"factors": 16, "max_len": 8, "dropout": 0.1},
    "twotower": {"factors": 16, "max_len": 8, "layers": (32, 16), "temperature": 0.1},
    "kgcn": {"dim": 8, "n_neighbours": 4},
    "kgin": {"dim": 8, "layers": 2, "n_intents": 2},
    "lightgcn": {"factors": 8, "layers": 2},
    "kglightgcn": {"factors": 8, "layers": 2},
}


def planted_texts(n_items: int) -> list[str]:
    """Item texts in the taste groups of `planted`: the first half of the items draws its
    words from one list, the second half from another, plus a shared filler word."""
    rng = np.random.default_rng(0)
    words = (["wool", "knit", "scarf", "winter", "mitten"], ["steel", "tent", "stove", "trail"])
    return [
        " ".join([*rng.choice(words[item >= n_items // 2], 3), rng.choice(["new", "classic"])])
        for item in range(n_items)
    ]


def planted_graph(n_items: int) -> KnowledgeGraph:
    """A knowledge graph in the taste groups of `planted`: the first half of the items
    links to one group entity, the second half to another, through one relation."""
    items = np.arange(n_items)
    return KnowledgeGraph(
        head=items,
        relation=np.zeros(n_items, np.int64),
        tail=np.where(items < n_items // 2, n_items, n_items + 1),
        n_entities=n_items + 2,
        n_relations=1,
        item_entity=items,
    )


def build(name: str, n_users: int, n_items: int):
    cls = MODELS[name]
    config = cls.config_class(**PARAMS.get(name, {}))
    if name == "textcnn":  # the item tower reads the items' texts
        return cls.from_texts(config, n_users, planted_texts(n_items))
    if name in ("kgcn", "kgin", "kglightgcn"):  # the knowledge graph is part of the model
        return cls.for_graph(config, n_users, planted_graph(n_items))
    return cls(config, n_users=n_users, n_items=n_items)


def shuffled_histories(train) -> Sequences:
    """Each user's items in a fixed random order: histories whose order carries nothing
    but the taste group, so sequence models must learn the groups."""
    rng = np.random.default_rng(0)
    return Sequences.from_lists([rng.permutation(row.indices).tolist() for row in train])


def trained(name: str, train, seed: int = 0):
    torch.manual_seed(seed)
    model = build(name, *train.shape)
    if isinstance(model, SequentialRecommender):
        fit(model, train, TRAINING[name], sequences=shuffled_histories(train))
    elif isinstance(model, NeuralRecommender):
        fit(model, train, TRAINING[name])
    elif getattr(model, "uses_item_text", False):  # the content model reads item texts
        model.fit(train, items=pd.DataFrame({"title": planted_texts(train.shape[1])}))
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
