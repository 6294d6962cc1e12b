"""Two-tower retrieval: the towers pool what they document, the in-batch softmax corrects
for sampling bias and masks duplicate positives, retrieval through the server's FAISS index
equals the brute-force top-k, and the serving view folds a live history in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from test_contract import trained

from recforge.core.config import from_dict
from recforge.core.errors import ConfigError
from recforge.core.sequences import Sequences
from recforge.models import MODELS, recommend
from recforge.models.online import online_model
from recforge.models.twotower import TwoTower, TwoTowerConfig
from recforge.serving.index import VectorIndex
from recforge.training import losses
from recforge.training.experiment import load_experiment, run_experiment
from recforge.training.loop import (
    TrainConfig,
    fit,
    target_log_frequency,
    window_user_idx,
)

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SMALL = {"factors": 8, "max_len": 6, "layers": (16, 8), "dropout": 0.0}


def build(n_users: int = 3, n_items: int = 9, **changes) -> TwoTower:
    torch.manual_seed(0)
    return TwoTower(TwoTowerConfig(**{**SMALL, **changes}), n_users, n_items).eval()


def test_bad_config_is_refused_naming_the_key():
    with pytest.raises(ConfigError, match=r"model.*temperature must be > 0"):
        from_dict(TwoTowerConfig, {"temperature": 0.0}, prefix="model")
    with pytest.raises(ConfigError, match="layers must be one or more widths"):
        from_dict(TwoTowerConfig, {"layers": []}, prefix="model")


@pytest.mark.parametrize("user_id", [False, True])
def test_query_at_each_position_pools_the_items_up_to_it(user_id):
    model = build(user_id=user_id)
    tokens = torch.tensor([[0, 0, 4, 2, 7, 7], [0, 0, 0, 0, 0, 3]])
    users = torch.tensor([2, 0])
    hidden = model.hidden(tokens, users)  # (2, 6, 8)
    for position in range(2, 6):  # the running mean equals encoding the prefix alone
        prefix = torch.nn.functional.pad(tokens[:1, : position + 1], (5 - position, 0))
        torch.testing.assert_close(hidden[0, position], model.encode(prefix, users[:1])[0])
    torch.testing.assert_close(model.encode(tokens, users), hidden[:, -1])
    # unit vectors times 1/τ, and a user's query does not depend on the rest of the batch
    torch.testing.assert_close(hidden[:, -1].norm(dim=-1), torch.full((2,), 20.0))
    torch.testing.assert_close(model.encode(tokens[1:], users[1:])[0], hidden[1, -1])
    # the score is the temperature-scaled cosine, item_vectors(idx) the rows of item_vectors()
    items = torch.tensor([0, 8, 3])
    torch.testing.assert_close(model.item_vectors(items), model.item_vectors()[items])


def test_others_context_pools_the_window_without_the_target():
    model = build(context="others", user_id=True)
    tokens = torch.tensor([[0, 0, 4, 2, 7, 5]])  # position t's target is the token at t+1
    users = torch.tensor([1])
    hidden = model.hidden(tokens, users)  # (1, 6, 8)
    for position in range(1, 5):  # the target (token at position + 1) left out
        rest = torch.cat([tokens[:, : position + 1], tokens[:, position + 2 :]], dim=1)
        torch.testing.assert_close(hidden[0, position], model.encode(rest, users)[0])
    torch.testing.assert_close(hidden[:, -1], model.encode(tokens, users))  # all, as served


def test_in_batch_logits_subtract_log_q_and_mask_duplicate_positives():
    query = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    candidates = torch.tensor([[3.0, 1.0], [1.0, 1.0], [3.0, 1.0]])
    target = torch.tensor([5, 1, 5])  # rows 0 and 2 share their positive
    log_q = torch.log(torch.tensor([0.1, 0.2, 0.1, 0.1, 0.1, 0.4]))
    logits = losses.in_batch_logits(query, candidates, target, log_q)
    raw = query @ candidates.T
    expected = raw - torch.log(torch.tensor([0.4, 0.2, 0.4]))[None, :]  # − log p_{y_j}
    expected[0, 2] = expected[2, 0] = -torch.inf  # the other copy of a row's positive
    torch.testing.assert_close(logits, expected)
    torch.testing.assert_close(
        losses.in_batch_logits(query, candidates, target, None).diagonal(), raw.diagonal()
    )


def test_duplicate_positives_are_not_counted_as_negatives():
    """Two rows with one query and one positive item: masked, each row's only candidate
    is its positive (loss 0); counted as a negative it would cost log 2 per row."""
    query = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    candidates = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    target = torch.tensor([3, 3])
    logits = losses.in_batch_logits(query, candidates, target, torch.zeros(4))
    assert float(losses.softmax_ce(logits, torch.arange(2))) == 0.0
    unmasked = query @ candidates.T
    assert float(losses.softmax_ce(unmasked, torch.arange(2))) == pytest.approx(np.log(2))


def test_item_frequencies_and_window_users():
    seqs = Sequences.from_lists([[0, 1, 1, 2, 1], [], [3], [2, 1, 0]])
    log_q = target_log_frequency(seqs.windows(2)[1], 5)
    # targets (every item after a user's first): 1, 1, 2, 1, 1, 0 -> shares 1/6, 4/6, 1/6
    np.testing.assert_allclose(log_q[:3].exp(), [1 / 6, 4 / 6, 1 / 6], rtol=1e-6)
    assert torch.all(log_q[3:] == torch.log(torch.tensor(1 / 6)))  # never a target
    # each window row belongs to the user window_user_idx names: users own disjoint items
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 12, size=20)
    histories = [list(range(100 * user, 100 * user + n)) for user, n in enumerate(lengths)]
    seqs = Sequences.from_lists(histories)
    inputs, targets = seqs.windows(3)
    users = window_user_idx(seqs, 3)
    assert len(users) == len(inputs)
    for row, user in enumerate(users):
        tokens = np.concatenate([inputs[row], targets[row]])
        assert set((tokens[tokens > 0] - 1) // 100) == {user}


def _popularity_fit(logq_correction: bool) -> tuple[np.ndarray, np.ndarray]:
    """Histories of independent draws from a Zipf law over 20 items: nothing personal to
    learn, so the best next-item distribution is the popularity p itself. Returns p and
    the softmax of each user's scores ``(U, I)``."""
    rng = np.random.default_rng(0)
    popularity = 1.0 / np.arange(1, 21)
    popularity /= popularity.sum()
    seqs = Sequences.from_lists(
        [rng.choice(20, size=10, p=popularity).tolist() for _ in range(200)]
    )
    torch.manual_seed(0)
    model = TwoTower(TwoTowerConfig(**{**SMALL, "max_len": 10, "temperature": 0.1}), 200, 20)
    config = TrainConfig(
        loss="in_batch",
        epochs=10,
        batch_size=16,
        lr=0.01,
        logq_correction=logq_correction,
        progress=False,
    )
    fit(model, seqs.to_csr(20), config, sequences=seqs)
    return popularity, torch.softmax(model.score_all(torch.arange(200)), dim=1).detach().numpy()


