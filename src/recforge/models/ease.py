"""EASE: Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019.

An item-item weight matrix ``B`` (I x I) learned in closed form from the binary user-item
matrix ``X`` (U x I). The training objective (Eq. 1 of the paper) is

    min_B ‖X − X B‖²_F + λ ‖B‖²_F   subject to   diag(B) = 0,

and its solution via the Lagrangian of the zero-diagonal constraint (Sec. 2.1; Algorithm 1) is

    P = (XᵀX + λI)⁻¹,    B_ij = −P_ij / P_jj  for i ≠ j,    B_jj = 0,

i.e. ``B = I − P · diagMat(1 ⊘ diag(P))``. A user's scores are ``x_u B``.

Memory and time are O(I²) and O(I³): fine for ML-1M (3,706 items, about 2 s), not for
catalogues of hundreds of thousands of items.

Dimension letters: B users in a batch, U users, I items, N non-zeros.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from recforge.core.sequences import Sequences
from recforge.models._sparse import (
    check_user_idx,
    csr_to_tensors,
    interaction_matrix,
    select_rows,
)
from recforge.models.base import FittedRecommender


@dataclass(frozen=True)
class EASEConfig:
    """Args:
    l2: the L2 weight λ added to the Gram matrix's diagonal; the paper reports 200-1000
        as best on ML-20M, Netflix and MSD (default 500).
    """

    l2: float = 500.0

    def __post_init__(self) -> None:
        if isinstance(self.l2, bool) or not np.isfinite(self.l2) or self.l2 <= 0:
            raise ValueError(f"l2 must be a finite number > 0, got {self.l2!r}")


class EASE(FittedRecommender):
    """EASE: ``score_all(u) = x_u B`` with ``B`` from the closed form above.

    ``weights_`` is ``B`` (float32, zero diagonal); the binarised training rows are kept as
    CSR tensors (``train_*_``) so that a loaded checkpoint can score.

    >>> train = sp.csr_matrix([[1, 1, 0], [1, 1, 0], [0, 1, 1]])
    >>> model = EASE(EASEConfig(l2=1.0), n_users=3, n_items=3).fit(train)
    >>> model.weights_.diagonal().tolist()
    [0.0, 0.0, 0.0]
    >>> scores = model.score_all(torch.tensor([2]))  # user 2 has seen items 1 and 2
    >>> scores.shape
    torch.Size([1, 3])
    >>> bool(scores[0, 0] > 0)  # unseen item 0 co-occurs with seen item 1
    True
    """

    config_class = EASEConfig
    state_names = ("weights_", "train_indptr_", "train_indices_", "train_data_")

    weights_: Tensor  # (I, I) float32, B with a zero diagonal
    train_indptr_: Tensor  # (U+1,) int64
    train_indices_: Tensor  # (N,) int64
    train_data_: Tensor  # (N,) float32, all ones (binarised)

    def __init__(self, config: EASEConfig, n_users: int, n_items: int) -> None:
        super().__init__(config, n_users, n_items)

    def fit(self, train: sp.csr_matrix) -> EASE:
        """Solve for ``B`` from ``train`` (users x items), in float64."""
        matrix = interaction_matrix(train, self.n_users, self.n_items, binary=True)
        # G = XᵀX + λI; the counts are integers, so the sparse product is exact
        gram = torch.from_numpy((matrix.T @ matrix).toarray().astype(np.float64))  # (I, I)
        gram.diagonal().add_(self.config.l2)
        # G is symmetric positive definite (λ > 0): invert through its Cholesky factor
        precision = torch.cholesky_inverse(torch.linalg.cholesky(gram))  # P = G⁻¹, (I, I)
        weights = -precision / precision.diagonal()[None, :]  # B_ij = −P_ij / P_jj, (I, I)
        weights.diagonal().zero_()  # B_jj = 0: the constraint diag(B) = 0
        self.weights_ = weights.to(torch.float32)
        self.train_indptr_, self.train_indices_, self.train_data_ = csr_to_tensors(matrix)
        return self

    def score_all(self, user_idx: Tensor) -> Tensor:
        """``x_u B`` for each user: ``(B, I)`` float32."""
        self.check_fitted()
        user_idx = check_user_idx(user_idx, self.n_users)
        rows = select_rows(
            self.train_indptr_, self.train_indices_, self.train_data_, user_idx, self.n_items
        )  # (B, I) sparse CSR
        return rows @ self.weights_.to(torch.float32)  # (B, I)

    def set_histories(self, sequences: Sequences) -> None:
        """Score users from these histories from now on (the test protocol of a
        leave-one-out split feeds the validation item); the learned weights stay."""
        self.check_fitted()
        matrix = interaction_matrix(
            sequences.to_csr(self.n_items), self.n_users, self.n_items, binary=True
        )
        self.train_indptr_, self.train_indices_, self.train_data_ = csr_to_tensors(matrix)

    def score_history(self, history: sp.csr_matrix) -> Tensor:
        """``x B`` for histories given explicitly (rows of ``history``, users x items): how
        the server scores a user whose latest events are newer than the training data.

        >>> model = EASE(EASEConfig(l2=1.0), n_users=2, n_items=3)
        >>> model = model.fit(sp.csr_matrix([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]]))
        >>> history = sp.csr_matrix([[1.0, 0.0, 0.0]])
        >>> bool(model.score_history(history)[0, 1] > model.score_history(history)[0, 2])
        True
        """
        self.check_fitted()
        rows = interaction_matrix(history, history.shape[0], self.n_items, binary=True)
        return torch.from_numpy(rows.toarray()) @ self.weights_.to(torch.float32)  # (B, I)
