"""The content-based recommender: cold items, bad item text, the experiment hook."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from recforge.core.errors import ConfigError, DataFormatError, RecforgeError
from recforge.core.sequences import Sequences
from recforge.models import MODELS
from recforge.models.checkpoint import load_checkpoint, save_checkpoint
from recforge.models.content import (
    NO_TEXT_SCORE,
    ContentConfig,
    ContentRecommender,
    recency_weights,
)
from recforge.training.experiment import parse_experiment, run_experiment

WORDS = (["wool", "knit", "scarf", "winter", "mitten"], ["steel", "tent", "stove", "trail"])


def group_items(n_items: int = 40, seed: int = 0) -> pd.DataFrame:
    """Item ``i`` is in group ``i >= n_items // 2``; its title draws words from its group."""
    rng = np.random.default_rng(seed)
    titles = [" ".join(rng.choice(WORDS[i >= n_items // 2], 3)) for i in range(n_items)]
    return pd.DataFrame({"item_id": np.arange(n_items) + 100, "title": titles})


def group_train(n_users: int = 20, n_items: int = 40, cold: int = 10) -> sp.csr_matrix:
    """User ``u`` is in group ``u % 2`` and interacts with 4 warm items of their group; the
    last ``cold // 2`` items of each group have no interaction at all."""
    rng = np.random.default_rng(1)
    half = n_items // 2
    warm = half - cold // 2
    rows, cols = [], []
    for user in range(n_users):
        items = rng.choice(warm, 4, replace=False) + (user % 2) * half
        rows += [user] * 4
        cols += items.tolist()
    data = np.ones(len(rows), np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(n_users, n_items))


def fitted(**config) -> ContentRecommender:
    model = ContentRecommender(ContentConfig(dim=8, **config), 20, 40)
    return model.fit(group_train(), items=group_items())


def test_cold_items_are_ranked_for_the_right_users() -> None:
    model = fitted()
    cold = np.r_[15:20, 35:40]  # items without any training interaction
    scores = model.score_all(torch.arange(20))[:, cold].numpy()  # (U, 10)
    own_group_first = scores[:, :5].min(1) > scores[:, 5:].max(1)
    assert own_group_first[0::2].all()  # group-0 users: items 15-19 above 35-39
    assert (scores[1::2, 5:].min(1) > scores[1::2, :5].max(1)).all()


def test_encoder_is_fitted_on_training_items_only_by_default(caplog) -> None:
    items = group_items()
    items.loc[35:39, "title"] = "zebra quokka"  # words only cold items have
    with caplog.at_level(logging.WARNING):
        model = ContentRecommender(ContentConfig(dim=8), 20, 40).fit(group_train(), items=items)
    assert "5 of 40 items have no content vector (0 without text, 5 whose words" in caplog.text
    assert not model.has_vector_[35:40].any()
    everything = ContentRecommender(ContentConfig(dim=8, fit_on="all_items"), 20, 40)
    assert everything.fit(group_train(), items=items).has_vector_.all()


def test_items_without_text_rank_last_with_a_warning(caplog) -> None:
    items = group_items()
    items.loc[3, "title"] = None
    items.loc[4, "title"] = float("nan")
    items.loc[5, "title"] = "   "
    with caplog.at_level(logging.WARNING):
        model = ContentRecommender(ContentConfig(dim=8), 20, 40).fit(group_train(), items=items)
    assert "3 of 40 items have no content vector (3 without text" in caplog.text
    scores = model.score_all(torch.arange(20))
    assert torch.isfinite(scores).all()
    assert (scores[:, 3:6] == NO_TEXT_SCORE).all()
    others = np.delete(scores.numpy(), [3, 4, 5], axis=1)
    assert others.min() >= -1.0 - 1e-5 > NO_TEXT_SCORE  # below every cosine: ranked last


def test_non_text_and_missing_items_are_clear_errors() -> None:
    items = group_items()
    items["title"] = items["title"].astype(object)
    items.loc[7, "title"] = 1995
    with pytest.raises(DataFormatError, match=r"column 'title', row 7 \(item_id 107\).*int"):
        ContentRecommender(ContentConfig(dim=8), 20, 40).fit(group_train(), items=items)
    genres = group_items().assign(genres=[["Drama"]] * 39 + [["Comedy", 3]])
    with pytest.raises(DataFormatError, match="column 'genres', row 39"):
        ContentRecommender(ContentConfig(dim=8), 20, 40).fit(group_train(), items=genres)
    with pytest.raises(RecforgeError, match="needs item texts"):
        ContentRecommender(ContentConfig(dim=8), 20, 40).fit(group_train())
    with pytest.raises(ValueError, match="39 rows, expected one per item"):
        ContentRecommender(ContentConfig(dim=8), 20, 40).fit(group_train(), items=items[:39])
    empty = group_items().assign(title="")
    with pytest.raises(RecforgeError, match="no item text to fit"):
        ContentRecommender(ContentConfig(dim=8), 20, 40).fit(group_train(), items=empty)


def test_config_names_bad_encoder_options() -> None:
    with pytest.raises(ValueError, match="unknown text encoder 'word2vec'"):
        ContentConfig(encoder="word2vec")
    with pytest.raises(ValueError, match="'tfidf' has no option 'mode'"):
        ContentConfig(encoder_options={"mode": "dm"})
    assert ContentConfig(encoder="minilm", seed=3).encoder_kwargs() == {}
    doc2vec = ContentConfig(encoder="doc2vec", dim=16, encoder_options={"mode": "dm"})
    assert doc2vec.encoder_kwargs() == {"dim": 16, "seed": 0, "mode": "dm"}


def test_doc2vec_encoder_and_checkpoint_round_trip(tmp_path) -> None:
    options = {"min_count": 1, "epochs": 30}
    model = fitted(encoder="doc2vec", encoder_options=options)
    save_checkpoint(model, tmp_path / "content.pt", MODELS)
    loaded = load_checkpoint(tmp_path / "content.pt", MODELS)
    assert loaded.config == model.config
    users = torch.arange(20)
    torch.testing.assert_close(loaded.score_all(users), model.score_all(users), rtol=0, atol=0)
    cold = np.r_[15:20, 35:40]
    scores = model.score_all(users)[:, cold].numpy()
    own = np.where((np.arange(20) % 2 == 0)[:, None], cold < 20, cold >= 20)  # (U, 10)
    wins = [(s[o][:, None] > s[~o][None, :]).mean() for s, o in zip(scores, own, strict=True)]
    assert np.mean(wins) > 0.8


def test_recency_weighting_follows_the_latest_items() -> None:
    sequences = Sequences.from_lists([[0, 1, 2], [2]])
    weights = recency_weights(sequences, 3, half_life=1.0).toarray()
    np.testing.assert_allclose(weights, [[0.25, 0.5, 1.0], [0.0, 0.0, 1.0]])
    # a user who moved from group 0 to group 1: recency puts group-1 cold items first
    train = sp.csr_matrix(([1.0] * 6, ([0] * 6, [0, 1, 2, 3, 20, 21])), shape=(20, 40))
    history = Sequences.from_lists([[0, 1, 2, 3, 20, 21]] + [[]] * 19)
    config = ContentConfig(dim=8, user_weighting="recency", recency_half_life=1.0)
    model = ContentRecommender(config, 20, 40).fit(train, items=group_items(), sequences=history)
    scores = model.score_all(torch.tensor([0]))[0]
    assert scores[35:40].mean() > scores[15:20].mean()
    with pytest.raises(RecforgeError, match="needs time-ordered histories"):
        ContentRecommender(config, 20, 40).fit(train, items=group_items())


def test_fold_in_scores_a_new_history() -> None:
    model = fitted()
    history = sp.csr_matrix(([1.0], ([0], [36])), shape=(1, 40))  # one group-1 item
    user = model.fold_in(history)  # (1, D)
    scores = (user @ model.item_vectors_.T)[0]
    assert scores[20:].mean() > scores[:20].mean()


def test_experiment_passes_item_text(tmp_path) -> None:
    """run_experiment hands Prepared.items to a model that declares uses_item_text."""
    config = parse_experiment(
        {
            "name": "content",
            "output_dir": str(tmp_path),
            "data": {"synthetic": {"n_users": 60, "n_items": 80, "n_days": 3}},
            "model": {"name": "content", "dim": 16},
            "evaluation": {"ks": [10]},
        }
    )
    result = run_experiment(config)
    assert result.model.has_vector_.all()  # every shop item has a title
    assert 0.0 <= result.test.metrics["hr@10"] <= 1.0
    with pytest.raises(ConfigError, match="model"):
        parse_experiment({"model": {"name": "content", "encoder": "bert"}})


def test_set_histories_moves_users_like_fold_in() -> None:
    model = fitted()
    before = model.score_all(torch.tensor([0]))[0]
    histories = Sequences.from_lists([[36, 37]] + [[0]] * 19)  # user 0 now in group 1
    model.set_histories(histories)
    after = model.score_all(torch.tensor([0]))[0]
    assert before[:20].mean() > before[20:].mean() and after[20:].mean() > after[:20].mean()