def test_logq_correction_recovers_the_popularity_the_batch_softmax_penalises():
    """In-batch negatives are drawn by popularity, so the uncorrected softmax learns
    log p(y|x) − log p_y and pushes popular items down (here: towards a flat ranking);
    with logQ the model's softmax matches the true next-item distribution."""
    kl = {}
    for corrected in (True, False):
        popularity, predicted = _popularity_fit(corrected)
        kl[corrected] = float(np.mean((popularity * np.log(popularity / predicted)).sum(1)))
        rank_of_most_popular = (predicted > predicted[:, :1]).sum(1)  # 0 = ranked first
        if corrected:
            assert np.all(rank_of_most_popular == 0)
    assert kl[True] < 0.1 < 0.25 < kl[False], kl


def test_user_ids_reach_the_user_tower_in_training(planted):
    model = build(*planted.shape, user_id=True)
    assert model.user_embedding is not None
    start = model.user_embedding.weight.detach().clone()
    config = TrainConfig(loss="in_batch", epochs=2, batch_size=16, lr=0.01, progress=False)
    fit(model, planted, config)
    moved = (model.user_embedding.weight - start).norm(dim=1) > 0  # (U,) trained rows
    users_with_targets = np.diff(planted.indptr) > 1
    assert moved.numpy().tolist() == users_with_targets.tolist()


