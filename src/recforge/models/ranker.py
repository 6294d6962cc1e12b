"""What every ranking (CTR) model shares: the base class, its config fields, and the
embedding of a :class:`~recforge.core.batches.FeatureBatch`.

A ranker scores (context, candidate item) rows: ``forward(batch) -> (B,)`` logits of a
click. It is built from its config and the :class:`~recforge.features.fields.FeatureSchema`
of the data, never from the data itself, so a checkpoint (config + schema + weights)
rebuilds it anywhere. A model with an auxiliary objective (DIEN) overrides
:meth:`Ranker.training_outputs`; ``forward`` stays logits only.

Dimension letters: B rows, S sparse fields, F sparse + multi-valued fields, L history
length, H history fields, D embedding size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from recforge.core.batches import FeatureBatch
from recforge.features.fields import FeatureSchema


@dataclass(frozen=True)
class RankerOutputs:
    """What the training loop reads: the logits, and an auxiliary loss to add when the
    model has one (already weighted by the model's own coefficient)."""

    logits: Tensor  # (B,) float
    auxiliary_loss: Tensor | None = None  # () float


class Ranker(nn.Module):
    """Base of the ranking models: subclasses set ``config_class`` and define ``forward``.

    A ranker holds its :class:`FeatureEmbedding` as ``self.embedding``: the training loop
    reads ``model.embedding.batch_indices`` for DIN's mini-batch aware regularisation."""

    config_class: ClassVar[type]
    #: True for models that need a behaviour history in the schema (DIN, DIEN)
    requires_history: ClassVar[bool] = False

    def __init__(self, config: Any, schema: FeatureSchema) -> None:
        super().__init__()
        self.config = config
        self.schema = schema

    def forward(self, batch: FeatureBatch) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def training_outputs(self, batch: FeatureBatch) -> RankerOutputs:
        return RankerOutputs(self(batch))


class FeatureEmbedding(nn.Module):
    """One embedding table per categorical field (sparse and multi-valued); history columns
    share their field's table. Index 0 (missing/padding) embeds to zeros.

    Args:
        schema: the fields.
        dim: ``D``, the embedding size of every field.
        init_std: standard deviation of the normal initialisation.
    """

    def __init__(self, schema: FeatureSchema, dim: int, init_std: float = 0.01) -> None:
        super().__init__()
        self.schema = schema
        self.dim = dim
        tables = {
            field.name: nn.Embedding(field.size, dim, padding_idx=0)
            for field in (*schema.sparse, *schema.multi)
        }
        for table in tables.values():
            nn.init.normal_(table.weight, std=init_std)
            with torch.no_grad():
                table.weight[0].zero_()
        self.tables = nn.ModuleDict(tables)
        self._history_columns = [schema.sparse_index(name) for name in schema.history]

    @property
    def n_fields(self) -> int:
        """``F``: sparse plus multi-valued fields."""
        return len(self.schema.sparse) + len(self.schema.multi)

    def fields(self, batch: FeatureBatch) -> Tensor:
        """Every categorical field of the row, multi-valued ones mean-pooled: ``(B, F, D)``."""
        columns = [
            self.tables[field.name](batch.sparse[:, column])  # (B, D)
            for column, field in enumerate(self.schema.sparse)
        ]
        for field in self.schema.multi:
            values = batch.multi[field.name]  # (B, M)
            present = (values > 0).unsqueeze(-1).float()  # (B, M, 1)
            summed = (self.tables[field.name](values) * present).sum(dim=1)  # (B, D)
            columns.append(summed / present.sum(dim=1).clamp(min=1.0))
        return torch.stack(columns, dim=1)  # (B, F, D)

    def candidate(self, batch: FeatureBatch) -> Tensor:
        """The candidate's history fields concatenated: ``(B, H·D)``."""
        return torch.cat(
            [
                self.tables[name](batch.sparse[:, column])
                for name, column in zip(self.schema.history, self._history_columns, strict=True)
            ],
            dim=-1,
        )

    def history(self, batch: FeatureBatch, negative: bool = False) -> Tensor:
        """Each past behaviour's history fields concatenated: ``(B, L, H·D)``; padded
        positions are zeros. ``negative`` embeds ``batch.history_negative`` instead."""
        source = batch.history_negative if negative else batch.history
        return torch.cat([self.tables[name](source[name]) for name in self.schema.history], -1)

    def history_mask(self, batch: FeatureBatch) -> Tensor:
        """``(B, L)`` bool, True at real behaviours."""
        assert batch.history_length is not None, "this batch has no history"
        length = batch.history[self.schema.history[0]].shape[1]
        positions = torch.arange(length, device=batch.sparse.device)
        return positions.unsqueeze(0) < batch.history_length.unsqueeze(1)

    def batch_indices(self, batch: FeatureBatch) -> dict[str, Tensor]:
        """Every index each table is read at in ``batch`` (with repeats, 0 included): what
        mini-batch aware regularisation (DIN, Sec. 5.1) penalises."""
        used: dict[str, list[Tensor]] = {name: [] for name in self.tables}
        for column, field in enumerate(self.schema.sparse):
            used[field.name].append(batch.sparse[:, column])
        for field in self.schema.multi:
            used[field.name].append(batch.multi[field.name].reshape(-1))
        for name in self.schema.history:
            used[name].append(batch.history[name].reshape(-1))
        return {name: torch.cat(parts) for name, parts in used.items()}


def feed_forward(
    width_in: int,
    widths: Sequence[int],
    dropout: float = 0.0,
    activation: Callable[[int], nn.Module] | None = None,
    batch_norm: bool = False,
    dropout_first: bool = False,
) -> nn.Sequential:
    """Linear → [batch norm] → activation → dropout for each width (the deep part of every
    CTR model). ``activation(width)`` builds the activation (default ReLU; DIN passes Dice).
    ``dropout_first`` moves each dropout in front of its linear layer (RecBole's order): the
    input is dropped out and the last layer's output is not.
    """
    layers: list[nn.Module] = []
    for width in widths:
        if dropout > 0 and dropout_first:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(width_in, width))
        if batch_norm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(activation(width) if activation is not None else nn.ReLU())
        if dropout > 0 and not dropout_first:
            layers.append(nn.Dropout(dropout))
        width_in = width
    return nn.Sequential(*layers)


@torch.no_grad()
def predict_logits(model: Ranker, batch: FeatureBatch, batch_size: int = 65536) -> np.ndarray:
    """``(B,)`` float32 logits of ``model`` over ``batch``, in eval mode (mode restored)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out: list[Tensor] = []
    try:
        for start in range(0, len(batch), batch_size):
            rows = batch.rows(torch.arange(start, min(start + batch_size, len(batch)))).to(device)
            out.append(model(rows).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out).numpy() if out else np.empty(0, np.float32)
