"""Tests of the non-neural recommenders: Popularity, ItemKNN, EASE and IALS."""

from __future__ import annotations

import io
import itertools
import math
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from recforge.core.paths import data_root
from recforge.models.base import FittedRecommender, recommend
from recforge.models.ease import EASE, EASEConfig
from recforge.models.ials import IALS, IALSConfig, _cg_solve, _sides, ials_loss
from recforge.models.itemknn import ItemKNN, ItemKNNConfig
from recforge.models.popularity import Popularity, PopularityConfig

MODELS: list[tuple[type[FittedRecommender], Any]] = [
    (Popularity, PopularityConfig()),
    (ItemKNN, ItemKNNConfig(k_neighbours=3, shrink=0.5)),
    (EASE, EASEConfig(l2=2.0)),
    (IALS, IALSConfig(factors=4, iterations=4, regularization=0.1, seed=3)),
]
MODEL_IDS = [cls.__name__ for cls, _ in MODELS]


def random_interactions(n_users: int, n_items: int, density: float, seed: int) -> sp.csr_matrix:
    """A random users x items matrix with weights 1-5 and every user having >= 1 item."""
    rng = np.random.default_rng(seed)
    dense = (rng.random((n_users, n_items)) < density) * rng.integers(1, 6, (n_users, n_items))
    dense[np.arange(n_users), rng.integers(0, n_items, n_users)] = 1
    return sp.csr_matrix(dense.astype(np.float32))


# --- configs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config_class", "field", "value"),
    [
        (ItemKNNConfig, "k_neighbours", 0),
        (ItemKNNConfig, "shrink", -1.0),
        (EASEConfig, "l2", 0.0),
        (IALSConfig, "factors", 0),
        (IALSConfig, "alpha", -1.0),
        (IALSConfig, "regularization", math.nan),
        (IALSConfig, "cg_steps", 0),
        (IALSConfig, "iterations", -1),
        (IALSConfig, "seed", 1.5),
    ],
)
def test_config_rejects_bad_value_naming_the_field(
    config_class: type, field: str, value: object
) -> None:
    with pytest.raises(ValueError, match=field):
        config_class(**{field: value})


# --- contract: every fitted model ---------------------------------------------------------


@pytest.mark.parametrize(("model_class", "config"), MODELS, ids=MODEL_IDS)
def test_unfitted_model_raises_clear_error(
    model_class: type[FittedRecommender], config: Any
) -> None:
    model = model_class(config, n_users=3, n_items=4)
    with pytest.raises(RuntimeError, match="not fitted; call fit"):
        model.score_all(torch.tensor([0]))


@pytest.mark.parametrize(("model_class", "config"), MODELS, ids=MODEL_IDS)
def test_score_all_shape_dtype_and_bad_input(
    model_class: type[FittedRecommender], config: Any
) -> None:
    train = random_interactions(12, 7, 0.3, seed=0)
    model = model_class(config, n_users=12, n_items=7)
    assert model.fit(train) is model
    scores = model.score_all(torch.tensor([0, 5, 5, 11]))
    assert scores.shape == (4, 7) and scores.dtype == torch.float32
    assert torch.isfinite(scores).all()
    torch.testing.assert_close(scores[1], scores[2])  # the same user twice
    assert model.score_all(torch.tensor([], dtype=torch.int64)).shape == (0, 7)
    with pytest.raises(IndexError, match="user_idx 12 is out of range"):
        model.score_all(torch.tensor([0, 12]))
    with pytest.raises(ValueError, match=r"expected \(n_users, n_items\) = \(12, 7\)"):
        model_class(config, n_users=12, n_items=7).fit(train[:, :6])
    negative = train.copy()
    negative.data[0] = -1.0
    with pytest.raises(ValueError, match="negative"):
        model_class(config, n_users=12, n_items=7).fit(negative)


