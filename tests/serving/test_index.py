"""The FAISS wrapper: exact top-k, filters inside the search, growth and replacement."""

from __future__ import annotations

import numpy as np
import pytest

from recforge.serving.index import VectorIndex


@pytest.fixture
def vectors() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(500, 16)).astype(np.float32)


def test_exact_search_matches_brute_force(vectors):
    index = VectorIndex(vectors)
    query = vectors[7] + 0.1
    ids, scores = index.search(query, 10)
    expected = np.argsort(-(vectors @ query), kind="stable")[:10]
    assert set(ids.tolist()) == set(expected.tolist())
    np.testing.assert_allclose(scores, np.sort(vectors @ query)[::-1][:10], rtol=1e-5)


def test_exclude_and_allowed_apply_inside_the_search(vectors):
    index = VectorIndex(vectors)
    query = vectors[3]
    best = index.search(query, 5)[0]
    ids, _ = index.search(query, 5, exclude=best[:3])
    assert not set(ids.tolist()) & set(best[:3].tolist())
    allowed = np.arange(490, 500)
    ids, _ = index.search(query, 5, allowed=allowed)
    assert set(ids.tolist()) <= set(allowed.tolist()) and len(ids) == 5
    ids, _ = index.search(query, 20, allowed=allowed, exclude=[490, 491])
    assert sorted(ids.tolist()) == list(range(492, 500))  # fewer than k pass: no padding


def test_add_and_replace(vectors):
    index = VectorIndex(vectors[:10])
    new_ids = index.add(vectors[10:12])
    assert new_ids.tolist() == [10, 11] and len(index) == 12
    index.replace(0, vectors[11] * 10)
    assert index.search(vectors[11], 1)[0].tolist() == [0]


def test_hnsw_beyond_the_exact_limit_finds_neighbours(vectors):
    index = VectorIndex(vectors, exact_limit=100)
    assert not index.exact
    hits = [
        index.search(vectors[q], 1)[0].tolist() == [int(np.argmax(vectors @ vectors[q]))]
        for q in range(50)
    ]
    assert np.mean(hits) >= 0.9  # approximate, but close on a small graph
    with pytest.raises(NotImplementedError):
        index.replace(0, vectors[0])


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="vectors must be"):
        VectorIndex(np.zeros(5, np.float32))
    assert VectorIndex(np.zeros((0, 4), np.float32)).search(np.zeros(4), 3)[0].size == 0


@pytest.mark.parametrize("precision", ["fp16", "fp32"])
def test_short_and_long_exclusion_lists_agree_with_brute_force(precision):
    """Short lists are dropped after an over-fetch, long ones go into the scan: both give
    the brute-force answer, with exact float32 scores."""
    vectors = np.random.default_rng(1).normal(size=(3000, 8)).astype(np.float32)
    index = VectorIndex(vectors, precision=precision)
    query = vectors[0]
    order = np.argsort(-(vectors @ query), kind="stable")
    for n_excluded in (5, 1500):
        excluded = order[:n_excluded]
        ids, scores = index.search(query, 10, exclude=excluded)
        assert ids.tolist() == order[n_excluded : n_excluded + 10].tolist()
        np.testing.assert_allclose(scores, vectors[ids] @ query, rtol=1e-5, atol=1e-5)
