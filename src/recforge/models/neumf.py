"""Neural Matrix Factorization (NeuMF), He et al. WWW 2017, Sec. 3.4: GMF and MLP with
separate embeddings, their last hidden layers concatenated and weighted by ``h`` (Eq. 12).
With pre-training (Sec. 3.4.1) both parts start from trained GMF and MLP models and
``h = [α·h_GMF ; (1-α)·h_MLP]`` with α = 0.5.

Dimension letters: B batch, I items, D GMF factors, H last MLP layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from recforge.core.batches import UserItemBatch
from recforge.models.base import NeuralRecommender
from recforge.models.gmf import GMF, GMFConfig
from recforge.models.layers import Tower
from recforge.models.mlp import MLP, MLPConfig


@dataclass(frozen=True)
class NeuMFConfig:
    """Args:
    factors: GMF latent size (the paper uses the same number of predictive factors for the
        GMF part and the last MLP layer).
    layers: MLP tower widths, ``layers[0] // 2`` per embedding side.
    dropout: dropout in the MLP tower.
    init_std: std of the Gaussian used for embeddings.
    """

    factors: int = 8
    layers: tuple[int, ...] = (64, 32, 16, 8)
    dropout: float = 0.0
    init_std: float = 0.01

    def __post_init__(self) -> None:
        GMFConfig(self.factors, self.init_std)
        MLPConfig(self.layers, self.dropout, self.init_std)

    @property
    def gmf(self) -> GMFConfig:
        return GMFConfig(self.factors, self.init_std)

    @property
    def mlp(self) -> MLPConfig:
        return MLPConfig(self.layers, self.dropout, self.init_std)


class NeuMF(NeuralRecommender):
    """NeuMF = GMF ⊕ MLP.

    >>> model = NeuMF(NeuMFConfig(factors=4, layers=(8, 4)), n_users=3, n_items=5)
    >>> batch = UserItemBatch(torch.tensor([0, 1]), torch.tensor([2, 3]))
    >>> bool(torch.allclose(model(batch), model.score_all(batch.user_idx)[[0, 1], [2, 3]]))
    True
    """

    config_class = NeuMFConfig

    def __init__(self, config: NeuMFConfig, n_users: int, n_items: int) -> None:
        super().__init__(n_users, n_items)
        self.config = config
        self.gmf_user_embedding = nn.Embedding(n_users, config.factors)
        self.gmf_item_embedding = nn.Embedding(n_items, config.factors)
        nn.init.normal_(self.gmf_user_embedding.weight, std=config.init_std)
        nn.init.normal_(self.gmf_item_embedding.weight, std=config.init_std)
        self.tower = Tower(config.mlp, n_users, n_items)
        self.output = nn.Linear(config.factors + self.tower.width, 1)
        nn.init.kaiming_uniform_(self.output.weight, a=1.0)
        nn.init.zeros_(self.output.bias)

    def forward(self, batch: UserItemBatch) -> Tensor:
        gmf = self.gmf_user_embedding(batch.user_idx) * self.gmf_item_embedding(batch.item_idx)
        mlp = self.tower(batch.user_idx, batch.item_idx)  # (B, H)
        return self.output(torch.cat([gmf, mlp], dim=-1)).squeeze(-1)  # (B,)

    def score_all(self, user_idx: Tensor) -> Tensor:
        weight_gmf = self.output.weight[0, : self.config.factors]  # (D,)
        weight_mlp = self.output.weight[0, self.config.factors :]  # (H,)
        rows = max(1, (1 << 22) // (self.n_items * max(self.config.layers)))
        out = []
        for start in range(0, len(user_idx), rows):
            users = user_idx[start : start + rows]
            gmf = (self.gmf_user_embedding(users) * weight_gmf) @ self.gmf_item_embedding.weight.T
            mlp = self.tower.all_items(users) @ weight_mlp  # (b, I)
            out.append(gmf + mlp + self.output.bias)
        return torch.cat(out) if out else torch.empty(0, self.n_items)

    @classmethod
    def from_pretrained(cls, gmf: GMF, mlp: MLP, *, alpha: float = 0.5) -> NeuMF:
        """NeuMF initialised from trained GMF and MLP models (Sec. 3.4.1): embeddings and
        tower copied, output weights ``[α·h_GMF ; (1-α)·h_MLP]``, bias averaged likewise."""
        if (gmf.n_users, gmf.n_items) != (mlp.n_users, mlp.n_items):
            raise ValueError("GMF and MLP were trained on different user/item sets")
        config = NeuMFConfig(
            factors=gmf.config.factors,
            layers=mlp.config.layers,
            dropout=mlp.config.dropout,
            init_std=gmf.config.init_std,
        )
        model = cls(config, gmf.n_users, gmf.n_items)
        with torch.no_grad():
            model.gmf_user_embedding.weight.copy_(gmf.user_embedding.weight)
            model.gmf_item_embedding.weight.copy_(gmf.item_embedding.weight)
            model.tower.load_state_dict(mlp.tower.state_dict())
            model.output.weight.copy_(
                torch.cat([alpha * gmf.output.weight, (1 - alpha) * mlp.output.weight], dim=1)
            )
            model.output.bias.copy_(alpha * gmf.output.bias + (1 - alpha) * mlp.output.bias)
        return model