@pytest.mark.parametrize(("model_class", "config"), MODELS, ids=MODEL_IDS)
def test_checkpoint_round_trip_gives_identical_scores(
    model_class: type[FittedRecommender], config: Any
) -> None:
    train = random_interactions(15, 9, 0.3, seed=1)
    model = model_class(config, n_users=15, n_items=9).fit(train)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert set(state) == set(model_class.state_names)
    assert all(name.endswith("_") for name in state)
    restored = model_class(config, n_users=15, n_items=9)
    restored.load_state_dict(state)
    users = torch.arange(15)
    assert torch.equal(restored.score_all(users), model.score_all(users))


@pytest.mark.parametrize(("model_class", "config"), MODELS, ids=MODEL_IDS)
def test_score_matches_score_all(model_class: type[FittedRecommender], config: Any) -> None:
    train = random_interactions(10, 6, 0.4, seed=2)
    model = model_class(config, n_users=10, n_items=6).fit(train)
    user_idx = torch.tensor([0, 3, 3, 9])
    item_idx = torch.tensor([5, 0, 2, 4])
    expected = model.score_all(user_idx)[torch.arange(4), item_idx]
    torch.testing.assert_close(model.score(user_idx, item_idx), expected)


@pytest.mark.parametrize(("model_class", "config"), MODELS, ids=MODEL_IDS)
def test_fitting_twice_gives_identical_scores(
    model_class: type[FittedRecommender], config: Any
) -> None:
    train = random_interactions(20, 8, 0.3, seed=3)
    users = torch.arange(20)
    first = model_class(config, n_users=20, n_items=8).fit(train).score_all(users)
    second = model_class(config, n_users=20, n_items=8).fit(train).score_all(users)
    assert torch.equal(first, second)


# --- Popularity -----------------------------------------------------------------------------


def test_popularity_counts_distinct_users_and_ranks_by_count() -> None:
    # item 2: 3 users; item 0: 2 users (one with weight 5 and a duplicate entry); item 1: none
    rows = np.array([0, 0, 1, 2, 2, 3])
    cols = np.array([0, 0, 2, 0, 2, 2])
    weights = np.array([5.0, 1.0, 1.0, 1.0, 2.0, 1.0])
    train = sp.csr_matrix((weights, (rows, cols)), shape=(4, 3))
    model = Popularity(PopularityConfig(), n_users=4, n_items=3).fit(train)
    assert model.item_counts_.tolist() == [2.0, 0.0, 3.0]
    items, _ = recommend(model, np.array([1, 3]), k=3)
    assert items.tolist() == [[2, 0, 1], [2, 0, 1]]


# --- ItemKNN --------------------------------------------------------------------------------

# users x items; columns: i0={u0,u1,u3}, i1={u0,u2,u3}, i2={u1,u2}, i3={u2,u3}, i4={u0}
KNN_TRAIN = np.array(
    [
        [1, 1, 0, 0, 1],
        [1, 0, 1, 0, 0],
        [0, 1, 1, 1, 0],
        [1, 1, 0, 1, 0],
    ],
    dtype=np.float32,
)
# cosine = shared users / sqrt(|users of i| * |users of j|), computed by hand
R6, R3 = math.sqrt(6), math.sqrt(3)
KNN_COSINE = {
    (0, 1): 2 / 3,
    (0, 2): 1 / R6,
    (0, 3): 1 / R6,
    (0, 4): 1 / R3,
    (1, 2): 1 / R6,
    (1, 3): 2 / R6,
    (1, 4): 1 / R3,
    (2, 3): 1 / 2,
    (2, 4): 0.0,
    (3, 4): 0.0,
}


def dense_similarity(model: ItemKNN) -> np.ndarray:
    return model.similarity_matrix().to_dense().numpy()


