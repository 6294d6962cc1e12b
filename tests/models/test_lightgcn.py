"""LightGCN: the propagation against dense matrix algebra, the graph hook and the cache."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recforge.core.batches import UserItemBatch
from recforge.models.lightgcn import LightGCN, LightGCNConfig, normalized_adjacency
from recforge.training.loop import TrainConfig, fit

TRAIN = sp.csr_matrix(
    np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1]], dtype=np.float32)  # 3 users, 4 items
)


def dense_adjacency(train: np.ndarray) -> np.ndarray:
    n_users, n_items = train.shape
    adjacency = np.zeros((n_users + n_items,) * 2)
    adjacency[:n_users, n_users:] = train
    adjacency[n_users:, :n_users] = train.T
    degree = adjacency.sum(1)
    scale = np.where(degree > 0, degree, 1.0) ** -0.5 * (degree > 0)
    return scale[:, None] * adjacency * scale[None, :]


def test_normalized_adjacency_matches_dense_formula():
    coo = TRAIN.tocoo()
    sparse = normalized_adjacency(coo.row, coo.col, 3, 4).toarray()
    np.testing.assert_allclose(sparse, dense_adjacency(TRAIN.toarray()), rtol=1e-6)
    lonely = normalized_adjacency(np.array([0]), np.array([0]), 2, 2).toarray()
    assert not lonely[1].any() and not lonely[3].any()  # no edges: empty rows, no NaN


def test_propagation_is_the_layer_mean_of_powers_and_gradients_agree():
    torch.manual_seed(0)
    model = LightGCN(LightGCNConfig(factors=5, layers=3), n_users=3, n_items=4)
    model.set_graph(TRAIN)
    users, items = model.propagate()
    ego = torch.cat([model.user_embedding.weight, model.item_embedding.weight]).detach()
    ego.requires_grad_(True)
    hat = torch.from_numpy(dense_adjacency(TRAIN.toarray())).float()
    layers = [ego]
    for _ in range(3):
        layers.append(hat @ layers[-1])
    expected = torch.stack(layers).mean(0)  # Eq. 4 with α_k = 1/4
    torch.testing.assert_close(torch.cat([users, items]), expected, rtol=1e-5, atol=1e-6)
    # the hand-written backward (A symmetric) gives autograd's gradient
    weights = torch.randn(7, 5)
    (torch.cat([users, items]) * weights).sum().backward()
    (expected * weights).sum().backward()
    assert ego.grad is not None
    model_grad = torch.cat([model.user_embedding.weight.grad, model.item_embedding.weight.grad])
    torch.testing.assert_close(model_grad, ego.grad, rtol=1e-5, atol=1e-6)


def test_fit_hands_the_training_graph_and_scores_agree(planted):
    model = LightGCN(LightGCNConfig(factors=8, layers=2), *planted.shape)
    fit(model, planted, TrainConfig(loss="bpr", epochs=2, n_negatives=1, progress=False))
    assert len(model.edge_user) == planted.nnz
    coo = planted.tocoo()
    assert set(zip(model.edge_user.tolist(), model.edge_item.tolist(), strict=True)) == set(
        zip(coo.row.tolist(), coo.col.tolist(), strict=True)
    )
    users = torch.tensor([0, 31, 59])
    all_scores = model.score_all(users)
    pairs = model(UserItemBatch(users, torch.tensor([3, 25, 39])))
    torch.testing.assert_close(pairs, all_scores[[0, 1, 2], [3, 25, 39]])


def test_eval_cache_is_dropped_when_training_resumes():
    model = LightGCN(LightGCNConfig(factors=4, layers=1), n_users=3, n_items=4)
    model.set_graph(TRAIN)
    model.eval()
    before = model.score_all(torch.arange(3))
    assert model.propagate()[0] is model.propagate()[0]  # cached in eval mode
    model.train()
    with torch.no_grad():
        model.item_embedding.weight.add_(1.0)
    assert model.propagate()[0] is not model.propagate()[0]  # recomputed in training
    model.eval()
    assert not torch.equal(model.score_all(torch.arange(3)), before)


def test_state_restores_the_graph_and_bad_input():
    torch.manual_seed(0)
    model = LightGCN(LightGCNConfig(factors=4, layers=2), n_users=3, n_items=4)
    model.set_graph(TRAIN)
    fresh = LightGCN(LightGCNConfig(factors=4, layers=2), n_users=3, n_items=4)  # no graph
    fresh.load_state_dict(model.state_dict())
    torch.testing.assert_close(
        fresh.eval().score_all(torch.arange(3)), model.eval().score_all(torch.arange(3)),
        rtol=0, atol=0,
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"expected \(n_users, n_items\) = \(3, 4\)"):
        model.set_graph(sp.csr_matrix((4, 3)))
    with pytest.raises(ValueError, match="layers"):
        LightGCNConfig(layers=-1)
    # duplicate and explicit-zero entries: each interacted pair is one edge
    messy = sp.coo_matrix(([1.0, 1.0, 0.0], ([0, 0, 1], [1, 1, 2])), shape=(3, 4))
    model.set_graph(messy)
    assert model.edge_user.tolist() == [0] and model.edge_item.tolist() == [1]
    # zero layers: plain matrix factorisation
    plain = LightGCN(LightGCNConfig(factors=4, layers=0), n_users=3, n_items=4)
    torch.testing.assert_close(
        plain.score_all(torch.arange(3)),
        plain.user_embedding.weight @ plain.item_embedding.weight.T,
    )
