"""Typed batches: frozen dataclasses of tensors with ``.to(device)``.

Dimension letters: B batch.
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
