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
