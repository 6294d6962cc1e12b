"""Item-based k-nearest-neighbour recommender with cosine similarity.

Deshpande & Karypis, "Item-based top-N recommendation algorithms", TOIS 2004: the similarity
of items ``i`` and ``j`` is the cosine of their (binarised) user columns,

    s_ij = (x_i · x_j) / (‖x_i‖ ‖x_j‖ + shrink),

each item keeps only its ``k`` most similar other items (row ``i`` of the truncated matrix
``S``), and a user's score for item ``j`` is ``Σ_{i seen by u} S_ij = (x_u S)_j`` — the same
contract as ``implicit.nearest_neighbours.ItemItemRecommender``. ``shrink`` (Koren's
shrinkage) damps similarities between rarely seen items.

Dimension letters: B users in a batch, U users, I items, K neighbours per item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from recforge.core.sequences import Sequences
from recforge.models._sparse import (
    check_user_idx,
    csr_tensor,
    csr_to_tensors,
    interaction_matrix,
    select_rows,
)
from recforge.models.base import FittedRecommender


@dataclass(frozen=True)
class ItemKNNConfig:
    """Args:
    k_neighbours: similar items kept per item (capped at ``n_items - 1``).
    shrink: added to the cosine's denominator; 0 gives the plain cosine.
    """

    k_neighbours: int = 100
    shrink: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.k_neighbours, bool) or not isinstance(self.k_neighbours, int):
            raise ValueError(f"k_neighbours must be an integer, got {self.k_neighbours!r}")
        if self.k_neighbours < 1:
            raise ValueError(f"k_neighbours must be >= 1, got {self.k_neighbours}")
        if not np.isfinite(self.shrink) or self.shrink < 0:
            raise ValueError(f"shrink must be a finite number >= 0, got {self.shrink}")


class ItemKNN(FittedRecommender):
    """Item-item cosine kNN; ``score_all(u) = x_u S`` over the binarised training rows.

    The truncated similarity is stored as a fixed ``(I, K)`` layout: ``neighbour_idx_[i]``
    are the ``K`` items most similar to ``i`` (best first) and ``neighbour_sim_[i]`` their
    similarities. The training rows are kept (as CSR tensors) so a loaded checkpoint scores.

    >>> train = sp.csr_matrix([[1, 1, 0], [1, 1, 0], [0, 1, 1]])
    >>> model = ItemKNN(ItemKNNConfig(k_neighbours=1), n_users=3, n_items=3).fit(train)
    >>> model.neighbour_idx_.view(-1).tolist()
    [1, 0, 1]
    >>> [round(s, 4) for s in model.neighbour_sim_.view(-1).tolist()]
    [0.8165, 0.8165, 0.5774]
    >>> [round(s, 4) for s in model.score_all(torch.tensor([2]))[0].tolist()]
    [0.8165, 0.5774, 0.0]
    """

    config_class = ItemKNNConfig
    state_names = (
        "neighbour_idx_",
        "neighbour_sim_",
        "train_indptr_",
        "train_indices_",
        "train_data_",
    )
    #: similarity entries computed per dense chunk (item rows x all items) while fitting;
    #: 2**26 float32 is 256 MiB, so ML-20M's 27k items are done 2,400 rows at a time
    similarity_chunk: ClassVar[int] = 1 << 26

    neighbour_idx_: Tensor  # (I, K) int64
    neighbour_sim_: Tensor  # (I, K) float32
    train_indptr_: Tensor  # (U+1,) int64
    train_indices_: Tensor  # (N,) int64
    train_data_: Tensor  # (N,) float32, all ones (binarised)

    def __init__(self, config: ItemKNNConfig, n_users: int, n_items: int) -> None:
        super().__init__(config, n_users, n_items)
        self._similarity_t: Tensor | None = None  # Sᵀ as sparse CSR, rebuilt from the state

    def fit(self, train: sp.csr_matrix) -> ItemKNN:
        """Compute the top-``k`` cosine neighbours of every item from ``train`` (users x items)."""
        matrix = interaction_matrix(train, self.n_users, self.n_items, binary=True)
        k = max(0, min(self.config.k_neighbours, self.n_items - 1))
        item_rows = matrix.T.tocsr()  # (I, U)
        norms = np.sqrt(np.asarray(item_rows.sum(axis=1)).ravel())  # (I,) ‖x_i‖ of binary columns
        norms_t = torch.from_numpy(norms.astype(np.float32))
        chunk = max(1, self.similarity_chunk // max(self.n_items, 1))
        idx_parts, sim_parts = [], []
        for start in range(0, self.n_items, chunk):
            stop = min(start + chunk, self.n_items)
            overlap = (item_rows[start:stop] @ matrix).toarray()  # (c, I) co-occurrence counts
            overlap_t = torch.from_numpy(overlap.astype(np.float32, copy=False))
            denominator = norms_t[start:stop, None] * norms_t[None, :] + self.config.shrink
            similarity = torch.where(denominator > 0, overlap_t / denominator, 0.0)  # (c, I)
            rows = torch.arange(stop - start)
            similarity[rows, rows + start] = -torch.inf  # an item is not its own neighbour
            top = torch.topk(similarity, k, dim=1)  # (c, K), best first
            idx_parts.append(top.indices)
            sim_parts.append(top.values)
        self.neighbour_idx_ = torch.cat(idx_parts) if idx_parts else torch.empty(0, k).long()
        self.neighbour_sim_ = torch.cat(sim_parts) if sim_parts else torch.empty(0, k)
        self.train_indptr_, self.train_indices_, self.train_data_ = csr_to_tensors(matrix)
        self._similarity_t = None
        return self

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        super().load_state_dict(state)
        self._similarity_t = None

    def similarity_matrix(self) -> Tensor:
        """The truncated similarity ``S`` as a sparse COO tensor ``(I, I)``; row ``i`` holds
        item ``i``'s neighbours."""
        self.check_fitted()
        n_items, k = self.neighbour_idx_.shape
        source = torch.arange(n_items).repeat_interleave(k)  # (I*K,)
        return torch.sparse_coo_tensor(
            torch.stack([source, self.neighbour_idx_.reshape(-1).long()]),
            self.neighbour_sim_.reshape(-1).float(),
            (self.n_items, self.n_items),
            check_invariants=False,  # built from in-range indices above
        ).coalesce()

    def _transposed_similarity(self) -> Tensor:
        if self._similarity_t is None:
            coo = self.similarity_matrix().t().coalesce()  # Sᵀ: row j lists who has j as neighbour
            indices = coo.indices()
            crow = torch.zeros(self.n_items + 1, dtype=torch.int64)
            torch.cumsum(torch.bincount(indices[0], minlength=self.n_items), 0, out=crow[1:])
            self._similarity_t = csr_tensor(crow, indices[1], coo.values(), (self.n_items,) * 2)
        return self._similarity_t

    def score_all(self, user_idx: Tensor) -> Tensor:
        """``x_u S`` for each user: ``(B, I)`` float32."""
        self.check_fitted()
        user_idx = check_user_idx(user_idx, self.n_users)
        rows = select_rows(
            self.train_indptr_, self.train_indices_, self.train_data_, user_idx, self.n_items
        ).to_dense()  # (B, I)
        return self._score_rows(rows)

    def set_histories(self, sequences: Sequences) -> None:
        """Score users from these histories from now on (the test protocol of a
        leave-one-out split feeds the validation item); the learned weights stay."""
        self.check_fitted()
        matrix = interaction_matrix(
            sequences.to_csr(self.n_items), self.n_users, self.n_items, binary=True
        )
        self.train_indptr_, self.train_indices_, self.train_data_ = csr_to_tensors(matrix)

    def score_history(self, history: sp.csr_matrix) -> Tensor:
        """``x S`` for histories given explicitly (rows of ``history``, users x items), as
        the server scores a user's latest events."""
        self.check_fitted()
        rows = interaction_matrix(history, history.shape[0], self.n_items, binary=False)
        return self._score_rows(torch.from_numpy(rows.toarray()))

    def _score_rows(self, rows: Tensor) -> Tensor:
        return (self._transposed_similarity() @ rows.T).T.contiguous()  # (S^T x_u^T)^T: (B, I)