def test_in_batch_is_refused_for_pair_models(planted):
    from recforge.models.bpr import BPRMF, BPRMFConfig

    model = BPRMF(BPRMFConfig(factors=4), *planted.shape)
    with pytest.raises(ConfigError, match="for sequence models"):
        fit(model, planted, TrainConfig(loss="in_batch", epochs=1, progress=False))


@pytest.mark.parametrize("precision", ["fp16", "fp32"])
def test_faiss_index_retrieval_equals_brute_force_top_k(planted, precision):
    model = trained("twotower", planted)
    online = online_model(model)
    assert online.item_vectors is not None and online.uses_history
    index = VectorIndex(online.item_vectors, precision=precision)
    users = np.arange(planted.shape[0])
    expected_items, expected_scores = recommend(model, users, k=10, exclude=planted)
    for user in users:
        seen = planted[user].indices.astype(np.int64)
        query = online.query(int(user), np.empty(0, np.int64))
        items, scores = index.search(query, 10, exclude=seen)
        assert items.tolist() == expected_items[user].tolist()
        np.testing.assert_allclose(scores, expected_scores[user], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("user_id", [False, True])
def test_serving_view_folds_in_the_live_history(planted, user_id):
    model = build(user_id=user_id)
    model.set_histories(Sequences.from_lists([[1, 2], [], [3]]))
    online = online_model(model)
    assert online.item_vectors is not None and online.item_vectors.shape == (9, 8)
    np.testing.assert_allclose(np.linalg.norm(online.item_vectors, axis=1), 1.0, rtol=1e-5)
    stored = online.query(1, np.empty(0, np.int64))  # an empty history: the learned prior
    expected_scores = model.score_all(torch.tensor([1]))[0].detach().numpy()
    np.testing.assert_allclose(online.item_vectors @ stored, expected_scores, rtol=1e-5)
    live = online.query(0, np.array([5, 6, 7]))
    tokens = torch.tensor([[0, 0, 0, 6, 7, 8]])
    expected = model.encode(tokens, torch.tensor([0]) if user_id else None)[0].detach().numpy()
    np.testing.assert_allclose(live, expected, rtol=1e-5)
    unknown = online.query(None, np.array([5, 6, 7]))  # a new user: the history alone
    np.testing.assert_allclose(unknown, model.encode(tokens)[0].detach().numpy(), rtol=1e-5)
    assert online.query(None, np.empty(0, np.int64)) is None
    # a trained model answers a history it never saw with that history's group
    online = online_model(trained("twotower", planted))
    for group in (0, 1):
        query = online.query(None, np.arange(20 * group, 20 * group + 3))
        scores = online.item_vectors @ query
        scores[20 * group : 20 * group + 3] = -np.inf
        assert int(np.argmax(scores)) // 20 == group


def test_demo_config_trains_and_serves_through_the_faiss_index(tmp_path):
    from recforge.serving.registry import load_bundle

    overrides = [
        f"output_dir={tmp_path.as_posix()}",
        "data.synthetic.n_users=150",
        "data.synthetic.n_items=80",
        "data.synthetic.n_days=20",
        "training.epochs=2",
        "training.progress=false",
    ]
    config = load_experiment(CONFIGS / "demo_twotower.toml", overrides)
    assert config.training.loss == "in_batch" and config.model.name == "twotower"
    result = run_experiment(config)
    assert result.test.metrics["recall@50"] > 0
    bundle = load_bundle(result.run_dir)
    model = bundle.artifact.model
    assert isinstance(model, TwoTower) and MODELS["twotower"] is TwoTower
    assert bundle.item_index is not None
    user = 3
    seen = bundle.seen_rows(user)
    query = bundle.online.query(user, np.empty(0, np.int64))
    items, _ = bundle.item_index.search(query, 10, exclude=seen)
    expected, _ = recommend(model, np.array([user]), k=10, exclude=bundle.artifact.seen)
    assert items.tolist() == expected[0].tolist()
