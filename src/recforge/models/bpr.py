"""BPR-MF: matrix factorisation trained with Bayesian Personalized Ranking (Rendle et al.,
UAI 2009). Score ŷ_ui = p_u · q_i + b_i; the BPR loss lives in ``training.losses``.

Dimension letters: B batch, I items, D factors.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from recforge.core.batches import UserItemBatch
from recforge.models.base import NeuralRecommender


@dataclass(frozen=True)
class BPRMFConfig:
    """Args:
    factors: latent size D.
    init_std: std of the Gaussian used for embeddings.
    item_bias: learn a per-item bias b_i.
    """

    factors: int = 64
    init_std: float = 0.01
    item_bias: bool = True

    def __post_init__(self) -> None:
        if self.factors < 1:
            raise ValueError(f"factors must be >= 1, got {self.factors}")


class BPRMF(NeuralRecommender):
    """Dot-product matrix factorisation.

    >>> import torch
    >>> model = BPRMF(BPRMFConfig(factors=4), n_users=3, n_items=5)
    >>> model.score_all(torch.tensor([0])).shape
    torch.Size([1, 5])
    """

    config_class = BPRMFConfig

    def __init__(self, config: BPRMFConfig, n_users: int, n_items: int) -> None:
        super().__init__(n_users, n_items)
        self.config = config
        self.user_embedding = nn.Embedding(n_users, config.factors)
        self.item_embedding = nn.Embedding(n_items, config.factors)
        self.item_bias = nn.Embedding(n_items, 1)
        nn.init.normal_(self.user_embedding.weight, std=config.init_std)
        nn.init.normal_(self.item_embedding.weight, std=config.init_std)
        nn.init.zeros_(self.item_bias.weight)
        self.item_bias.weight.requires_grad_(config.item_bias)

    def forward(self, batch: UserItemBatch) -> Tensor:
        users = self.user_embedding(batch.user_idx)  # (B, D)
        items = self.item_embedding(batch.item_idx)  # (B, D)
        return (users * items).sum(-1) + self.item_bias(batch.item_idx).squeeze(-1)  # (B,)

    def score_all(self, user_idx: Tensor) -> Tensor:
        users = self.user_embedding(user_idx)  # (B, D)
        return users @ self.item_embedding.weight.T + self.item_bias.weight.T  # (B, I)
