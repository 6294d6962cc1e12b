"""Typed batches: frozen dataclasses of tensors with ``.to(device)``.

Dimension letters: B batch (each class names its own further letters).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class UserItemBatch:
    """Pairs of (user, item) to score; the input of every collaborative-filtering model."""

    user_idx: Tensor  # (B,) int64, contiguous user index
    item_idx: Tensor  # (B,) int64, contiguous item index

    def __post_init__(self) -> None:
        if self.user_idx.shape != self.item_idx.shape or self.user_idx.dim() != 1:
            raise ValueError(
                f"user_idx {tuple(self.user_idx.shape)} and item_idx "
                f"{tuple(self.item_idx.shape)} must be 1-d of the same length"
            )

    def __len__(self) -> int:
        return int(self.user_idx.shape[0])

    def to(self, device: torch.device | str) -> UserItemBatch:
        return dataclasses.replace(
            self, user_idx=self.user_idx.to(device), item_idx=self.item_idx.to(device)
        )


@dataclass(frozen=True)
class SequenceBatch:
    """Windows of users' histories for next-item training, left-padded with 0.

    Items appear as tokens ``item_idx + 1``; ``targets[b, t]`` is the token that follows
    ``inputs[b, t]`` (0 where ``inputs[b, t]`` is padding).
    """

    inputs: Tensor  # (B, L) int64 tokens, 0 = padding
    targets: Tensor  # (B, L) int64 tokens, 0 = no target

    def __post_init__(self) -> None:
        if self.inputs.shape != self.targets.shape or self.inputs.dim() != 2:
            raise ValueError(
                f"inputs {tuple(self.inputs.shape)} and targets "
                f"{tuple(self.targets.shape)} must be 2-d of the same shape"
            )

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def to(self, device: torch.device | str) -> SequenceBatch:
        return dataclasses.replace(
            self, inputs=self.inputs.to(device), targets=self.targets.to(device)
        )


@dataclass(frozen=True)
class FeatureBatch:
    """Labelled rows for ranking models (CTR): one candidate item per row with its context.

    The column order of ``sparse`` and ``dense`` and the names in ``multi`` and ``history``
    are given by the :class:`recforge.features.fields.FeatureSchema` that encoded the batch.
    Index 0 of every categorical vocabulary means missing/padding and index 1 unknown
    (a value not seen when the encoder was fitted).

    Histories hold the user's behaviours strictly before the row's time, oldest first,
    the most recent ``L`` kept, right-padded with 0; ``history_length`` counts the real
    ones. ``history[f][b, t]`` is field ``f`` (a sparse field, e.g. ``item_id`` or
    ``category``) of the t-th behaviour; it shares field ``f``'s embedding table.

    Dimension letters: B rows, S sparse fields, N dense columns, L history length,
    M values of a multi-valued field.
    """

    sparse: Tensor  # (B, S) int64 field indices, 0 = missing, 1 = unknown
    dense: Tensor  # (B, N) float32 encoded numeric columns (N may be 0)
    label: Tensor  # (B,) float32 0/1
    group: Tensor  # (B,) int64 the row's user index (GAUC, LambdaMART queries)
    multi: dict[str, Tensor] = dataclasses.field(default_factory=dict)  # (B, M) int64, 0 = pad
    history: dict[str, Tensor] = dataclasses.field(default_factory=dict)  # (B, L) int64, 0 = pad
    history_length: Tensor | None = None  # (B,) int64 in [0, L]
    #: for DIEN's auxiliary loss: per history position, a field value of an item the user
    #: did not take next (same keys and shapes as ``history``)
    history_negative: dict[str, Tensor] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        rows = self.sparse.shape[0] if self.sparse.dim() == 2 else -1
        if rows < 0:
            raise ValueError(f"sparse must be 2-d (B, S), got {tuple(self.sparse.shape)}")
        checks = {"dense": self.dense, "label": self.label, "group": self.group}
        checks.update({f"multi[{k}]": v for k, v in self.multi.items()})
        checks.update({f"history[{k}]": v for k, v in self.history.items()})
        checks.update({f"history_negative[{k}]": v for k, v in self.history_negative.items()})
        if self.history_length is not None:
            checks["history_length"] = self.history_length
        for name, tensor in checks.items():
            if tensor.shape[0] != rows:
                raise ValueError(f"{name} has {tensor.shape[0]} rows, sparse has {rows}")
        if self.history and self.history_length is None:
            raise ValueError("history given without history_length")

    def __len__(self) -> int:
        return int(self.sparse.shape[0])

    def to(self, device: torch.device | str) -> FeatureBatch:
        def move(tensors: dict[str, Tensor]) -> dict[str, Tensor]:
            return {name: tensor.to(device) for name, tensor in tensors.items()}

        return dataclasses.replace(
            self,
            sparse=self.sparse.to(device),
            dense=self.dense.to(device),
            label=self.label.to(device),
            group=self.group.to(device),
            multi=move(self.multi),
            history=move(self.history),
            history_length=None if self.history_length is None else self.history_length.to(device),
            history_negative=move(self.history_negative),
        )

    def rows(self, index: Tensor) -> FeatureBatch:
        """The rows at ``index`` (a slice of an epoch's tensors, or a shuffle)."""

        def take(tensors: dict[str, Tensor]) -> dict[str, Tensor]:
            return {name: tensor[index] for name, tensor in tensors.items()}

        return FeatureBatch(
            sparse=self.sparse[index],
            dense=self.dense[index],
            label=self.label[index],
            group=self.group[index],
            multi=take(self.multi),
            history=take(self.history),
            history_length=None if self.history_length is None else self.history_length[index],
            history_negative=take(self.history_negative),
        )
