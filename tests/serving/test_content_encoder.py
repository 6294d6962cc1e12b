"""The serving content index with a chosen text encoder (settings: content_encoder)."""

from __future__ import annotations

import pandas as pd
import pytest

from recforge.core.errors import ConfigError
from recforge.representation.doc2vec import Doc2VecEncoder
from recforge.representation.text import TfidfEncoder
from recforge.serving.content import ContentIndex
from recforge.serving.service import RecommendationService
from recforge.serving.settings import ServingSettings
from recforge.serving.store import EventStore

WORDS = {
    "knitwear": ["wool", "knit", "scarf", "winter", "mitten", "yarn"],
    "camping": ["steel", "tent", "stove", "trail", "lantern", "hiking"],
}


def catalogue(n_per_category: int = 30) -> pd.DataFrame:
    rows = []
    for category, words in WORDS.items():
        for i in range(n_per_category):
            title = " ".join(words[(i + j) % len(words)] for j in range(3))
            rows.append({"item_id": f"{category}-{i}", "title": title, "categories": [category]})
    return pd.DataFrame(rows)


def test_doc2vec_index_finds_same_category_items_and_encodes_new_ones() -> None:
    index = ContentIndex(dim=16, encoder="doc2vec").fit(catalogue())
    assert isinstance(index.encoder, Doc2VecEncoder) and index.vectors.shape == (60, 16)
    new = pd.DataFrame([{"item_id": "new", "title": "warm wool mitten", "categories": []}])
    index.upsert(new)
    query = index.vector("new")
    assert query is not None
    similar = [item_id for item_id, _ in index.search(query, 10, exclude=["new"])]
    assert sum(item_id.startswith("knitwear") for item_id in similar) >= 9


def test_default_encoder_stays_tfidf() -> None:
    assert ServingSettings().content_encoder == "tfidf"
    assert isinstance(ContentIndex(dim=8).fit(catalogue()).encoder, TfidfEncoder)


def test_settings_pick_the_encoder_and_refuse_unknown_ones(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"content_encoder.*'bert'.*tfidf, doc2vec, minilm"):
        ServingSettings(content_encoder="bert")
    (tmp_path / "serve.toml").write_text('content_encoder = "doc2vec"\ncontent_dim = 16\n')
    settings = ServingSettings.load(tmp_path / "serve.toml", env={})
    settings = ServingSettings(**{**settings.__dict__, "db": str(tmp_path / "events.db")})
    with EventStore(settings.db) as store:
        service = RecommendationService(store, settings)
        assert service.content.encoder_name == "doc2vec" and service.content.dim == 16
