"""GRU4Rec: recurrent next-item recommendation (Hidasi et al., ICLR 2016; Hidasi &
Karatzoglou, CIKM 2018).

Item embeddings go through a GRU (or an LSTM with ``cell = "lstm"``); a linear layer maps
each hidden state to the item embedding space, and the next item is scored by a dot product
with the shared item embedding table. The paper trains session-parallel mini-batches with
TOP1/BPR-max losses; here, as in its later cross-entropy variant, every position of a
history window predicts the next item with a softmax over all items (``training.loop``,
``loss = "ce"``), or with sampled negatives (``"bce"``).

Windows are left-padded; each row is rotated so that its items come first, run through the
recurrent layer, and rotated back, so a history's states never depend on padding (packed
sequences would do the same, but their backward pass is ~20x slower on CPU).

Dimension letters: B windows, L positions, D embedding size, R recurrent state size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from recforge.models.sequential import SequenceConfig, SequentialRecommender


@dataclass(frozen=True)
class GRU4RecConfig(SequenceConfig):
    """:class:`SequenceConfig` plus the recurrent part: ``hidden_size`` R, ``layers`` and
    ``cell`` (``"gru"`` or ``"lstm"``)."""

    hidden_size: int = 128
    layers: int = 1
    cell: Literal["gru", "lstm"] = "gru"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.hidden_size < 1 or self.layers < 1:
            raise ValueError(
                f"hidden_size and layers must be >= 1, got {self.hidden_size}, {self.layers}"
            )
        if self.cell not in ("gru", "lstm"):
            raise ValueError(f"cell must be 'gru' or 'lstm', got {self.cell!r}")


class GRU4Rec(SequentialRecommender):
    """A recurrent encoder of the latest ``max_len`` items.

    >>> model = GRU4Rec(GRU4RecConfig(factors=8, hidden_size=6, max_len=4), 2, 7)
    >>> model.hidden(torch.tensor([[0, 3, 1, 2]])).shape
    torch.Size([1, 4, 8])
    """

    config_class = GRU4RecConfig
    config: GRU4RecConfig

    def __init__(self, config: GRU4RecConfig, n_users: int, n_items: int) -> None:
        super().__init__(config, n_users, n_items)
        rnn = nn.GRU if config.cell == "gru" else nn.LSTM
        self.rnn = rnn(
            config.factors,
            config.hidden_size,
            config.layers,
            batch_first=True,
            dropout=config.dropout if config.layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(config.hidden_size, config.factors)

    def hidden(self, tokens: Tensor) -> Tensor:
        length = tokens.shape[1]
        counts = (tokens > 0).sum(1)  # (B,) items per row, at its right end
        shift = length - counts  # leading padding per row
        position = torch.arange(length, device=tokens.device)
        to_left = (position[None, :] + shift[:, None]) % length  # left-aligned -> source
        x = self.dropout(self.item_embedding(tokens.gather(1, to_left)))  # (B, L, D) items first
        states, _ = self.rnn(x)  # (B, L, R); the states after a row's items are never used
        to_right = (position[None, :] - shift[:, None]) % length  # back to left padding
        states = states.gather(1, to_right[..., None].expand(-1, -1, states.shape[2]))
        return self.output(self.dropout(states)) * (tokens > 0)[..., None]  # (B, L, D)


__all__ = ["GRU4Rec", "GRU4RecConfig"]
