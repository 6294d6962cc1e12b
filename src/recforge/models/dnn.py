"""The embedding + MLP "base model" of the DIN paper (Zhou et al. KDD 2018, Sec. 4.2 and
Fig. 2 left), and the row embedding every feature-cross ranker here starts from.

Base model: each categorical field is embedded (a multi-valued field mean-pooled), the user
behaviour sequence is pooled per history field into one fixed-length vector ("sum pooling" in
the paper; DIN's local activation unit is what replaces it), the dense columns are appended,
and an MLP with PReLU (the paper's 200 × 80 × 2 with a softmax becomes 200 × 80 × 1 with a
sigmoid) gives the click logit.

:func:`embed_row` is shared by the feature-cross models (Wide & Deep, DeepFM, DCN, DCN-V2):
the history is one more field per history column, as BARS/FuxiCTR treat sequence features in
these baselines, so every model sees the same inputs.

Convention of every ranker: its :class:`~recforge.models.ranker.FeatureEmbedding` is
``self.embedding`` (the training loop's mini-batch aware regularisation reads
``model.embedding.batch_indices``).

Dimension letters: B rows, F sparse + multi-valued fields, H history fields, L history
length, D embedding size, N dense columns, K MLP input width.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from recforge.core.batches import FeatureBatch
from recforge.features.fields import FeatureSchema
from recforge.models.ranker import FeatureEmbedding, Ranker, feed_forward

Pooling = Literal["sum", "mean"]


def n_row_fields(schema: FeatureSchema) -> int:
    """``F + H``: the fields :func:`embed_row` returns."""
    return len(schema.sparse) + len(schema.multi) + len(schema.history)


def pool_history(embedding: FeatureEmbedding, batch: FeatureBatch, pooling: Pooling) -> Tensor:
    """Each history field pooled over the real behaviours: ``(B, H, D)``; zeros for an
    empty history under either pooling."""
    behaviours = embedding.history(batch)  # (B, L, H·D)
    rows, length = behaviours.shape[:2]
    behaviours = behaviours.view(rows, length, len(embedding.schema.history), embedding.dim)
    mask = embedding.history_mask(batch).unsqueeze(-1).unsqueeze(-1).float()  # (B, L, 1, 1)
    pooled = (behaviours * mask).sum(dim=1)  # (B, H, D)
    if pooling == "mean":
        pooled = pooled / mask.sum(dim=1).clamp(min=1.0)  # (B, 1, 1) real behaviours
    return pooled


def embed_row(embedding: FeatureEmbedding, batch: FeatureBatch, pooling: Pooling) -> Tensor:
    """The row as fields: categorical fields then the pooled history fields, ``(B, F+H, D)``."""
    fields = embedding.fields(batch)  # (B, F, D)
    if not embedding.schema.history:
        return fields
    return torch.cat([fields, pool_history(embedding, batch, pooling)], dim=1)  # (B, F+H, D)


def check_dense(batch: FeatureBatch, schema: FeatureSchema) -> Tensor:
    """``batch.dense`` ``(B, N)``, or a clear error when its width is not the schema's."""
    if batch.dense.dim() != 2 or batch.dense.shape[1] != schema.n_dense:
        raise ValueError(
            f"dense has shape {tuple(batch.dense.shape)}; the schema's dense fields "
            f"{[f.name for f in schema.dense]} give {schema.n_dense} columns"
        )
    return batch.dense


def activation_factory(name: Literal["relu", "prelu"]) -> Callable[[int], nn.Module] | None:
    """What :func:`~recforge.models.ranker.feed_forward` builds per layer (None: ReLU)."""
    return nn.PReLU if name == "prelu" else None


def check_common(embedding_dim: int, hidden: tuple[int, ...], dropout: float) -> None:
    """The validation every ranker config shares; errors name the key."""
    if embedding_dim < 1:
        raise ValueError(f"embedding_dim must be >= 1, got {embedding_dim}")
    if any(width < 1 for width in hidden):
        raise ValueError(f"hidden widths must be >= 1, got {hidden}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout}")


@dataclass(frozen=True)
class DNNConfig:
    """Args:
    embedding_dim: ``D`` of every field (the DIN paper uses 12 on Amazon and MovieLens).
    hidden: MLP widths (the paper's 200 × 80).
    activation: ``"prelu"`` (the paper's base model) or ``"relu"``.
    dropout: after each hidden layer.
    batch_norm: batch normalisation after each hidden linear layer.
    history_pooling: ``"sum"`` (the paper) or ``"mean"`` over the real behaviours.
    init_std: std of the embeddings' normal initialisation.
    """

    embedding_dim: int = 12
    hidden: tuple[int, ...] = (200, 80)
    activation: Literal["relu", "prelu"] = "prelu"
    dropout: float = 0.0
    batch_norm: bool = False
    history_pooling: Pooling = "sum"
    init_std: float = 0.01

    def __post_init__(self) -> None:
        check_common(self.embedding_dim, self.hidden, self.dropout)


class DNN(Ranker):
    """Embedding & MLP: ``MLP([e_1; …; e_F; pool(history); dense]) -> logit``.

    >>> from recforge.features.fields import Field
    >>> schema = FeatureSchema((Field("user_id", "sparse", 5), Field("item_id", "sparse", 9)),
    ...                        history=("item_id",), history_length=3)
    >>> batch = FeatureBatch(sparse=torch.tensor([[2, 3], [4, 5]]), dense=torch.zeros(2, 0),
    ...     label=torch.tensor([1.0, 0.0]), group=torch.tensor([0, 1]),
    ...     history={"item_id": torch.tensor([[6, 7, 0], [0, 0, 0]])},
    ...     history_length=torch.tensor([2, 0]))
    >>> DNN(DNNConfig(embedding_dim=4, hidden=(8,)), schema)(batch).shape
    torch.Size([2])
    """

    config_class = DNNConfig

    def __init__(self, config: DNNConfig, schema: FeatureSchema) -> None:
        super().__init__(config, schema)
        self.embedding = FeatureEmbedding(schema, config.embedding_dim, config.init_std)
        width = n_row_fields(schema) * config.embedding_dim + schema.n_dense  # K
        self.mlp = feed_forward(
            width,
            config.hidden,
            config.dropout,
            activation_factory(config.activation),
            config.batch_norm,
        )
        self.output = nn.Linear(config.hidden[-1] if config.hidden else width, 1)

    def forward(self, batch: FeatureBatch) -> Tensor:
        fields = embed_row(self.embedding, batch, self.config.history_pooling)  # (B, F+H, D)
        joint = torch.cat([fields.flatten(1), check_dense(batch, self.schema)], dim=1)  # (B, K)
        return self.output(self.mlp(joint)).squeeze(-1)  # (B,)
