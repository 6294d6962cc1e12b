"""What next-item sequence models (GRU4Rec, SASRec) share: item tokens, stored histories,
scoring against the item embedding table.

A sequence model encodes a user's latest ``max_len`` items, oldest first, into one hidden
state per position; the state after the last item is the user's query, and an item's score
is its dot product with the item's embedding (the input table, shared as in SASRec).
Items are tokens ``item_idx + 1``; token 0 is padding.

The model keeps each user's latest items as a buffer (``user_history``), so ``score_all``
and ``score`` answer for users like every other recommender and the history travels with
the checkpoint. Training sets it from the training histories; evaluation of the test item
may replace it with the histories that include the validation item
(:meth:`SequentialRecommender.set_histories`), as the SASRec protocol does. A user with an
empty history is scored from the all-padding input: the same item ranking for every such
user (the model's learned prior), never an error.

Dimension letters: B users or windows, L positions, I items, D hidden size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from recforge.core.batches import UserItemBatch
from recforge.core.sequences import Sequences
from recforge.models._sparse import check_user_idx
from recforge.models.base import NeuralRecommender


@dataclass(frozen=True)
class SequenceConfig:
    """Args:
    factors: item embedding size D.
    max_len: latest items a user is read by (training windows have this length).
    dropout: dropout on embeddings and hidden states.
    init_std: std of the Gaussian the item embeddings start from.
    """

    factors: int = 64
    max_len: int = 50
    dropout: float = 0.2
    init_std: float = 0.02

    def __post_init__(self) -> None:
        for name in ("factors", "max_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


def trim(tokens: Tensor) -> Tensor:
    """Left-padded windows ``(B, L)`` without the columns that are padding in every row
    (at least one column is kept): what the encoders compute on. Positions count from the
    right end, so trimming does not change a model's output."""
    longest = max(int((tokens > 0).sum(1).max()) if len(tokens) else 1, 1)
    return tokens[:, tokens.shape[1] - longest :]


class SequentialRecommender(NeuralRecommender):
    """Base of models that read time-ordered histories; subclasses implement
    :meth:`hidden`."""

    uses_sequences: ClassVar[bool] = True
    config: SequenceConfig
    user_history: Tensor  # (U, L) int64 tokens, left-padded

    def __init__(self, config: SequenceConfig, n_users: int, n_items: int) -> None:
        super().__init__(n_users, n_items)
        self.config = config
        self.item_embedding = nn.Embedding(n_items + 1, config.factors, padding_idx=0)
        nn.init.normal_(self.item_embedding.weight, std=config.init_std)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()
        self.register_buffer("user_history", torch.zeros(n_users, config.max_len, dtype=torch.long))

    def hidden(self, tokens: Tensor) -> Tensor:  # pragma: no cover - abstract
        """Hidden state after each position ``(B, L, D)`` of token windows ``(B, L)``."""
        raise NotImplementedError

    def item_vectors(self) -> Tensor:
        """``(I, D)`` item side of the score (padding row excluded)."""
        return self.item_embedding.weight[1:]

    def encode(self, tokens: Tensor) -> Tensor:
        """Query vectors ``(B, D)``: the hidden state after the last position."""
        return self.hidden(trim(tokens))[:, -1]

    def set_histories(self, sequences: Sequences) -> None:
        """Read users' histories (oldest first) for ``score``/``score_all``."""
        if len(sequences) != self.n_users:
            raise ValueError(f"sequences cover {len(sequences)} users, expected {self.n_users}")
        if sequences.n_interactions and int(sequences.item_idx.max()) >= self.n_items:
            raise ValueError(
                f"sequences hold item index {int(sequences.item_idx.max())}, "
                f"but the model has {self.n_items} items"
            )
        padded = sequences.padded(max_len=self.config.max_len)
        self.user_history.copy_(torch.from_numpy(padded))

    def tokens_of(self, history: np.ndarray) -> Tensor:
        """One history of item indices (oldest first) as a ``(1, L)`` token window."""
        return torch.from_numpy(
            Sequences.from_lists([list(history)]).padded(max_len=self.config.max_len)
        )

    def forward(self, batch: UserItemBatch) -> Tensor:
        users, row = torch.unique(batch.user_idx, return_inverse=True)  # encode each once
        queries = self.encode(self.user_history[users])[row]  # (B, D)
        items = self.item_vectors()[batch.item_idx]  # (B, D)
        return (queries * items).sum(-1)  # (B,)

    def score_all(self, user_idx: Tensor) -> Tensor:
        user_idx = check_user_idx(user_idx, self.n_users)
        return self.encode(self.user_history[user_idx]) @ self.item_vectors().T  # (B, I)
