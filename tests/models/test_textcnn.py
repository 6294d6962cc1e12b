"""Text-CNN recommender: cold items are ranked by their text, missing and long texts,
id-embedding gating, catalogue extension and checkpoints."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from test_contract import PARAMS, TRAINING, planted_texts

from recforge.core.batches import UserItemBatch
from recforge.features.text_tokens import PAD
from recforge.models import MODELS
from recforge.models.checkpoint import load_checkpoint, save_checkpoint
from recforge.models.textcnn import TextCNN, TextCNNConfig
from recforge.training.loop import fit

COLD = [0, 1, 20, 21]  # two items of each taste group, held out of training


def config(**changes) -> TextCNNConfig:
    return TextCNNConfig(**{**PARAMS["textcnn"], **changes})


def without_items(train: sp.csr_matrix, items: list[int]) -> sp.csr_matrix:
    kept = train.tolil()
    kept[:, items] = 0
    out = kept.tocsr()
    out.eliminate_zeros()
    return out


def cold_trained(planted: sp.csr_matrix, texts: list[str], **changes) -> TextCNN:
    torch.manual_seed(0)
    train = without_items(planted, COLD)
    model = TextCNN.from_texts(config(**changes), planted.shape[0], texts, train=train)
    fit(model, train, TRAINING["textcnn"])
    return model


def wins(model: TextCNN, users: range, item: int, rivals: list[int]) -> float:
    """Mean share of ``rivals`` that score below ``item``, over ``users``."""
    scores = model.score_all(torch.tensor(list(users))).detach().numpy()  # (B, I)
    return float(np.mean([(row[rivals] < row[item]).mean() for row in scores]))


GROUP0, GROUP1 = range(30), range(30, 60)
WARM0 = [i for i in range(20) if i not in COLD]
WARM1 = [i for i in range(20, 40) if i not in COLD]


@pytest.mark.parametrize("id_embedding", [True, False])
def test_cold_items_are_ranked_by_their_text(planted, id_embedding):
    """Items 0, 1 (group-0 words) and 20, 21 (group-1 words) never occur in training; each
    must outrank the other group's items for its own group's users, and fall below them
    for the other group's users."""
    model = cold_trained(planted, planted_texts(40), id_embedding=id_embedding)
    if id_embedding:
        assert model.id_mask[COLD].sum() == 0 and model.id_mask.sum() == 36
    for item in COLD:
        own, other, rivals = (GROUP0, GROUP1, WARM1) if item < 20 else (GROUP1, GROUP0, WARM0)
        assert wins(model, own, item, rivals) > 0.9, item
        assert wins(model, other, item, rivals) < 0.1, item


def test_cold_item_follows_its_words_not_its_index(planted):
    """The same cold item with the other group's words ranks like the other group's items:
    the property above comes from the text (this is how that test would fail)."""
    texts = planted_texts(40)
    texts[0] = texts[30]  # item 0 now reads like a group-1 item
    model = cold_trained(planted, texts)
    assert wins(model, GROUP0, 0, WARM0) < 0.1
    assert wins(model, GROUP1, 0, WARM0) > 0.9


def test_new_items_appended_after_training(planted):
    """``with_catalogue``: a model trained without items 0 and 20 scores them once they are
    added, and keeps the trained items' scores exactly."""
    texts = planted_texts(40)
    kept = [i for i in range(40) if i not in (0, 20)]
    train = planted[:, kept]
    torch.manual_seed(0)
    model = TextCNN.from_texts(config(id_embedding=True), 60, [texts[i] for i in kept], train=train)
    fit(model, train, TRAINING["textcnn"])
    source = np.full(40, -1)
    source[kept] = np.arange(len(kept))
    torch.manual_seed(5)
    full = model.with_catalogue(model.vocabulary_.transform(texts), source)
    drawn = torch.rand(3)
    torch.manual_seed(5)
    torch.testing.assert_close(drawn, torch.rand(3))  # a copy: training's RNG stream untouched
    users = torch.arange(60)
    before, after = model.score_all(users), full.score_all(users)
    torch.testing.assert_close(after[:, kept], before, rtol=0, atol=0)
    assert full.id_mask[[0, 20]].sum() == 0
    group0, group1 = after[:30], after[30:]
    assert (group0[:, 0] > group0[:, 20]).float().mean() > 0.9
    assert (group1[:, 20] > group1[:, 0]).float().mean() > 0.9
    with pytest.raises(ValueError, match="source_idx"):
        model.with_catalogue(model.vocabulary_.transform(texts), source[:5])
    with pytest.raises(ValueError, match="source_idx entries"):
        model.with_catalogue(model.vocabulary_.transform(texts[:1]), np.array([99]))


