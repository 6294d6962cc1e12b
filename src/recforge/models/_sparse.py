"""Sparse-matrix helpers shared by the fitted (non-neural) recommenders.

The fitted models receive the training interactions as a SciPy CSR matrix (users x items,
non-zeros = interaction weights) and keep what they need for scoring as plain tensors, so
that a checkpoint loaded with ``weights_only=True`` can score without SciPy objects.

Dimension letters: B users in a batch, U users, I items, N non-zeros.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor


def interaction_matrix(
    train: sp.spmatrix | sp.sparray, n_users: int, n_items: int, *, binary: bool
) -> sp.csr_matrix:
    """Check ``train`` and return a canonical float32 CSR copy.

    Duplicate entries are summed, explicit zeros dropped and indices sorted. With
    ``binary=True`` every remaining weight becomes 1 (implicit feedback: "interacted").

    Args:
        train: users x items sparse matrix of non-negative, finite interaction weights.
        n_users: expected number of rows.
        n_items: expected number of columns.
        binary: replace weights by 1.

    Raises:
        TypeError: ``train`` is not a SciPy sparse matrix.
        ValueError: wrong shape, or a negative or non-finite weight.

    >>> matrix = interaction_matrix(sp.csr_matrix([[0, 3.0], [2.0, 0]]), 2, 2, binary=True)
    >>> matrix.toarray().tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    >>> interaction_matrix(sp.csr_matrix([[1.0]]), 2, 2, binary=True)
    Traceback (most recent call last):
    ...
    ValueError: train has shape (1, 1), expected (n_users, n_items) = (2, 2)
    """
    if not sp.issparse(train):
        raise TypeError(f"train must be a scipy.sparse matrix, got {type(train).__name__}")
    if train.shape != (n_users, n_items):
        raise ValueError(
            f"train has shape {train.shape}, expected (n_users, n_items) = ({n_users}, {n_items})"
        )
    matrix = sp.csr_matrix(train, dtype=np.float32, copy=True)
    matrix.sum_duplicates()  # also sorts the column indices of every row
    if not np.isfinite(matrix.data).all():
        raise ValueError("train holds a non-finite interaction weight")
    if (matrix.data < 0).any():
        raise ValueError("train holds a negative interaction weight; expected implicit feedback")
    matrix.eliminate_zeros()
    if binary:
        matrix.data[:] = 1.0
    return matrix


def csr_to_tensors(matrix: sp.csr_matrix) -> tuple[Tensor, Tensor, Tensor]:
    """``(indptr (U+1,) int64, indices (N,) int64, data (N,) float32)`` of a CSR matrix."""
    return (
        torch.from_numpy(matrix.indptr.astype(np.int64)),
        torch.from_numpy(matrix.indices.astype(np.int64)),
        torch.from_numpy(matrix.data.astype(np.float32)),
    )


def csr_tensor(indptr: Tensor, indices: Tensor, values: Tensor, shape: tuple[int, int]) -> Tensor:
    """A ``torch.sparse_csr`` tensor, without torch's once-per-process "beta" warning.

    The inputs must already be a valid CSR layout (sorted, in range); it is not re-checked.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(indptr, indices, values, shape, check_invariants=False)


def check_user_idx(user_idx: Tensor, n_users: int) -> Tensor:
    """``user_idx`` as a 1-d int64 tensor; raises IndexError naming the first bad index."""
    user_idx = torch.as_tensor(user_idx).to(torch.int64).view(-1)
    bad = (user_idx < 0) | (user_idx >= n_users)
    if bad.any():
        first = int(user_idx[bad][0])
        raise IndexError(f"user_idx {first} is out of range for n_users={n_users}")
    return user_idx


def select_rows(
    indptr: Tensor, indices: Tensor, data: Tensor, user_idx: Tensor, n_items: int
) -> Tensor:
    """Rows ``user_idx`` of a CSR matrix kept as tensors, as a sparse CSR tensor ``(B, I)``.

    Vectorised: the positions of every selected non-zero are built with one
    ``repeat_interleave`` instead of a loop over users.

    >>> indptr, indices, data = torch.tensor([0, 1, 3]), torch.tensor([2, 0, 1]), torch.ones(3)
    >>> select_rows(indptr, indices, data, torch.tensor([1, 1, 0]), 3).to_dense().tolist()
    [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    starts = indptr[user_idx]  # (B,)
    lengths = indptr[user_idx + 1] - starts  # (B,)
    crow = torch.zeros(len(user_idx) + 1, dtype=torch.int64)
    torch.cumsum(lengths, 0, out=crow[1:])
    # position in the stored arrays of each selected non-zero: its row's start + its offset
    entry_row = torch.repeat_interleave(torch.arange(len(user_idx)), lengths)  # (N_B,)
    offsets = torch.arange(int(crow[-1])) - crow[:-1][entry_row]  # (N_B,)
    positions = starts[entry_row] + offsets  # (N_B,)
    return csr_tensor(crow, indices[positions], data[positions], (len(user_idx), n_items))
