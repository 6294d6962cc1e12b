"""DeepFM, Guo et al. IJCAI 2017: a factorisation machine and a deep network that share one
embedding layer, trained jointly; Eq. 1: ``ŷ = σ(y_FM + y_DNN)``.

FM component (Eq. 2): ``y_FM = <w, x> + Σ_i Σ_{j>i} <V_i, V_j> x_i x_j``. The first-order
term is Wide & Deep's :class:`~recforge.models.widedeep.LinearPart`; the second order runs
over the embedded fields (categorical fields, multi-valued ones mean-pooled, each history
field pooled over the behaviours, as BARS feeds sequence features to DeepFM) and each dense
column as its own field ``x_n·v_n``, with Rendle's identity
``Σ_{i<j} <e_i, e_j> = ½ Σ_d [(Σ_i e_id)² − Σ_i e_id²]`` (linear in the number of fields).

Deep component (Eq. 3-4): an MLP over the same embeddings concatenated. Paper defaults
(Sec. 3.2.2, Criteo): embedding 10, 400-400-400 ReLU, dropout 0.5.

Dimension letters: B rows, F sparse + multi-valued fields, H history fields, N dense
columns, D embedding size, K MLP input width.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from recforge.core.batches import FeatureBatch
from recforge.features.fields import FeatureSchema
from recforge.models.dnn import check_common, check_dense, embed_row, n_row_fields
from recforge.models.ranker import FeatureEmbedding, Ranker, feed_forward
from recforge.models.widedeep import LinearPart


def fm_second_order(fields: Tensor) -> Tensor:
    """``Σ_{i<j} <e_i, e_j>`` over ``fields`` ``(B, F, D)``: ``(B,)``.

    >>> e = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])
    >>> float(fm_second_order(e))  # (3 + 8) + (5 + 12) + (15 + 24)
    67.0
    """
    square_of_sum = fields.sum(dim=1).pow(2)  # (B, D)
    sum_of_square = fields.pow(2).sum(dim=1)  # (B, D)
    return 0.5 * (square_of_sum - sum_of_square).sum(dim=1)  # (B,)


@dataclass(frozen=True)
class DeepFMConfig:
    """Args:
    embedding_dim: ``D``, shared by the FM and the deep component (the paper: 10).
    hidden: deep component widths (the paper: 400-400-400).
    dropout: after each hidden layer (the paper: 0.5).
    batch_norm: batch normalisation in the deep component.
    history_pooling: how a history field becomes one field, ``"mean"`` or ``"sum"``.
    init_std: std of the embeddings' normal initialisation (also the dense columns' vectors).
    """

    embedding_dim: int = 10
    hidden: tuple[int, ...] = (400, 400, 400)
    dropout: float = 0.5
    batch_norm: bool = False
    history_pooling: Literal["mean", "sum"] = "mean"
    init_std: float = 0.01

    def __post_init__(self) -> None:
        check_common(self.embedding_dim, self.hidden, self.dropout)


class DeepFM(Ranker):
    """DeepFM: ``y_FM + y_DNN`` over one shared embedding (Eq. 1)."""

    config_class = DeepFMConfig

    def __init__(self, config: DeepFMConfig, schema: FeatureSchema) -> None:
        super().__init__(config, schema)
        self.embedding = FeatureEmbedding(schema, config.embedding_dim, config.init_std)
        # V_n of each dense column, so a real value x_n enters the FM as x_n·V_n
        self.dense_vectors = nn.Parameter(
            torch.randn(schema.n_dense, config.embedding_dim) * config.init_std
        )
        self.linear = LinearPart(schema)
        width = (n_row_fields(schema) + schema.n_dense) * config.embedding_dim  # K
        self.deep = feed_forward(width, config.hidden, config.dropout, None, config.batch_norm)
        self.output = nn.Linear(config.hidden[-1] if config.hidden else width, 1)

    def forward(self, batch: FeatureBatch) -> Tensor:
        fields = embed_row(self.embedding, batch, self.config.history_pooling)  # (B, F+H, D)
        dense = check_dense(batch, self.schema).unsqueeze(-1) * self.dense_vectors  # (B, N, D)
        every = torch.cat([fields, dense], dim=1)  # (B, F+H+N, D)
        y_fm = self.linear(batch) + fm_second_order(every)  # (B,) Eq. 2
        y_dnn = self.output(self.deep(every.flatten(1))).squeeze(-1)  # (B,) Eq. 4
        return y_fm + y_dnn
