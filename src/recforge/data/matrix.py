"""Index interactions and build sparse user-item matrices."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recforge.core.vocab import IdVocab


@dataclass
class Indexed:
    """Interactions with contiguous ``user_idx``/``item_idx`` columns and the vocabularies."""

    frame: pd.DataFrame  # canonical columns + user_idx, item_idx (int64)
    user_vocab: IdVocab
    item_vocab: IdVocab

    @property
    def n_users(self) -> int:
        return len(self.user_vocab)

    @property
    def n_items(self) -> int:
        return len(self.item_vocab)


def index_interactions(
    interactions: pd.DataFrame,
    *,
    user_vocab: IdVocab | None = None,
    item_vocab: IdVocab | None = None,
) -> Indexed:
    """Add ``user_idx``/``item_idx`` columns, fitting vocabularies unless given."""
    user_vocab = user_vocab or IdVocab(kind="user", sort=True).fit(interactions["user_id"])
    item_vocab = item_vocab or IdVocab(kind="item", sort=True).fit(interactions["item_id"])
    frame = interactions.copy()
    frame["user_idx"] = user_vocab.transform(frame["user_id"])
    frame["item_idx"] = item_vocab.transform(frame["item_id"])
    return Indexed(frame, user_vocab, item_vocab)


def to_csr(
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    *,
    n_users: int,
    n_items: int,
    values: np.ndarray | None = None,
    binary: bool = True,
) -> sp.csr_matrix:
    """A users x items CSR matrix; duplicates are summed, or set to 1 when ``binary``.

    >>> to_csr(np.array([0, 0, 1]), np.array([1, 1, 2]), n_users=2, n_items=3).toarray()
    array([[0., 1., 0.],
           [0., 0., 1.]], dtype=float32)
    """
    data = np.ones(len(user_idx), np.float32) if values is None else np.asarray(values, np.float32)
    matrix = sp.csr_matrix(
        (data, (np.asarray(user_idx), np.asarray(item_idx))), shape=(n_users, n_items)
    )
    matrix.sum_duplicates()
    if binary:
        matrix.data[:] = 1.0
    matrix.sort_indices()
    return matrix


def frame_to_csr(frame: pd.DataFrame, n_users: int, n_items: int) -> sp.csr_matrix:
    """Binary CSR of an indexed frame (``user_idx``/``item_idx`` columns)."""
    return to_csr(
        frame["user_idx"].to_numpy(), frame["item_idx"].to_numpy(), n_users=n_users, n_items=n_items
    )
