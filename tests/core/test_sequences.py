"""Packed time-ordered histories."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recforge.core.sequences import Sequences


def test_round_trip_and_csr_stand_in():
    histories = [[3, 1, 2], [], [0]]
    seqs = Sequences.from_lists(histories)
    assert seqs.as_lists() == histories and seqs.n_interactions == 4
    from_matrix = Sequences.from_csr(sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 0]])))
    assert from_matrix.as_lists() == [[1, 2], [0]]


@pytest.mark.parametrize(
    ("indptr", "items"), [([1, 2], [0, 1]), ([0, 3], [0, 1]), ([0, 2, 1], [0, 1])]
)
def test_inconsistent_packing_is_refused(indptr, items):
    with pytest.raises(ValueError):
        Sequences(np.array(indptr), np.array(items))


def test_windows_cover_every_next_item_once():
    rng = np.random.default_rng(0)
    histories = [rng.integers(0, 50, size=n).tolist() for n in (0, 1, 2, 7, 23, 40)]
    seqs = Sequences.from_lists(histories)
    inputs, targets = seqs.windows(max_len=6)
    assert inputs.shape == targets.shape and inputs.shape[1] == 6
    # every (previous item, next item) pair appears exactly once, padding never a target
    expected = sorted((h[i], h[i + 1]) for h in histories for i in range(len(h) - 1))
    present = targets > 0
    assert np.all(inputs[present] > 0) and np.all(inputs[~present] == 0)
    got = sorted(zip((inputs[present] - 1).tolist(), (targets[present] - 1).tolist(), strict=True))
    assert got == expected


def test_padded_keeps_the_latest_items_and_to_csr_counts():
    seqs = Sequences.from_lists([[4, 1, 3, 2], [], [0]])
    assert seqs.padded(np.array([0, 2]), max_len=3).tolist() == [[2, 4, 3], [0, 0, 1]]
    assert Sequences.from_lists([]).padded(max_len=2).shape == (0, 2)
    assert seqs.to_csr(5).toarray()[0].tolist() == [0, 1, 1, 1, 1]
    with pytest.raises(ValueError, match="max_len"):
        seqs.windows(0)
