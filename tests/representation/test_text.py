"""The TF-IDF + SVD item-text encoder."""

from __future__ import annotations

import numpy as np
import pytest

from recforge.core.errors import DataFormatError, RecforgeError
from recforge.data.synthetic import ShopConfig, generate_shop
from recforge.features.profiles import item_text
from recforge.representation.text import TextEncoderError, TfidfEncoder

CORPUS = [
    "waterproof hiking boots with leather upper",
    "lightweight hiking boots for trail running",
    "leather hiking boots, waterproof and warm",
    "stainless steel chef knife for the kitchen",
    "ceramic chef knife with a sharp blade",
    "kitchen knife block with six steel knives",
    "organic dark chocolate bar, fair trade",
    "milk chocolate bar with hazelnuts",
]


@pytest.fixture(scope="module")
def shop_items():
    return generate_shop(ShopConfig(n_users=20, n_items=240, n_days=3), seed=0)


def test_vectors_have_the_promised_shape_dtype_and_norm() -> None:
    encoder = TfidfEncoder(dim=4, seed=0).fit(CORPUS)
    assert encoder.dim_ == 4
    vectors = encoder.transform([*CORPUS, "", "zebra quokka", None])  # type: ignore[list-item]
    assert vectors.shape == (11, 4) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors[:8], axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(vectors[8:], 0.0)  # empty, unknown words, missing: zero rows


def test_similar_texts_are_nearer_than_unrelated_ones() -> None:
    encoder = TfidfEncoder(dim=3, seed=0).fit(CORPUS)
    boots, knife, chocolate = encoder.transform(
        ["warm waterproof boots for hiking", "sharp kitchen knife", "dark chocolate"]
    )
    vectors = encoder.transform(CORPUS)
    assert (vectors[:3] @ boots).min() > (vectors[3:] @ boots).max()
    assert (vectors[3:6] @ knife).min() > np.delete(vectors, [3, 4, 5], axis=0).dot(knife).max()
    assert (vectors[6:] @ chocolate).min() > (vectors[:6] @ chocolate).max()


def test_shop_items_of_one_category_are_closer_than_across_categories(shop_items) -> None:
    texts = item_text(shop_items.tables.items)
    vectors = TfidfEncoder(dim=32, seed=0).fit_transform(texts)
    similarity = vectors @ vectors.T  # (I, I) cosine
    category = shop_items.item_category_idx
    same = category[:, None] == category[None, :]
    others = ~np.eye(len(category), dtype=bool)
    within = similarity[same & others].mean()
    across = similarity[~same].mean()
    assert within > across + 0.2
    # nearest neighbour of most items is in the same category
    np.fill_diagonal(similarity, -np.inf)
    assert np.mean(category[similarity.argmax(axis=1)] == category) > 0.8


def test_fit_is_deterministic_under_the_seed(shop_items) -> None:
    texts = item_text(shop_items.tables.items).tolist()
    first = TfidfEncoder(dim=16, seed=3).fit_transform(texts)
    again = TfidfEncoder(dim=16, seed=3).fit_transform(texts)
    np.testing.assert_array_equal(first, again)
    encoder = TfidfEncoder(dim=16, seed=3).fit(texts)
    np.testing.assert_array_equal(encoder.transform(texts[:5]), encoder.transform(texts[:5]))
    np.testing.assert_allclose(encoder.transform(texts), first, atol=1e-5)


def test_dim_is_capped_for_a_tiny_corpus() -> None:
    encoder = TfidfEncoder(dim=64).fit(["red wool sweater", "blue cotton shirt", ""])
    assert encoder.dim_ == 3  # no more directions than texts
    two_terms = TfidfEncoder(dim=64).fit(["wool", "wool cotton", "cotton"])
    assert two_terms.dim_ == 2  # n_terms - 1 ("wool", "cotton", "wool cotton")
    assert two_terms.transform(["wool"]).shape == (1, 2)


def test_transform_before_fit_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="not fitted; call fit"):
        TfidfEncoder().transform(["a text"])


def test_a_corpus_without_terms_is_a_clear_error() -> None:
    for texts in (["", "  ", ""], ["the and of", "it is"], [None, None]):
        with pytest.raises(TextEncoderError, match="cannot fit a text encoder"):
            TfidfEncoder().fit(texts)  # type: ignore[arg-type]
    with pytest.raises(TextEncoderError, match="min_df=5"):
        TfidfEncoder(min_df=5).fit(CORPUS)
    with pytest.raises(TextEncoderError, match="1 term"):
        TfidfEncoder().fit(["wool", "wool"])
    assert issubclass(TextEncoderError, RecforgeError)


def test_bad_arguments() -> None:
    for kwargs in ({"dim": 0}, {"dim": 2.5}, {"min_df": 0}, {"max_features": 1}):
        with pytest.raises(ValueError):
            TfidfEncoder(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not one string"):
        TfidfEncoder().fit("one string")


def test_save_and_load_give_identical_vectors(tmp_path) -> None:
    encoder = TfidfEncoder(dim=5, min_df=1, seed=7).fit(CORPUS)
    path = encoder.save(tmp_path / "text-encoder.npz")
    loaded = TfidfEncoder.load(path)
    assert (loaded.dim, loaded.min_df, loaded.seed, loaded.dim_) == (5, 1, 7, 5)
    queries = [*CORPUS, "hiking knife", ""]
    np.testing.assert_array_equal(loaded.transform(queries), encoder.transform(queries))
    with pytest.raises(DataFormatError, match="not a saved TfidfEncoder"):
        TfidfEncoder.load(tmp_path / "missing.npz")
    other = tmp_path / "other.npz"
    np.savez(other, something=np.zeros(3))
    with pytest.raises(DataFormatError, match="not a saved TfidfEncoder"):
        TfidfEncoder.load(other)
    with np.load(path) as data:
        arrays = dict(data)
    arrays["params"] = np.asarray('{"format_version": 99, "dim": 5}')
    future = tmp_path / "future.npz"
    np.savez(future, **arrays)
    with pytest.raises(DataFormatError, match="unknown format_version 99"):
        TfidfEncoder.load(future)
