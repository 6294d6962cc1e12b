"""Most-popular baseline: every user gets the same scores, the number of distinct users who
interacted with each item in the training split.

Dimension letters: B users in a batch, I items.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from recforge.models._sparse import check_user_idx, interaction_matrix
from recforge.models.base import FittedRecommender


@dataclass(frozen=True)
class PopularityConfig:
    """Popularity has no hyper-parameters; the config exists so every model has one."""


class Popularity(FittedRecommender):
    """Scores item ``i`` by how many distinct training users interacted with it.

    Interaction weights are ignored: a user who rated an item 5 times counts once.

    >>> train = sp.csr_matrix([[1, 0, 1], [0, 0, 1], [4, 0, 2]])
    >>> model = Popularity(PopularityConfig(), n_users=3, n_items=3).fit(train)
    >>> model.score_all(torch.tensor([0, 1])).tolist()
    [[2.0, 0.0, 3.0], [2.0, 0.0, 3.0]]
    """

    config_class = PopularityConfig
    state_names = ("item_counts_",)

    item_counts_: Tensor  # (I,) float32, distinct users per item

    def __init__(self, config: PopularityConfig, n_users: int, n_items: int) -> None:
        super().__init__(config, n_users, n_items)

    def fit(self, train: sp.csr_matrix) -> Popularity:
        """Count the distinct users of every item in ``train`` (users x items)."""
        matrix = interaction_matrix(train, self.n_users, self.n_items, binary=True)
        counts = np.bincount(matrix.indices, minlength=self.n_items)  # (I,)
        self.item_counts_ = torch.from_numpy(counts.astype(np.float32))
        return self

    def score_all(self, user_idx: Tensor) -> Tensor:
        """The item counts repeated for each user: ``(B, I)`` float32."""
        self.check_fitted()
        user_idx = check_user_idx(user_idx, self.n_users)
        return self.item_counts_.to(torch.float32).repeat(len(user_idx), 1)  # (B, I)
