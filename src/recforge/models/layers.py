"""Layers shared by more than one model.

Dimension letters: B batch, I items, E embedding size per side, H hidden width.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from recforge.models.mlp import MLPConfig


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
