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


class Tower(nn.Module):
    """Embeddings plus the ReLU tower; exposes the last hidden layer for NeuMF."""

    def __init__(self, config: MLPConfig, n_users: int, n_items: int) -> None:
        super().__init__()
        half = config.layers[0] // 2
        self.user_embedding = nn.Embedding(n_users, half)
        self.item_embedding = nn.Embedding(n_items, half)
        nn.init.normal_(self.user_embedding.weight, std=config.init_std)
        nn.init.normal_(self.item_embedding.weight, std=config.init_std)
        self.hidden: list[nn.Linear] = nn.ModuleList(  # type: ignore[assignment]
            nn.Linear(width_in, width_out)
            for width_in, width_out in zip(config.layers[:-1], config.layers[1:], strict=True)
        )
        for layer in self.hidden:
            nn.init.kaiming_uniform_(layer.weight, a=1.0)  # LeCun uniform, as the reference code
            nn.init.zeros_(layer.bias)
        self.dropout = nn.Dropout(config.dropout)

    @property
    def width(self) -> int:
        return (
            self.hidden[-1].out_features
            if len(self.hidden)
            else self.user_embedding.embedding_dim * 2
        )

    def _rest(self, hidden: Tensor, start: int) -> Tensor:
        for layer in self.hidden[start:]:
            hidden = self.dropout(torch.relu(layer(hidden)))
        return hidden

    def forward(self, user_idx: Tensor, item_idx: Tensor) -> Tensor:
        joint = torch.cat([self.user_embedding(user_idx), self.item_embedding(item_idx)], dim=-1)
        return self._rest(joint, 0)  # (B, H)

    def all_items(self, user_idx: Tensor) -> Tensor:
        """Last hidden layer for every (user, item) pair ``(B, I, H)``.

        The first layer is linear in the concatenation, W [p; q] = W_p p + W_q q, so it is
        computed once per user and once per item and summed by broadcasting instead of
        gathering B·I embedding pairs.
        """
        users = self.user_embedding(user_idx)  # (B, E)
        items = self.item_embedding.weight  # (I, E)
        if not len(self.hidden):
            expanded = users[:, None, :].expand(-1, items.shape[0], -1)  # (B, I, E)
            return torch.cat([expanded, items[None].expand(len(users), -1, -1)], dim=-1)
        first = self.hidden[0]
        half = users.shape[1]
        user_part = users @ first.weight[:, :half].T + first.bias  # (B, H)
        item_part = items @ first.weight[:, half:].T  # (I, H)
        hidden = self.dropout(
            torch.relu(user_part[:, None, :] + item_part[None, :, :])
        )  # (B, I, H)
        return self._rest(hidden, 1)


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