def test_itemknn_cosine_matches_hand_computed_values() -> None:
    # weights 3 must be binarised: the same similarities as the 0/1 matrix
    train = sp.csr_matrix(KNN_TRAIN * 3)
    model = ItemKNN(ItemKNNConfig(k_neighbours=4), n_users=4, n_items=5).fit(train)
    similarity = dense_similarity(model)
    expected = np.zeros((5, 5))
    for (i, j), value in KNN_COSINE.items():
        expected[i, j] = expected[j, i] = value
    np.testing.assert_allclose(similarity, expected, atol=1e-6)
    # neighbour lists are best first
    assert (np.diff(model.neighbour_sim_.numpy(), axis=1) <= 0).all()


def test_itemknn_shrink_divides_by_norm_product_plus_shrink() -> None:
    model = ItemKNN(ItemKNNConfig(k_neighbours=4, shrink=2.0), n_users=4, n_items=5)
    similarity = dense_similarity(model.fit(sp.csr_matrix(KNN_TRAIN)))
    assert similarity[0, 1] == pytest.approx(2 / (3 + 2))  # overlap 2, norms sqrt(3)*sqrt(3)
    assert similarity[2, 3] == pytest.approx(1 / (2 + 2))  # overlap 1, norms sqrt(2)*sqrt(2)


def test_itemknn_top_k_keeps_the_largest_and_scores_are_row_times_s() -> None:
    model = ItemKNN(ItemKNNConfig(k_neighbours=2), n_users=4, n_items=5)
    model.fit(sp.csr_matrix(KNN_TRAIN))
    # item 0: 1 (0.667) and 4 (0.577) beat 2 and 3 (0.408); item 1: 3 (0.816) then 0 (0.667)
    assert model.neighbour_idx_[0].tolist() == [1, 4]
    assert model.neighbour_idx_[1].tolist() == [3, 0]
    np.testing.assert_allclose(model.neighbour_sim_[1].numpy(), [2 / R6, 2 / 3], rtol=1e-6)
    similarity = dense_similarity(model)
    assert (np.count_nonzero(similarity, axis=1) <= 2).all()
    scores = model.score_all(torch.arange(4)).numpy()
    np.testing.assert_allclose(scores, KNN_TRAIN @ similarity, rtol=1e-6)
    # user 1 saw items 0 and 2: item 1 gets S[0,1] = 2/3, item 3 gets S[2,3] = 1/2
    assert scores[1, 1] == pytest.approx(2 / 3)
    assert scores[1, 3] == pytest.approx(1 / 2)


def test_itemknn_chunked_fit_equals_single_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    train = random_interactions(30, 11, 0.3, seed=4)
    whole = ItemKNN(ItemKNNConfig(k_neighbours=5), n_users=30, n_items=11).fit(train)
    monkeypatch.setattr(ItemKNN, "similarity_chunk", 11 * 3)  # three item rows per chunk
    chunked = ItemKNN(ItemKNNConfig(k_neighbours=5), n_users=30, n_items=11).fit(train)
    np.testing.assert_allclose(dense_similarity(chunked), dense_similarity(whole))


# --- EASE ---------------------------------------------------------------------------------


def test_ease_weights_equal_dense_closed_form_with_zero_diagonal() -> None:
    train = random_interactions(40, 12, 0.3, seed=5)
    l2 = 3.0
    model = EASE(EASEConfig(l2=l2), n_users=40, n_items=12).fit(train)
    x = (train.toarray() > 0).astype(np.float64)
    gram = x.T @ x
    precision = np.linalg.inv(gram + l2 * np.eye(12))
    expected = -precision / np.diag(precision)[None, :]
    np.fill_diagonal(expected, 0.0)
    weights = model.weights_.numpy()
    np.testing.assert_allclose(weights, expected, rtol=1e-4, atol=1e-6)
    assert (np.diag(weights) == 0).all()
    # optimality (KKT of Steck's Eq. 1): the gradient (G + λI) B − G vanishes off the diagonal
    gradient = (gram + l2 * np.eye(12)) @ weights.astype(np.float64) - gram
    np.testing.assert_allclose(gradient - np.diag(np.diag(gradient)), 0.0, atol=1e-4)
    np.testing.assert_allclose(
        model.score_all(torch.arange(40)).numpy(), x @ weights, rtol=1e-5, atol=1e-5
    )


