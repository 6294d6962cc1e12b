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

    def to_csr(self, n_items: int) -> sp.csr_matrix:
        """Users x items float32 matrix counting each user's items (order dropped).

        >>> Sequences.from_lists([[2, 0, 2], []]).to_csr(3).toarray().tolist()
        [[1.0, 0.0, 2.0], [0.0, 0.0, 0.0]]
        """
        data = np.ones(len(self.item_idx), np.float32)
        matrix = sp.csr_matrix((data, self.item_idx, self.indptr), shape=(len(self), n_items))
        matrix.sum_duplicates()
        return matrix

    def padded(self, user_idx: np.ndarray | None = None, max_len: int = 50) -> np.ndarray:
        """The latest ``max_len`` items of each user as tokens ``item_idx + 1``, left-padded
        with 0: ``(B, max_len)`` int64 (all users when ``user_idx`` is None).

        >>> Sequences.from_lists([[2, 0, 1], []]).padded(max_len=2).tolist()
        [[1, 2], [0, 0]]
        """
        users = np.arange(len(self)) if user_idx is None else np.asarray(user_idx, np.int64)
        ends = self.indptr[users + 1]
        return self._tokens(ends, ends - self.indptr[users], max_len, shift=0)

    def windows(self, max_len: int) -> tuple[np.ndarray, np.ndarray]:
        """Next-item training windows ``(inputs, targets)``, each ``(W, max_len)`` tokens
        left-padded with 0: every item after a user's first is a target exactly once.

        A history longer than ``max_len + 1`` is cut into consecutive windows from its end
        (the first input of an earlier window loses the items before it).

        >>> inputs, targets = Sequences.from_lists([[5, 6, 7, 8], [1]]).windows(2)
        >>> inputs.tolist(), targets.tolist()
        ([[7, 8], [0, 6]], [[8, 9], [0, 7]])
        """
        if max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len}")
        n_inputs = np.maximum(np.diff(self.indptr) - 1, 0)  # positions with a next item
        chunks = -(-n_inputs // max_len)  # ceil
        users = np.repeat(np.arange(len(self)), chunks)
        first_chunk = np.repeat(np.cumsum(chunks) - chunks, chunks)
        chunk = np.arange(len(users)) - first_chunk  # 0 = the latest window
        ends = self.indptr[users] + n_inputs[users] - chunk * max_len  # exclusive, flat
        lengths = np.minimum(ends - self.indptr[users], max_len)
        return (
            self._tokens(ends, lengths, max_len, shift=0),
            self._tokens(ends, lengths, max_len, shift=1),
        )

    def _tokens(
        self, ends: np.ndarray, lengths: np.ndarray, max_len: int, shift: int
    ) -> np.ndarray:
        """Rows of ``item_idx[end - length + shift : end + shift] + 1`` left-padded to
        ``max_len``."""
        lengths = np.minimum(lengths, max_len)
        position = ends[:, None] - max_len + np.arange(max_len)  # (B, L) flat index
        valid = position >= (ends - lengths)[:, None]
        flat = np.where(valid, position + shift, 0)
        if not len(self.item_idx):
            return np.zeros((len(ends), max_len), np.int64)
        return np.where(valid, self.item_idx[flat] + 1, 0).astype(np.int64)
