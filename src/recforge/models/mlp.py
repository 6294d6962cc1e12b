"""The MLP model of NCF, He et al. WWW 2017, Sec. 3.3: concatenated user and item
embeddings through a ReLU tower (each layer half the previous); the last layer's width is the
"predictive factors". Returns logits.

Dimension letters: B batch, I items, E embedding size per side (= layers[0] / 2), H hidden.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from recforge.core.batches import UserItemBatch
from recforge.models.base import NeuralRecommender
from recforge.models.layers import Tower


@dataclass(frozen=True)
class MLPConfig:
    """Args:
    layers: widths of the tower; ``layers[0]`` is the concatenated embedding size, so each
        side embeds into ``layers[0] // 2``; the paper's default for 8 predictive factors is
        (64, 32, 16, 8).
    dropout: dropout after each hidden ReLU (0 in the paper).
    init_std: std of the Gaussian used for embeddings.
    """

    layers: tuple[int, ...] = (64, 32, 16, 8)
    dropout: float = 0.0
    init_std: float = 0.01

    def __post_init__(self) -> None:
        if len(self.layers) < 1 or any(width < 1 for width in self.layers):
            raise ValueError(f"layers must be positive widths, got {self.layers}")
        if self.layers[0] % 2:
            raise ValueError(f"layers[0] must be even (two embeddings), got {self.layers[0]}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


class MLP(NeuralRecommender):
    """NCF's MLP recommender.

    >>> model = MLP(MLPConfig(layers=(8, 4)), n_users=3, n_items=5)
    >>> model.score_all(torch.tensor([0, 1])).shape
    torch.Size([2, 5])
    """

    config_class = MLPConfig

    def __init__(self, config: MLPConfig, n_users: int, n_items: int) -> None:
        super().__init__(n_users, n_items)
        self.config = config
        self.tower = Tower(config, n_users, n_items)
        self.output = nn.Linear(self.tower.width, 1)
        nn.init.kaiming_uniform_(self.output.weight, a=1.0)
        nn.init.zeros_(self.output.bias)

    def forward(self, batch: UserItemBatch) -> Tensor:
        return self.output(self.tower(batch.user_idx, batch.item_idx)).squeeze(-1)  # (B,)

    def score_all(self, user_idx: Tensor) -> Tensor:
        widest = max(self.config.layers)
        rows = max(1, (1 << 22) // (self.n_items * widest))  # ~16 MB of activations per chunk
        out = [
            self.output(self.tower.all_items(user_idx[start : start + rows])).squeeze(-1)  # (b, I)
            for start in range(0, len(user_idx), rows)
        ]
        return torch.cat(out) if out else torch.empty(0, self.n_items)