def test_ease_with_huge_l2_ranks_like_popularity() -> None:
    # every user has 4 items, and user 0 has them all: for λ → ∞, B ≈ (XᵀX)/λ off the
    # diagonal, so user 0's score of item j is Σ_{i≠j} co-counts = Σ_u (|I_u| − 1) x_uj,
    # a constant plus 3 * popularity(j)
    rng = np.random.default_rng(6)
    n_users, n_items = 60, 10
    dense = np.zeros((n_users, n_items), np.float32)
    for user in range(1, n_users):
        dense[user, rng.choice(n_items, 4, replace=False, p=np.linspace(1, 3, n_items) / 20)] = 1
    dense[0] = 1
    train = sp.csr_matrix(dense)
    counts = dense.sum(0)
    huge = EASE(EASEConfig(l2=1e7), n_users=n_users, n_items=n_items).fit(train)
    scores = huge.score_all(torch.tensor([0]))[0].numpy()
    more_popular = counts[:, None] > counts[None, :]
    assert more_popular.any()
    assert (scores[:, None] > scores[None, :])[more_popular].all()
    # with a small λ the ranking is not simply popularity
    small = EASE(EASEConfig(l2=0.5), n_users=n_users, n_items=n_items).fit(train)
    small_scores = small.score_all(torch.tensor([0]))[0].numpy()
    assert not (small_scores[:, None] > small_scores[None, :])[more_popular].all()


# --- IALS ---------------------------------------------------------------------------------


def test_ials_loss_matches_brute_force() -> None:
    train = random_interactions(7, 5, 0.4, seed=7)
    generator = torch.Generator().manual_seed(0)
    users, items = torch.randn(7, 3, generator=generator), torch.randn(5, 3, generator=generator)
    r = train.toarray().astype(np.float64)
    preference = (r > 0).astype(np.float64)
    confidence = 1 + 4.0 * r
    predicted = users.double().numpy() @ items.double().numpy().T
    expected = (confidence * (preference - predicted) ** 2).sum() + 0.3 * (
        (users.double() ** 2).sum().item() + (items.double() ** 2).sum().item()
    )
    assert ials_loss(train, users, items, alpha=4.0, regularization=0.3) == pytest.approx(expected)


def test_ials_cg_with_enough_steps_equals_exact_user_solve() -> None:
    # Hu et al. Eq. 4 solved densely for every user vs. the vectorised CG with D steps
    train = random_interactions(9, 6, 0.4, seed=8)
    alpha, regularization, factors = 3.0, 0.5, 3
    user_side, _ = _sides(train, alpha)
    generator = torch.Generator().manual_seed(1)
    items = torch.randn(6, factors, generator=generator, dtype=torch.float32)
    start = torch.randn(9, factors, generator=generator, dtype=torch.float32)
    solved = _cg_solve(user_side, start, items, regularization, steps=factors).numpy()
    r = train.toarray().astype(np.float64)
    y = items.double().numpy()
    for user in range(9):
        confidence = 1 + alpha * r[user]
        a = y.T @ (confidence[:, None] * y) + regularization * np.eye(factors)
        b = y.T @ (confidence * (r[user] > 0))
        np.testing.assert_allclose(solved[user], np.linalg.solve(a, b), rtol=1e-3, atol=1e-4)


def test_ials_loss_decreases_over_iterations() -> None:
    train = random_interactions(40, 25, 0.2, seed=9)
    losses = []
    for iterations in range(1, 9):
        config = IALSConfig(factors=8, iterations=iterations, alpha=5.0, regularization=0.1)
        losses.append(IALS(config, n_users=40, n_items=25).fit(train).loss(train))
    assert all(later <= earlier * (1 + 1e-5) for earlier, later in itertools.pairwise(losses))
    assert losses[-1] < 0.8 * losses[0]


