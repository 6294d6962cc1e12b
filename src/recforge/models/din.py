"""DIN: Deep Interest Network (Zhou et al., KDD 2018).

The user's interest is not one fixed vector but depends on the candidate: each past
behaviour ``e_j`` (its item id, category, ... embeddings concatenated) gets a weight
``a(e_j, v_a)`` from the local activation unit (Sec. 4.3, eq. 3,
:class:`~recforge.models.attention_units.ActivationUnit`), and the interest is the weighted
*sum* ``v_U(A) = Σ_j a(e_j, v_a)·e_j`` — unnormalised, so a user with many matching
behaviours shows a stronger interest. The MLP (Fig. 2: 200, 80, with Dice, Sec. 5.2) reads
``[user profile fields, v_U(A), candidate fields, context fields]``: every categorical field
of the row (multi-valued ones mean-pooled), the dense columns and the interest.

Mini-batch aware regularisation (Sec. 5.1) belongs to the training loop, which reads the
indices each table is used at from ``model.embedding.batch_indices(batch)``.

Dimension letters: B rows, F categorical fields, D embedding size, N dense columns,
L history length, H history fields, E = H·D width of a behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from recforge.core.batches import FeatureBatch
from recforge.features.fields import FeatureSchema
from recforge.models.attention_units import ActivationUnit, activation, read_history
from recforge.models.ranker import FeatureEmbedding, Ranker, feed_forward


def check_widths(name: str, widths: tuple[int, ...]) -> None:
    if not widths or any(width < 1 for width in widths):
        raise ValueError(f"{name} must be a non-empty tuple of widths >= 1, got {widths}")


@dataclass(frozen=True)
class DINConfig:
    """Args:
    embedding_dim: ``D`` of every field (18 in the paper's code for Amazon: item and
        category 18 each, a 36-wide behaviour).
    attention_widths: hidden widths of the local activation unit.
    mlp_widths: hidden widths of the final MLP (the paper's 200, 80).
    dice: Dice activations (Sec. 5.2); PReLU when off.
    dropout: dropout after each hidden layer of the final MLP.
    init_std: std of the embeddings' normal initialisation.
    """

    embedding_dim: int = 18
    attention_widths: tuple[int, ...] = (80, 40)
    mlp_widths: tuple[int, ...] = (200, 80)
    dice: bool = True
    dropout: float = 0.0
    init_std: float = 0.01

    def __post_init__(self) -> None:
        if self.embedding_dim < 1:
            raise ValueError(f"embedding_dim must be >= 1, got {self.embedding_dim}")
        check_widths("attention_widths", tuple(self.attention_widths))
        check_widths("mlp_widths", tuple(self.mlp_widths))
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.init_std <= 0:
            raise ValueError(f"init_std must be > 0, got {self.init_std}")


def require_history(schema: FeatureSchema, model: str) -> None:
    if not schema.history:
        raise ValueError(
            f"{model} reads the behaviour sequence: the feature schema must name history "
            "fields (schema.history), e.g. ('item_id', 'category')"
        )


class DIN(Ranker):
    """Deep Interest Network: candidate-aware sum pooling of the behaviours, then an MLP.

    >>> from recforge.features.fields import Field
    >>> schema = FeatureSchema(
    ...     fields=(Field("user_id", "sparse", 5), Field("item_id", "sparse", 9)),
    ...     history=("item_id",), history_length=4)
    >>> model = DIN(DINConfig(embedding_dim=4, attention_widths=(8,), mlp_widths=(8,)), schema)
    >>> batch = FeatureBatch(
    ...     sparse=torch.tensor([[2, 3], [4, 5]]), dense=torch.zeros(2, 0),
    ...     label=torch.tensor([1.0, 0.0]), group=torch.tensor([2, 4]),
    ...     history={"item_id": torch.tensor([[6, 7, 0, 0], [0, 0, 0, 0]])},
    ...     history_length=torch.tensor([2, 0]))
    >>> model(batch).shape
    torch.Size([2])
    """

    config_class = DINConfig
    config: DINConfig
    #: refuses a schema without history fields (a harness running every ranker skips it)
    requires_history: ClassVar[bool] = True

    def __init__(self, config: DINConfig, schema: FeatureSchema) -> None:
        super().__init__(config, schema)
        require_history(schema, "DIN")
        self.embedding = FeatureEmbedding(schema, config.embedding_dim, config.init_std)
        width = len(schema.history) * config.embedding_dim  # E
        self.attention = ActivationUnit(width, config.attention_widths, config.dice)
        width_in = self.embedding.n_fields * config.embedding_dim + schema.n_dense + width
        self.mlp = feed_forward(
            width_in, config.mlp_widths, config.dropout, activation=activation(config.dice)
        )
        self.output = nn.Linear(config.mlp_widths[-1], 1)

    def interest(self, batch: FeatureBatch) -> Tensor:
        """``v_U(A)``, the candidate-weighted sum of the behaviours ``(B, E)``; zeros for an
        empty history."""
        behaviours, mask, _ = read_history(self.embedding, batch)  # (B, L, E), (B, L)
        candidate = self.embedding.candidate(batch)  # (B, E)
        weights = self.attention(behaviours, candidate, mask)  # (B, L), 0 at padding
        return (weights.unsqueeze(-1) * behaviours).sum(dim=1)  # (B, E)

    def forward(self, batch: FeatureBatch) -> Tensor:
        fields = self.embedding.fields(batch).flatten(1)  # (B, F·D)
        joint = torch.cat([fields, batch.dense, self.interest(batch)], dim=-1)  # (B, F·D+N+E)
        return self.output(self.mlp(joint)).squeeze(-1)  # (B,)


__all__ = ["DIN", "DINConfig"]
