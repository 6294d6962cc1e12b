"""SASRec: self-attentive sequential recommendation (Kang & McAuley, ICDM 2018).

Item embeddings scaled by √D plus learned position embeddings go through ``blocks``
pre-norm Transformer blocks (causal self-attention, position-wise feed-forward of width D,
residual connections, dropout), then a final layer norm; the state after each position
scores the next item by a dot product with the shared item embedding table.

Padding (token 0, on the left) never leaks into a real position: keys at padded positions
are masked, and a padded position attends only to itself so that no attention row is empty.
Trained on every position of each window (``training.loop`` with ``loss = "ce"``, softmax
over all items, or the paper's ``"bce"`` with sampled negatives).

Dimension letters: B windows, L positions, D hidden size, H heads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from recforge.models.sequential import SequenceConfig, SequentialRecommender


@dataclass(frozen=True)
class SASRecConfig(SequenceConfig):
    """:class:`SequenceConfig` plus ``blocks`` (Transformer blocks) and ``heads``
    (attention heads; must divide ``factors``)."""

    blocks: int = 2
    heads: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.blocks < 1 or self.heads < 1:
            raise ValueError(f"blocks and heads must be >= 1, got {self.blocks}, {self.heads}")
        if self.factors % self.heads:
            raise ValueError(f"heads ({self.heads}) must divide factors ({self.factors})")


class SASRec(SequentialRecommender):
    """Causal self-attention over the latest ``max_len`` items.

    >>> model = SASRec(SASRecConfig(factors=8, max_len=5), n_users=2, n_items=7)
    >>> model.hidden(torch.tensor([[0, 0, 3, 1, 2]])).shape
    torch.Size([1, 5, 8])
    """

    config_class = SASRecConfig
    config: SASRecConfig
    future: Tensor  # (L, L) bool, True above the diagonal: a later position is hidden
    diagonal: Tensor  # (L, L) bool identity

    def __init__(self, config: SASRecConfig, n_users: int, n_items: int) -> None:
        super().__init__(config, n_users, n_items)
        d = config.factors
        self.position_embedding = nn.Embedding(config.max_len, d)
        nn.init.normal_(self.position_embedding.weight, std=config.init_std)
        layer = nn.TransformerEncoderLayer(
            d,
            config.heads,
            dim_feedforward=d,
            dropout=config.dropout,
            activation="relu",
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(
            layer, config.blocks, enable_nested_tensor=False, norm=nn.LayerNorm(d)
        )
        self.dropout = nn.Dropout(config.dropout)
        length = config.max_len
        future = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)
        self.register_buffer("future", future, persistent=False)
        self.register_buffer("diagonal", torch.eye(length, dtype=torch.bool), persistent=False)

    def hidden(self, tokens: Tensor) -> Tensor:
        length = tokens.shape[1]
        pad = tokens == 0  # (B, L)
        positions = torch.arange(length, device=tokens.device) + self.config.max_len - length
        x = self.item_embedding(tokens) * math.sqrt(self.config.factors)
        x = self.dropout(x + self.position_embedding(positions)) * ~pad[..., None]  # (B, L, D)
        future, diagonal = self.future[:length, :length], self.diagonal[:length, :length]
        hidden_keys = future[None] | (pad[:, None, :] & ~diagonal[None])  # (B, L, L)
        mask = hidden_keys.repeat_interleave(self.config.heads, dim=0)  # (B*H, L, L)
        return self.blocks(x, mask=mask) * ~pad[..., None]  # (B, L, D)


__all__ = ["SASRec", "SASRecConfig"]