def test_ials_recovers_planted_two_group_structure() -> None:
    # users 0-19 like items 0-9, users 20-39 like items 10-19; each user's item
    # (user % 10) of its own group is held out of training
    rng = np.random.default_rng(10)
    n_users, n_items = 40, 20
    group = np.arange(n_users) // 20  # (U,)
    dense = np.zeros((n_users, n_items), np.float32)
    held_out = group * 10 + np.arange(n_users) % 10  # (U,)
    for user in range(n_users):
        liked = np.setdiff1d(np.arange(10) + 10 * group[user], held_out[user])
        dense[user, rng.choice(liked, 7, replace=False)] = 1
    dense[np.arange(n_users), held_out] = 0
    config = IALSConfig(factors=2, iterations=10, regularization=1.0, seed=0)  # planted rank 2
    model = IALS(config, n_users=n_users, n_items=n_items).fit(sp.csr_matrix(dense))
    scores = model.score_all(torch.arange(n_users)).numpy()  # (U, I)
    held_out_score = scores[np.arange(n_users), held_out]
    other_group = np.where(group[:, None] == 0, np.arange(10) + 10, np.arange(10))  # (U, 10)
    best_other = np.take_along_axis(scores, other_group, axis=1).max(axis=1)
    assert (held_out_score > best_other + 0.3).all()  # observed margin >= 0.75


# --- real data ----------------------------------------------------------------------------


def recall_at_k(
    model: FittedRecommender, train: sp.csr_matrix, test: sp.csr_matrix, k: int
) -> float:
    """Mean over users with a test item of |top-k (train excluded) ∩ test| / |test|."""
    users = np.flatnonzero(test.getnnz(axis=1))
    top, _ = recommend(model, users, k=k, exclude=train)
    hits = np.asarray(test[users[:, None], top].sum(axis=1)).ravel()
    return float(np.mean(hits / test.getnnz(axis=1)[users]))


@pytest.mark.slow
def test_models_beat_popularity_on_ml100k() -> None:
    path = data_root() / "ml-100k" / "u.data"
    if not path.is_file():
        pytest.skip(f"{path} not found (set RECFORGE_DATA)")
    ratings = pd.read_csv(path, sep="\t", header=None, names=["user", "item", "rating", "ts"])
    user_idx, users = pd.factorize(ratings["user"])
    item_idx, items = pd.factorize(ratings["item"])
    n_users, n_items = len(users), len(items)
    assert (n_users, n_items, len(ratings)) == (943, 1682, 100_000)
    # random 80/20 split per user: shuffle, then each user's first round(20%) rows are test
    order = np.random.default_rng(0).permutation(len(ratings))
    shuffled_users = user_idx[order]
    rank_in_user = pd.Series(shuffled_users).groupby(shuffled_users).cumcount().to_numpy()
    user_size = np.bincount(user_idx)[shuffled_users]
    is_test = rank_in_user < np.round(0.2 * user_size)

    def matrix(rows: np.ndarray) -> sp.csr_matrix:
        values = np.ones(len(rows), np.float32)
        return sp.csr_matrix((values, (user_idx[rows], item_idx[rows])), shape=(n_users, n_items))

    train, test = matrix(order[~is_test]), matrix(order[is_test])
    results = {}
    for model_class, config in [
        (Popularity, PopularityConfig()),
        (ItemKNN, ItemKNNConfig()),
        (EASE, EASEConfig()),
        (IALS, IALSConfig()),
    ]:
        start = time.perf_counter()
        model = model_class(config, n_users=n_users, n_items=n_items).fit(train)
        seconds = time.perf_counter() - start
        results[model_class.__name__] = recall = recall_at_k(model, train, test, k=10)
        print(f"{model_class.__name__}: recall@10 {recall:.4f}, fit {seconds:.2f}s")  # with -s
    # observed: Popularity 0.117, ItemKNN 0.185, EASE 0.237, IALS 0.225
    assert 0.10 < results["Popularity"] < 0.14
    for name in ("ItemKNN", "EASE", "IALS"):
        assert results[name] > results["Popularity"] + 0.04, name
