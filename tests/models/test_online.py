"""The serving view of every model: the retrieval vectors reproduce the model's own scores,
live histories are folded in where a model reads them, and re-ranking is exact."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from test_contract import trained

from recforge.models import MODELS
from recforge.models.online import online_model

NO_HISTORY = np.empty(0, np.int64)


@pytest.fixture(params=sorted(MODELS))
def name(request):
    return request.param


def test_every_model_has_a_serving_view(name, planted):
    """Each model ranks a known user's items the way its ``score_all`` does, through
    whichever path serving uses (ANN vectors, catalogue scores or re-ranking)."""
    model = trained(name, planted)
    online = online_model(model)
    user = 3
    history = planted[user].indices.astype(np.int64)
    expected = model.score_all(torch.tensor([user]))[0].detach().float().numpy()
    query = online.query(user, NO_HISTORY)
    if query is not None:
        scores = online.item_vectors @ query
        if online.reranks:  # retrieval uses a cheaper half, the exact order comes from rerank
            scores = online.rerank(user, np.arange(online.n_items))
        np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-4)
    else:
        scores = online.scores(user, history)
        assert scores is not None, f"{name}: no serving path for a known user"
        np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-4)


def test_history_models_follow_the_live_history(planted):
    """EASE, ItemKNN and iALS answer for a history the model never saw, and the answer
    moves towards the group of the touched items."""
    n_items = planted.shape[1]
    group_size = n_items // 2
    for name in ("ease", "itemknn", "ials", "item2vec"):
        online = online_model(trained(name, planted))
        assert online.uses_history
        for touched_group in (0, 1):
            history = np.arange(touched_group * group_size, touched_group * group_size + 2)
            query = online.query(None, history)
            scores = online.item_vectors @ query if query is not None else None
            if scores is None:
                scores = online.scores(None, history)
            assert scores is not None
            scores = scores.copy()
            scores[history] = -np.inf
            best = int(np.argmax(scores))
            assert best // group_size == touched_group, name


def test_ials_fold_in_reproduces_trained_user_factors(planted):
    """Folding a training user's own history in gives (nearly) the trained factors: the
    exact solve versus the CG steps of training."""
    model = trained("ials", planted)
    folded = model.fold_in(planted[:5])
    trained_scores = model.score_all(torch.arange(5))
    folded_scores = folded @ model.item_factors_.T
    assert (
        torch.corrcoef(torch.stack([trained_scores.flatten(), folded_scores.flatten()]))[0, 1]
        > 0.99
    )


def test_ease_and_itemknn_score_history_equal_score_all(planted):
    for name in ("ease", "itemknn"):
        model = trained(name, planted)
        np.testing.assert_allclose(
            model.score_history(planted[:4]).numpy(),
            model.score_all(torch.arange(4)).numpy(),
            rtol=1e-5,
            atol=1e-6,
        )


def test_vector_models_without_fold_in_cannot_place_unknown_users(planted):
    online = online_model(trained("bprmf", planted))
    assert online.query(None, np.array([1, 2])) is None
    assert online.scores(None, np.array([1, 2])) is None


def test_similarity_vectors_are_normalised_and_find_the_same_group(planted):
    group_size = planted.shape[1] // 2
    # the graph models (LightGCN, KG-LightGCN, KGIN) give their propagated item vectors
    for name in ("bprmf", "ials", "lightgcn", "kglightgcn", "kgin"):
        online = online_model(trained(name, planted))
        vectors = online.similarity_vectors
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
        similarity = vectors @ vectors[0]
        similarity[0] = -np.inf
        assert int(np.argmax(similarity)) // group_size == 0, name
    ease = online_model(trained("ease", planted))
    scores = ease.similar_scores(0)
    scores[0] = -np.inf
    assert int(np.argmax(scores)) // group_size == 0


def test_history_matrix_ignores_repeats():
    online = online_model(trained("ease", sp.csr_matrix(np.kron(np.eye(2), np.ones((4, 4))))))
    once = online.scores(None, np.array([0]))
    twice = online.scores(None, np.array([0, 0, 0]))
    np.testing.assert_allclose(once, twice)
