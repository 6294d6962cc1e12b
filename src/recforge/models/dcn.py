"""Deep & Cross Network (DCN, v1), Wang et al. ADKDD 2017.

Embedding and stacking layer (Sec. 2.1): ``x0 = [x_embed,1; …; x_embed,k; x_dense]``, here the
embedded categorical fields, each history field pooled over the behaviours (as BARS feeds
sequence features to DCN) and the dense columns.

Cross network (Sec. 2.2, Eq. 3): ``x_{l+1} = x0 x_l^T w_l + b_l + x_l = f(x_l, w_l, b_l) + x_l``,
each layer one weight vector ``w_l`` and bias ``b_l`` of x0's width; ``x0 x_l^T w_l`` is
computed as ``x0 · (x_l · w_l)``, a scalar per row, never the ``K × K`` outer product.

Deep network (Eq. 4): ``h_{l+1} = ReLU(W_l h_l + b_l)``, with batch normalisation as the
paper trains it. Combination layer (Eq. 5): ``p = σ([x_L1; h_L2]^T w_logits + b_logits)``.
Defaults are the paper's best Criteo setting: 6 cross layers, 2 deep layers of 1024.

Dimension letters: B rows, F sparse + multi-valued fields, H history fields, D embedding
size, N dense columns, K = (F+H)·D + N the width of x0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from recforge.core.batches import FeatureBatch
from recforge.features.fields import FeatureSchema
from recforge.models.dnn import check_common, check_dense, embed_row, n_row_fields
from recforge.models.ranker import FeatureEmbedding, Ranker, feed_forward


class CrossNetwork(nn.Module):
    """``L`` cross layers of Eq. 3 over ``x0`` ``(B, K)``: returns ``x_L`` ``(B, K)``."""

    def __init__(self, width: int, layers: int) -> None:
        super().__init__()
        # w_l, (L, K): Xavier-normal as a K × 1 matrix, std sqrt(2 / (K + 1))
        self.weights = nn.Parameter(torch.randn(layers, width) * math.sqrt(2.0 / (width + 1)))
        self.biases = nn.Parameter(torch.zeros(layers, width))  # b_l, (L, K)

    def forward(self, x0: Tensor) -> Tensor:
        x = x0  # (B, K)
        for weight, bias in zip(self.weights, self.biases, strict=True):
            # Eq. 3: x0 (x_l^T w_l) + b_l + x_l
            x = x0 * (x @ weight).unsqueeze(-1) + bias + x  # (B, K)
        return x


def stack_inputs(
    embedding: FeatureEmbedding, batch: FeatureBatch, pooling: Literal["mean", "sum"]
) -> Tensor:
    """``x0`` of Sec. 2.1: the embedded fields and the dense columns, ``(B, K)``."""
    fields = embed_row(embedding, batch, pooling)  # (B, F+H, D)
    return torch.cat([fields.flatten(1), check_dense(batch, embedding.schema)], dim=1)


@dataclass(frozen=True)
class DCNConfig:
    """Args:
    embedding_dim: ``D`` of every field (the paper sizes each field ``6·|vocab|^¼``; one
        size for all here, 10 as BARS runs DCN on Criteo).
    cross_layers: ``L1``, cross layers (the paper's best on Criteo: 6).
    hidden: deep network widths (``()``: cross network only; the paper's best: 1024, 1024).
    dropout: after each deep layer.
    batch_norm: batch normalisation in the deep network (the paper uses it).
    history_pooling: how a history field becomes one field, ``"mean"`` or ``"sum"``.
    init_std: std of the embeddings' normal initialisation.
    """

    embedding_dim: int = 10
    cross_layers: int = 6
    hidden: tuple[int, ...] = (1024, 1024)
    dropout: float = 0.0
    batch_norm: bool = True
    history_pooling: Literal["mean", "sum"] = "mean"
    init_std: float = 0.01

    def __post_init__(self) -> None:
        check_common(self.embedding_dim, self.hidden, self.dropout)
        if self.cross_layers < 1:
            raise ValueError(f"cross_layers must be >= 1, got {self.cross_layers}")


class DCN(Ranker):
    """Deep & Cross Network: ``w_logits^T [CrossNet(x0); DNN(x0)]`` (Eq. 5)."""

    config_class = DCNConfig

    def __init__(self, config: DCNConfig, schema: FeatureSchema) -> None:
        super().__init__(config, schema)
        self.embedding = FeatureEmbedding(schema, config.embedding_dim, config.init_std)
        width = n_row_fields(schema) * config.embedding_dim + schema.n_dense  # K
        self.cross = CrossNetwork(width, config.cross_layers)
        self.deep = feed_forward(width, config.hidden, config.dropout, None, config.batch_norm)
        self.output = nn.Linear(width + (config.hidden[-1] if config.hidden else 0), 1)

    def forward(self, batch: FeatureBatch) -> Tensor:
        x0 = stack_inputs(self.embedding, batch, self.config.history_pooling)  # (B, K)
        parts = [self.cross(x0)]  # x_L1, (B, K)
        if self.config.hidden:
            parts.append(self.deep(x0))  # h_L2, (B, H_last)
        return self.output(torch.cat(parts, dim=1)).squeeze(-1)  # (B,) Eq. 5
