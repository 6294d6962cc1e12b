"""Generalized Matrix Factorization (GMF), He et al., "Neural Collaborative Filtering",
WWW 2017, Sec. 3.2: ŷ_ui = σ(hᵀ (p_u ⊙ q_i)) — this module returns the logit hᵀ(p_u ⊙ q_i).

Dimension letters: B batch, I items, D latent factors.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from recforge.core.batches import UserItemBatch
from recforge.models.base import NeuralRecommender


@dataclass(frozen=True)
class GMFConfig:
    """Args:
    factors: latent size D, the paper's "predictive factors" (8, 16, 32, 64).
    init_std: std of the Gaussian used for embeddings (the paper: N(0, 0.01)).
    """

    factors: int = 8
    init_std: float = 0.01

    def __post_init__(self) -> None:
        if self.factors < 1:
            raise ValueError(f"factors must be >= 1, got {self.factors}")


class GMF(NeuralRecommender):
    """GMF: element-wise product of user and item embeddings, weighted by ``h``.

    >>> import torch
    >>> model = GMF(GMFConfig(factors=4), n_users=3, n_items=5)
    >>> model(UserItemBatch(torch.tensor([0, 2]), torch.tensor([1, 4]))).shape
    torch.Size([2])
    """

    config_class = GMFConfig

    def __init__(self, config: GMFConfig, n_users: int, n_items: int) -> None:
        super().__init__(n_users, n_items)
        self.config = config
        self.user_embedding = nn.Embedding(n_users, config.factors)
        self.item_embedding = nn.Embedding(n_items, config.factors)
        self.output = nn.Linear(config.factors, 1)  # h, plus a bias as in the reference code
        nn.init.normal_(self.user_embedding.weight, std=config.init_std)
        nn.init.normal_(self.item_embedding.weight, std=config.init_std)
        nn.init.kaiming_uniform_(self.output.weight, a=1.0)  # LeCun uniform
        nn.init.zeros_(self.output.bias)

    def interaction(self, user_idx: Tensor, item_idx: Tensor) -> Tensor:
        """The last hidden layer p_u ⊙ q_i ``(B, D)``, reused by NeuMF."""
        return self.user_embedding(user_idx) * self.item_embedding(item_idx)

    def forward(self, batch: UserItemBatch) -> Tensor:
        return self.output(self.interaction(batch.user_idx, batch.item_idx)).squeeze(-1)  # (B,)

    def score_all(self, user_idx: Tensor) -> Tensor:
        weighted = self.user_embedding(user_idx) * self.output.weight  # (B, D)
        return weighted @ self.item_embedding.weight.T + self.output.bias  # (B, I)
