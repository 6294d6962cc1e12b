"""SASRec: self-attentive sequential recommendation (Kang & McAuley, ICDM 2018).

Item embeddings scaled by √D plus learned position embeddings go through ``blocks``
pre-norm Transformer blocks (causal self-attention, position-wise feed-forward of width D,
residual connections, dropout), then a final layer norm; the state after each position
scores the next item by a dot product with the shared item embedding table.

``norm_first = False`` gives the post-norm variant of BERT4Rec's and S3-Rec's code (their
SASRec baseline, whose numbers the Beauty anchors are): embeddings unscaled, summed with
positions, layer-normed; each block normalises after its residual; no final norm. With
``activation = "gelu"``, ``heads = 2`` and ``feedforward = 4 * D`` it is that baseline.

Padding (token 0, on the left) never leaks into a real position: keys at padded positions
are masked, and a padded position attends only to itself so that no attention row is empty.
Trained on every position of each window (``training.loop`` with ``loss = "ce"``, softmax
over all items, or the paper's ``"bce"`` with sampled negatives).

Dimension letters: B windows, L positions, D hidden size, H heads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from recforge.models.sequential import SequenceConfig, SequentialRecommender


@dataclass(frozen=True)
class SASRecConfig(SequenceConfig):
    """:class:`SequenceConfig` plus:

    Args:
        blocks: Transformer blocks.
        heads: attention heads (must divide ``factors``).
        norm_first: pre-norm blocks (the SASRec paper) or post-norm (BERT4Rec / S3-Rec code).
        activation: of the feed-forward layer, ``"relu"`` (paper) or ``"gelu"``.
        feedforward: inner width of the feed-forward layer; 0 means ``factors`` (paper).
        feedforward_dropout: dropout after the feed-forward layer's activation too, as in
            the SASRec paper's code and PyTorch's block; S3-Rec's blocks have none there.
        block_init: ``"torch"`` (PyTorch's defaults for the blocks' linear layers) or
            ``"normal"`` (BERT's and S3-Rec's: weights from N(0, ``init_std``), biases 0).
    """

    blocks: int = 2
    heads: int = 1
    norm_first: bool = True
    activation: Literal["relu", "gelu"] = "relu"
    feedforward: int = 0
    feedforward_dropout: bool = True
    block_init: Literal["torch", "normal"] = "torch"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.blocks < 1 or self.heads < 1:
            raise ValueError(f"blocks and heads must be >= 1, got {self.blocks}, {self.heads}")
        if self.factors % self.heads:
            raise ValueError(f"heads ({self.heads}) must divide factors ({self.factors})")
        if self.activation not in ("relu", "gelu"):
            raise ValueError(f"activation must be 'relu' or 'gelu', got {self.activation!r}")
        if self.block_init not in ("torch", "normal"):
            raise ValueError(f"block_init must be 'torch' or 'normal', got {self.block_init!r}")
        if self.feedforward < 0:
            raise ValueError(f"feedforward must be >= 0, got {self.feedforward}")


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
            dim_feedforward=config.feedforward or d,
            dropout=config.dropout,
            activation=config.activation,
            batch_first=True,
            norm_first=config.norm_first,
        )
        if not config.feedforward_dropout:
            layer.dropout = nn.Dropout(0.0)  # the one between the feed-forward's two layers
        final_norm = nn.LayerNorm(d) if config.norm_first else None
        self.blocks = nn.TransformerEncoder(
            layer, config.blocks, enable_nested_tensor=False, norm=final_norm
        )
        if config.block_init == "normal":
            for name, parameter in self.blocks.named_parameters():
                if "norm" in name:
                    continue
                if name.endswith("bias"):
                    nn.init.zeros_(parameter)
                else:
                    nn.init.normal_(parameter, std=config.init_std)
        if not config.norm_first:
            self.embedding_norm = nn.LayerNorm(d)
        self.dropout = nn.Dropout(config.dropout)
        length = config.max_len
        future = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)
        self.register_buffer("future", future, persistent=False)
        self.register_buffer("diagonal", torch.eye(length, dtype=torch.bool), persistent=False)

    def hidden(self, tokens: Tensor) -> Tensor:
        length = tokens.shape[1]
        pad = tokens == 0  # (B, L)
        positions = torch.arange(length, device=tokens.device) + self.config.max_len - length
        x = self.item_embedding(tokens)
        if self.config.norm_first:
            x = x * math.sqrt(self.config.factors) + self.position_embedding(positions)
        else:
            x = self.embedding_norm(x + self.position_embedding(positions))
        x = self.dropout(x) * ~pad[..., None]  # (B, L, D)
        future, diagonal = self.future[:length, :length], self.diagonal[:length, :length]
        hidden_keys = future[None] | (pad[:, None, :] & ~diagonal[None])  # (B, L, L)
        mask = hidden_keys.repeat_interleave(self.config.heads, dim=0)  # (B*H, L, L)
        return self.blocks(x, mask=mask) * ~pad[..., None]  # (B, L, D)


__all__ = ["SASRec", "SASRecConfig"]
