"""Wide & Deep, Cheng et al. DLRS 2016: a linear model over the sparse features and chosen
cross products (the wide part, memorisation) trained jointly with an embedding MLP (the deep
part, generalisation); Eq. 3: ``P(Y=1|x) = σ(w_wide^T [x, φ(x)] + w_deep^T a^(l_f) + b)``.

Wide part here: one weight per category of every sparse field, the mean of the weights of
a multi-valued field's values, a weight per dense column, and the cross-product
transformations ``φ`` the config declares (Eq. 1: a cross of two sparse fields is one more
categorical feature, one weight per value pair; hashed into ``cross_buckets`` weights when
there are more pairs). The deep part is the DIN base model's MLP (ReLU, the paper's
1024-512-256) over the embedded fields, the pooled behaviour history and the dense columns.

The paper trains the wide part with FTRL + L1 and the deep part with AdaGrad; here both
train with one optimiser (``training.ranking``), as BARS and FuxiCTR do.

Dimension letters: B rows, F sparse + multi-valued fields, H history fields, M values of a
multi-valued field, D embedding size, N dense columns, K MLP input width.
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


class LinearPart(nn.Module):
    """First-order term ``b + Σ_i w_i x_i`` over the raw features: ``(B,)``.

    ``x_i`` is 1 for a sparse field's category, ``1/M`` for each of a multi-valued field's
    ``M`` values (its weights are mean-pooled, as its embeddings are), the value for a dense
    column. Weights start at zero (padding index 0 stays zero). Shared with DeepFM, whose
    FM component has the same first-order term (Guo et al. 2017, Eq. 2).
    """

    def __init__(self, schema: FeatureSchema) -> None:
        super().__init__()
        self.schema = schema
        tables = {
            field.name: nn.Embedding(field.size, 1, padding_idx=0)
            for field in (*schema.sparse, *schema.multi)
        }
        for table in tables.values():
            nn.init.zeros_(table.weight)
        self.weights = nn.ModuleDict(tables)
        self.dense = nn.Linear(schema.n_dense, 1, bias=False) if schema.n_dense else None
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, batch: FeatureBatch) -> Tensor:
        total = self.bias.expand(len(batch))  # (B,)
        for column, field in enumerate(self.schema.sparse):
            total = total + self.weights[field.name](batch.sparse[:, column]).squeeze(-1)
        for field in self.schema.multi:
            values = batch.multi[field.name]  # (B, M)
            summed = self.weights[field.name](values).squeeze(-1).sum(dim=1)  # (B,)
            total = total + summed / (values > 0).sum(dim=1).clamp(min=1)
        if self.dense is not None:
            total = total + self.dense(check_dense(batch, self.schema)).squeeze(-1)
        return total


class CrossProducts(nn.Module):
    """Wide & Deep's cross-product transformations ``φ`` (Eq. 1) for pairs of sparse
    fields: one weight per pair of categories, ``(B,)`` summed over the crosses.

    The pair ``(a, b)`` with both present maps to ``1 + (a·|b| + b) mod (buckets - 1)``
    (exact when ``|a|·|b| < buckets``); a pair with a missing side reads index 0, weight 0.
    """

    def __init__(
        self, schema: FeatureSchema, crosses: tuple[tuple[str, str], ...], buckets: int
    ) -> None:
        super().__init__()
        self.columns: list[tuple[int, int, int, int]] = []  # (column a, column b, |b|, buckets)
        tables = []
        for first, second in crosses:
            try:
                columns = (schema.sparse_index(first), schema.sparse_index(second))
            except KeyError as error:
                raise ValueError(f"crosses entry ({first!r}, {second!r}): {error}") from error
            width = schema.field(second).size
            pairs = min(schema.field(first).size * width, buckets)
            self.columns.append((*columns, width, pairs))
            table = nn.Embedding(pairs + 1, 1, padding_idx=0)
            nn.init.zeros_(table.weight)
            tables.append(table)
        self.tables = nn.ModuleList(tables)

    def forward(self, batch: FeatureBatch) -> Tensor:
        total = torch.zeros(len(batch), device=batch.sparse.device)  # (B,)
        for (first, second, width, pairs), table in zip(self.columns, self.tables, strict=True):
            a, b = batch.sparse[:, first], batch.sparse[:, second]  # (B,) each
            pair = 1 + (a * width + b) % pairs
            total = total + table(torch.where((a > 0) & (b > 0), pair, 0)).squeeze(-1)
        return total


@dataclass(frozen=True)
class WideDeepConfig:
    """Args:
    embedding_dim: ``D`` (the paper: 32).
    hidden: deep part widths (the paper: 1024, 512, 256, ReLU).
    dropout: after each hidden layer.
    batch_norm: batch normalisation in the deep part.
    crosses: pairs of sparse field names crossed in the wide part, e.g.
        ``(("user_id", "category"),)``; empty: the wide part is linear in the fields.
    cross_buckets: most weights per cross (pairs beyond it share weights by hashing).
    history_pooling: how the deep part pools the behaviour history, ``"mean"`` or ``"sum"``.
    init_std: std of the embeddings' normal initialisation.
    """

    embedding_dim: int = 32
    hidden: tuple[int, ...] = (1024, 512, 256)
    dropout: float = 0.0
    batch_norm: bool = False
    crosses: tuple[tuple[str, str], ...] = ()
    cross_buckets: int = 1 << 20
    history_pooling: Literal["mean", "sum"] = "mean"
    init_std: float = 0.01

    def __post_init__(self) -> None:
        check_common(self.embedding_dim, self.hidden, self.dropout)
        if self.cross_buckets < 2:
            raise ValueError(f"cross_buckets must be >= 2, got {self.cross_buckets}")


class WideDeep(Ranker):
    """Wide & Deep: ``linear(x) + cross(φ(x)) + w^T MLP([embeddings; dense])`` (Eq. 3)."""

    config_class = WideDeepConfig

    def __init__(self, config: WideDeepConfig, schema: FeatureSchema) -> None:
        super().__init__(config, schema)
        self.embedding = FeatureEmbedding(schema, config.embedding_dim, config.init_std)
        self.linear = LinearPart(schema)
        self.crosses = CrossProducts(schema, config.crosses, config.cross_buckets)
        width = n_row_fields(schema) * config.embedding_dim + schema.n_dense  # K
        self.deep = feed_forward(width, config.hidden, config.dropout, None, config.batch_norm)
        # w_deep of Eq. 3; the bias b lives in the wide part
        self.output = nn.Linear(config.hidden[-1] if config.hidden else width, 1, bias=False)

    def forward(self, batch: FeatureBatch) -> Tensor:
        wide = self.linear(batch) + self.crosses(batch)  # (B,)
        fields = embed_row(self.embedding, batch, self.config.history_pooling)  # (B, F+H, D)
        joint = torch.cat([fields.flatten(1), check_dense(batch, self.schema)], dim=1)  # (B, K)
        return wide + self.output(self.deep(joint)).squeeze(-1)  # (B,)
