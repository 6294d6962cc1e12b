"""Two-tower retrieval: a user (query) tower and an item tower whose outputs meet in a dot
product (YouTube DNN, Covington et al., RecSys 2016; Yi et al., "Sampling-Bias-Corrected
Neural Modeling for Large Corpus Item Recommendations", RecSys 2019).

* **User tower**: an MLP over the mean of the item-id embeddings of the user's latest
  ``max_len`` items, concatenated with the user's id embedding when ``user_id`` is set.
* **Item tower**: an MLP over the item's id embedding. A history item and a candidate item
  read the same id table, so an item learns from both roles.
* Both outputs are L2-normalised and the score is their cosine divided by ``temperature``
  (Yi et al., Section 4: normalised embeddings with a temperature sharpen the softmax).
  1/τ is folded into the query, so ``score = query · item_vector`` exactly: retrieval is a
  maximum-inner-product search over :meth:`TwoTower.item_vectors` (the server's FAISS
  index, through ``models.online``).

Training (``training.loop`` with ``loss = "in_batch"``): every position of a user's history
window is one (context, item) pair. With ``context = "prefix"`` the query at position t pools
the items up to t and predicts the next one (a running mean, so one pass gives every
position): YouTube DNN's next-watch objective, matched to time-ordered protocols
(leave-one-out by time). With ``context = "others"`` the query pools every item of the window
but the target: a held-out item from the rest of the history, matched to random splits,
whose test items are not the latest ones. The other targets of the batch are
the negatives, each logit corrected by the log of its item's sampling probability (logQ) and
in-batch copies of a row's own positive masked: see ``training.losses.in_batch_logits``. The
other sequence losses (``ce``, ``sampled_ce``, ``bce``) train it too.

The model keeps users' latest items as a buffer (:class:`SequentialRecommender`), so
``score``/``score_all`` answer per user, and the serving view folds a live history in.
A user with an empty history gets the query of an all-zero pooled input (plus the user's id
embedding when used): one learned prior ranking, never an error. A user the model never saw
(``user_idx`` None) gets a zero id embedding.

Dimension letters: B users or windows, L positions, D id embedding size, E output size,
I items.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from recforge.core.batches import UserItemBatch
from recforge.models._sparse import check_user_idx
from recforge.models.ranker import feed_forward
from recforge.models.sequential import SequenceConfig, SequentialRecommender, trim


@dataclass(frozen=True)
class TwoTowerConfig(SequenceConfig):
    """:class:`SequenceConfig` (``factors`` = id embedding size D, ``max_len`` = latest items
    the user tower pools, ``dropout`` between tower layers) plus:

    Args:
        layers: widths of each tower's MLP, the last being the output size E (ReLU and
            dropout after every layer but the last).
        user_id: add the user's id embedding (size D) to the user tower's input. Off by
            default, as in YouTube DNN: a query built from the history alone places users
            the model never saw and follows a live history.
        temperature: τ dividing the cosine; the logits range over [−1/τ, 1/τ].
        context: what the query of a training pair pools: ``"prefix"`` (the items before
            the target) or ``"others"`` (the window's items except the target).
    """

    layers: tuple[int, ...] = (128, 64)
    user_id: bool = False
    temperature: float = 0.05
    context: Literal["prefix", "others"] = "prefix"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.layers or min(self.layers) < 1:
            raise ValueError(f"layers must be one or more widths >= 1, got {self.layers}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.context not in ("prefix", "others"):
            raise ValueError(f"context must be 'prefix' or 'others', got {self.context!r}")


def _tower(width_in: int, config: TwoTowerConfig) -> nn.Sequential:
    """ReLU layers of ``layers[:-1]`` with dropout, then a linear map to ``layers[-1]``."""
    *hidden, width_out = config.layers
    body = feed_forward(width_in, hidden, config.dropout)
    return nn.Sequential(body, nn.Linear(hidden[-1] if hidden else width_in, width_out))


class TwoTower(SequentialRecommender):
    """User and item towers scored by a temperature-scaled cosine.

    >>> model = TwoTower(TwoTowerConfig(factors=8, max_len=4, layers=(16, 6)), 2, 7).eval()
    >>> model.hidden(torch.tensor([[0, 3, 1, 2]])).shape
    torch.Size([1, 4, 6])
    >>> vectors = model.item_vectors()  # (I, E) unit rows
    >>> vectors.shape, bool(torch.allclose(vectors.norm(dim=1), torch.ones(7)))
    (torch.Size([7, 6]), True)
    """

    config_class = TwoTowerConfig
    config: TwoTowerConfig

    def __init__(self, config: TwoTowerConfig, n_users: int, n_items: int) -> None:
        super().__init__(config, n_users, n_items)
        d = config.factors
        self.user_embedding: nn.Embedding | None = None
        if config.user_id:
            self.user_embedding = nn.Embedding(n_users, d)
            nn.init.normal_(self.user_embedding.weight, std=config.init_std)
        self.user_tower = _tower(2 * d if config.user_id else d, config)
        self.item_tower = _tower(d, config)

    def _query(self, pooled: Tensor, user_idx: Tensor | None) -> Tensor:
        """Queries ``(B, ..., E)`` from pooled histories ``(B, ..., D)``: the user tower,
        normalised, times 1/τ."""
        if self.user_embedding is not None:
            if user_idx is None:  # a user the model never saw: no id part
                users = pooled.new_zeros(pooled.shape)  # (B, ..., D)
            else:
                users = self.user_embedding(user_idx)  # (B, D)
                users = users.view(len(users), *[1] * (pooled.dim() - 2), -1).expand_as(pooled)
            pooled = torch.cat([pooled, users], dim=-1)  # (B, ..., 2D)
        return F.normalize(self.user_tower(pooled), dim=-1) / self.config.temperature

    def hidden(self, tokens: Tensor, user_idx: Tensor | None = None) -> Tensor:
        """Training query of each position ``(B, L, E)``, whose target is the item after it:
        the mean of the items up to it (``"prefix"``), or of every item of the window but
        that target (``"others"``; at the last position, whose target lies beyond the
        window, every item). Padding pools to zeros; ``user_idx`` ``(B,)`` feeds the id
        embedding when it is used."""
        present = (tokens > 0).unsqueeze(-1).float()  # (B, L, 1)
        embedded = self.item_embedding(tokens) * present  # (B, L, D)
        if self.config.context == "prefix":
            pooled = embedded.cumsum(1) / present.cumsum(1).clamp(min=1.0)  # (B, L, D)
        else:
            following = F.pad(embedded[:, 1:], (0, 0, 0, 1))  # (B, L, D) the target, if inside
            dropped = F.pad(present[:, 1:], (0, 0, 0, 1))  # (B, L, 1)
            total = embedded.sum(1, keepdim=True) - following  # (B, L, D)
            pooled = total / (present.sum(1, keepdim=True) - dropped).clamp(min=1.0)
        return self._query(pooled, user_idx)

    def encode(self, tokens: Tensor, user_idx: Tensor | None = None) -> Tensor:
        """Query vectors ``(B, E)`` of whole windows (the last position of :meth:`hidden`,
        without running the tower on the earlier ones)."""
        tokens = trim(tokens)
        present = (tokens > 0).unsqueeze(-1).float()  # (B, L, 1)
        summed = (self.item_embedding(tokens) * present).sum(1)  # (B, D)
        return self._query(summed / present.sum(1).clamp(min=1.0), user_idx)

    def item_vectors(self, item_idx: Tensor | None = None) -> Tensor:
        """Unit item-tower outputs ``(I, E)``, or ``(B, E)`` for the items ``item_idx``."""
        embedded = (
            self.item_embedding.weight[1:]
            if item_idx is None
            else self.item_embedding(item_idx + 1)
        )
        return F.normalize(self.item_tower(embedded), dim=-1)

    def forward(self, batch: UserItemBatch) -> Tensor:
        users, row = torch.unique(batch.user_idx, return_inverse=True)  # encode each once
        queries = self.encode(self.user_history[users], users)[row]  # (B, E)
        return (queries * self.item_vectors(batch.item_idx)).sum(-1)  # (B,)

    def score_all(self, user_idx: Tensor) -> Tensor:
        user_idx = check_user_idx(user_idx, self.n_users)
        queries = self.encode(self.user_history[user_idx], user_idx)  # (B, E)
        return queries @ self.item_vectors().T  # (B, I)

    @torch.no_grad()
    def query_vector(self, user_idx: int | None, history_idx: np.ndarray) -> Tensor | None:
        """The ``(E,)`` serving query: from ``history_idx`` (item indices, oldest first) when
        it is not empty, else from the stored history of ``user_idx``; None for an unknown
        user without history (nothing to place them by: cold start)."""
        if len(history_idx):
            tokens = self.tokens_of(history_idx)  # (1, L)
        elif user_idx is None:
            return None
        else:
            tokens = self.user_history[user_idx : user_idx + 1]  # (1, L)
        users = None if user_idx is None else torch.tensor([user_idx])
        return self.encode(tokens, users)[0]


__all__ = ["TwoTower", "TwoTowerConfig"]
