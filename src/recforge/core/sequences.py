"""Users' histories in time order, packed like a CSR matrix (no per-user Python lists).

Dimension letters: U users, N interactions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class Sequences:
    """``item_idx[indptr[u]:indptr[u + 1]]`` is user ``u``'s history, oldest first.

    >>> seqs = Sequences.from_lists([[2, 0], [], [1]])
    >>> seqs.user(0).tolist(), len(seqs), seqs.n_interactions
    ([2, 0], 3, 3)
    """

    indptr: np.ndarray  # (U+1,) int64
    item_idx: np.ndarray  # (N,) int64

    def __post_init__(self) -> None:
        if self.indptr.ndim != 1 or len(self.indptr) == 0 or self.indptr[0] != 0:
            raise ValueError("indptr must be 1-d and start at 0")
        if self.indptr[-1] != len(self.item_idx) or np.any(np.diff(self.indptr) < 0):
            raise ValueError("indptr must be non-decreasing and end at len(item_idx)")

    def __len__(self) -> int:
        return len(self.indptr) - 1

    @property
    def n_interactions(self) -> int:
        return len(self.item_idx)

    def user(self, user_idx: int) -> np.ndarray:
        return self.item_idx[self.indptr[user_idx] : self.indptr[user_idx + 1]]

    def as_lists(self) -> list[list[int]]:
        return [self.user(u).tolist() for u in range(len(self))]

    @classmethod
    def from_lists(cls, histories: list[list[int]]) -> Sequences:
        lengths = np.array([len(h) for h in histories], np.int64)
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        flat = [item for history in histories for item in history]
        return cls(indptr, np.asarray(flat, np.int64))

    @classmethod
    def from_csr(cls, matrix: sp.csr_matrix) -> Sequences:
        """Histories without time: each user's items in index order (a stand-in for data
        that has no timestamps)."""
        csr = sp.csr_matrix(matrix)
        csr.sort_indices()
        return cls(csr.indptr.astype(np.int64), csr.indices.astype(np.int64))
