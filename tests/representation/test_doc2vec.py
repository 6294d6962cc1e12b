"""The Doc2Vec (paragraph vector) item-text encoder."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from recforge.core.errors import DataFormatError
from recforge.representation.doc2vec import Doc2VecEncoder
from recforge.representation.text import TextEncoderError, text_encoder

GROUPS = (
    ["wool", "sweater", "knit", "scarf", "winter", "mitten", "warm", "yarn"],
    ["steel", "camping", "stove", "tent", "trail", "gas", "hiking", "lantern"],
    ["chocolate", "dark", "cocoa", "hazelnut", "milk", "sweet", "bar", "truffle"],
)


def corpus(n_per_group: int = 40, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Texts of 5 words drawn from one of three word groups; the group of each text."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for group, words in enumerate(GROUPS):
        for _ in range(n_per_group):
            texts.append(" ".join(rng.choice(words, 5)))
            labels.append(group)
    return texts, np.array(labels)


@pytest.fixture(scope="module", params=["dbow", "dm"])
def fitted(request) -> Doc2VecEncoder:
    texts, _ = corpus()
    return Doc2VecEncoder(dim=16, mode=request.param, min_count=1, epochs=20, seed=0).fit(texts)


def test_shape_dtype_norm_and_zero_rows(fitted) -> None:
    texts, _ = corpus()
    vectors = fitted.transform([*texts[:5], "", None, "zebra quokka"])  # type: ignore[list-item]
    assert vectors.shape == (8, 16) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors[:5], axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(vectors[5:], 0.0)  # empty, missing, only unseen words


def test_new_texts_land_near_their_group(fitted) -> None:
    if fitted.mode == "dm":
        # PV-DM infers poorly on bag-of-words texts (gensim's own infer_vector too): the
        # paragraph vector is 1 of 11 averaged inputs; PV-DBOW is the default for that reason
        pytest.skip("PV-DM inference is not expected to separate shuffled word groups")
    texts, labels = corpus()
    known = fitted.transform(texts)  # (N, D)
    fresh_texts, fresh_labels = corpus(n_per_group=10, seed=1)  # unseen texts
    fresh = fitted.transform(fresh_texts)
    centroids = np.stack([known[labels == g].mean(0) for g in range(3)])  # (3, D)
    predicted = (fresh @ centroids.T).argmax(1)
    assert (predicted == fresh_labels).mean() > 0.9


def test_transform_does_not_depend_on_the_batch_or_earlier_calls(fitted) -> None:
    texts, _ = corpus()
    alone = fitted.transform([texts[7]])
    fitted.transform(texts[::3])  # advances nothing the next call sees
    together = fitted.transform([texts[3], texts[7]])
    np.testing.assert_array_equal(alone[0], together[1])


def test_same_seed_same_vectors_in_another_process() -> None:
    """Python's string hash changes between processes; the vectors must not."""
    script = (
        "import json\n"
        "from recforge.representation.doc2vec import Doc2VecEncoder\n"
        "texts = [f'w{i % 7} x{i % 5} shared word{i % 3}' for i in range(90)]\n"
        "e = Doc2VecEncoder(dim=8, epochs=5, min_count=1, seed=2).fit(texts)\n"
        "print(json.dumps(e.transform(texts[:4] + ['w1 shared']).tolist()))\n"
    )
    env = {"PYTHONHASHSEED": "12345", "OMP_NUM_THREADS": "1", "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    texts = [f"w{i % 7} x{i % 5} shared word{i % 3}" for i in range(90)]
    here = Doc2VecEncoder(dim=8, epochs=5, min_count=1, seed=2).fit(texts)
    expected = here.transform([*texts[:4], "w1 shared"])
    np.testing.assert_array_equal(np.asarray(json.loads(done.stdout), np.float32), expected)


def test_seed_changes_the_vectors() -> None:
    texts, _ = corpus(n_per_group=10)
    first = Doc2VecEncoder(dim=8, min_count=1, epochs=3, seed=0).fit_transform(texts)
    other = Doc2VecEncoder(dim=8, min_count=1, epochs=3, seed=1).fit_transform(texts)
    assert not np.allclose(first, other)


def test_save_load_round_trip_is_exact(fitted, tmp_path) -> None:
    texts, _ = corpus(n_per_group=10, seed=2)
    folder = fitted.save(tmp_path / "encoder")
    assert sorted(p.name for p in folder.iterdir()) == ["arrays.npz", "encoder.json"]
    loaded = Doc2VecEncoder.load(folder)
    assert loaded.mode == fitted.mode and loaded.dim_ == fitted.dim_
    np.testing.assert_array_equal(loaded.transform(texts), fitted.transform(texts))


def test_load_refuses_other_folders_and_versions(fitted, tmp_path) -> None:
    with pytest.raises(DataFormatError, match="not a saved Doc2VecEncoder"):
        Doc2VecEncoder.load(tmp_path)
    folder = fitted.save(tmp_path / "encoder")
    params = json.loads((folder / "encoder.json").read_text())
    (folder / "encoder.json").write_text(json.dumps({**params, "format_version": 9}))
    with pytest.raises(DataFormatError, match="format_version 9"):
        Doc2VecEncoder.load(folder)


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(TextEncoderError, match="min_count=2"):
        Doc2VecEncoder(min_count=2).fit(["", "one two", None])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        Doc2VecEncoder(min_count=1).fit(["red hat", 5])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="mode"):
        Doc2VecEncoder(mode="skipgram")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="not fitted"):
        Doc2VecEncoder().transform(["a"])


def test_factory_builds_each_encoder_and_names_bad_options() -> None:
    encoder = text_encoder("doc2vec", dim=4, mode="dm", min_count=1, epochs=2)
    assert isinstance(encoder, Doc2VecEncoder) and encoder.mode == "dm"
    with pytest.raises(ValueError, match="has no option 'n_components'"):
        text_encoder("doc2vec", n_components=4)
    with pytest.raises(ValueError, match=r"unknown text encoder 'bert'.*tfidf, doc2vec, minilm"):
        text_encoder("bert")