def test_items_without_text_share_the_empty_text_vector():
    texts = ["red wool hat", None, float("nan"), "", "red " * 50]
    model = TextCNN.from_texts(config(id_embedding=False), 3, texts).eval()
    assert (model.item_tokens[1:4] == PAD).all()
    assert model.item_tokens[4].tolist() == [model.vocabulary_.index_["red"]] * 6  # truncated
    vectors = model.item_vectors()
    assert torch.isfinite(vectors).all()
    torch.testing.assert_close(vectors[1], vectors[2], rtol=0, atol=0)
    torch.testing.assert_close(vectors[1], vectors[3], rtol=0, atol=0)
    assert not torch.equal(vectors[0], vectors[1])


def test_id_dropout_only_in_training_and_score_matches_score_all(planted):
    model = TextCNN.from_texts(
        config(dropout=0.0, id_embedding=True, id_dropout=0.5), 60, planted_texts(40)
    )
    with torch.no_grad():
        model.item_embedding.weight.normal_()  # make the id part visible
    batch = UserItemBatch(torch.zeros(200, dtype=torch.int64), torch.arange(200) % 40)
    model.train()
    torch.manual_seed(1)
    first = model(batch)
    assert not torch.equal(first, model(batch))  # ids dropped at random
    model.eval()
    torch.testing.assert_close(model(batch), model(batch), rtol=0, atol=0)
    users = torch.tensor([0, 7])
    pairs = model.score(users.repeat_interleave(40), torch.arange(40).repeat(2)).view(2, 40)
    torch.testing.assert_close(pairs, model.score_all(users), rtol=1e-5, atol=1e-6)
    model.train()
    model.score_all(users)
    assert model.training  # score_all encodes in eval mode and restores the mode


def test_checkpoint_keeps_tokens_and_cold_mask(planted, tmp_path):
    model = cold_trained(planted, planted_texts(40), id_embedding=True)
    save_checkpoint(model, tmp_path / "model.pt", MODELS)
    loaded = load_checkpoint(tmp_path / "model.pt", MODELS)
    assert isinstance(loaded, TextCNN) and loaded.config.vocab_size == model.config.vocab_size
    torch.testing.assert_close(loaded.item_tokens, model.item_tokens, rtol=0, atol=0)
    torch.testing.assert_close(loaded.id_mask, model.id_mask, rtol=0, atol=0)
    users = torch.arange(60)
    torch.testing.assert_close(loaded.score_all(users), model.score_all(users), rtol=0, atol=0)


def test_bad_config_and_inputs(planted):
    with pytest.raises(ValueError, match="widths"):
        TextCNNConfig(max_tokens=4, widths=(3, 5))
    with pytest.raises(ValueError, match="vocab_size"):
        TextCNNConfig(vocab_size=1)
    with pytest.raises(ValueError, match="id_dropout"):
        TextCNNConfig(id_dropout=1.0)
    with pytest.raises(ValueError, match="60 users x 3 items"):
        TextCNN.from_texts(config(), 60, ["a", "b", "c"], train=planted)
    model = TextCNN.from_texts(config(), 2, ["a b", "c"])
    with pytest.raises(ValueError, match="token indices"):
        model.set_item_tokens(np.full((2, 6), 99))
    with pytest.raises(ValueError, match="shape"):
        model.set_item_tokens(np.zeros((3, 6), np.int64))
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        TextCNN.from_texts(config(), 2, ["a", {"title": "b"}])


def test_from_items_reads_titles_and_genres():
    items = pd.DataFrame(
        {"title": ["Heat (1995)", None], "genres": [["Action", "Crime"], []]}, index=[7, 9]
    )
    model = TextCNN.from_items(config(min_count=1), 2, items)
    words = model.vocabulary_.words_
    assert model.item_tokens[0, :4].tolist() == [
        words.index(w) for w in ("heat", "1995", "action", "crime")
    ]
    assert (model.item_tokens[1] == PAD).all()  # nothing known: the empty-text fallback
    with pytest.raises(TypeError, match="DataFrame"):
        TextCNN.from_items(config(), 2, ["Heat"])  # type: ignore[arg-type]
