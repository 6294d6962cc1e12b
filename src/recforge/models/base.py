"""The recommender interface and ``recommend`` built once on top of it.

Every model maps users to scores over items:

* ``score(user_idx, item_idx) -> Tensor[B]`` for given pairs, and
* ``score_all(user_idx) -> Tensor[B, I]`` over the whole catalogue.

Neural models are ``nn.Module`` subclasses of :class:`NeuralRecommender` whose
``forward(batch)`` returns logits. Non-neural models subclass :class:`FittedRecommender`
and follow scikit-learn: ``fit(train) -> self``, learned state in attributes ending in ``_``.
Every model class is built as ``Model(config, n_users=..., n_items=...)``.

Dimension letters: B users in a batch, I items, K recommendations, D embedding size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn

from recforge.core.batches import UserItemBatch
from recforge.core.graph import KnowledgeGraph


class NeuralRecommender(nn.Module):
    """A recommender trained by gradient descent; ``forward(batch)`` returns logits ``(B,)``."""

    config_class: ClassVar[type]
    config: Any
    #: pairs scored per chunk in the default ``score_all``
    score_chunk: ClassVar[int] = 1 << 20

    def __init__(self, n_users: int, n_items: int) -> None:
        super().__init__()
        self.n_users = n_users
        self.n_items = n_items

    def forward(self, batch: UserItemBatch) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def score(self, user_idx: Tensor, item_idx: Tensor) -> Tensor:
        return self(UserItemBatch(user_idx=user_idx, item_idx=item_idx))

    def auxiliary_loss(self) -> Tensor | None:
        """A term the training loop adds to every step's loss (a model's own regulariser,
        such as KGIN's intent independence), or None."""
        return None

    def score_all(self, user_idx: Tensor) -> Tensor:
        """Scores of every item for each user ``(B, I)``; models with a dot-product
        structure override this with one matrix product."""
        device = user_idx.device
        items = torch.arange(self.n_items, device=device)
        rows = max(1, self.score_chunk // self.n_items)
        out = []
        for start in range(0, len(user_idx), rows):
            users = user_idx[start : start + rows]
            pair_users = users.repeat_interleave(self.n_items)  # (b*I,)
            pair_items = items.repeat(len(users))  # (b*I,)
            out.append(self.score(pair_users, pair_items).view(len(users), self.n_items))
        return torch.cat(out) if out else torch.empty(0, self.n_items, device=device)


class PropagatingRecommender(NeuralRecommender):
    """A model whose user and item vectors come from propagation over a whole graph
    (LightGCN, KG-LightGCN, KGIN): ``score = u · i``. Subclasses implement
    :meth:`_propagate`; in eval mode its result is computed once and cached until
    ``train()``, ``load_state_dict`` or a new graph (subclasses call :meth:`_forget`)."""

    def __init__(self, n_users: int, n_items: int) -> None:
        super().__init__(n_users, n_items)
        self._cache: tuple[Tensor, Tensor] | None = None  # eval-mode (U, D), (I, D)

    def _propagate(self) -> tuple[Tensor, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _forget(self) -> None:
        self._cache = None

    def training_edges(self, train: sp.spmatrix) -> tuple[Tensor, Tensor]:
        """The graph's interaction edges: the distinct non-zero ``(user, item)`` pairs of
        ``train`` (users x items) in row-major order, as int64 ``(E,)`` tensors.

        Raises:
            ValueError: ``train`` has another shape than ``(n_users, n_items)``.
        """
        if train.shape != (self.n_users, self.n_items):
            raise ValueError(
                f"train has shape {train.shape}, expected (n_users, n_items) = "
                f"({self.n_users}, {self.n_items})"
            )
        coo = sp.csr_matrix(train).tocoo()
        keep = coo.data != 0
        rows, cols = coo.row[keep].astype(np.int64), coo.col[keep].astype(np.int64)
        pairs = np.unique(rows * self.n_items + cols)  # sorted; a repeated pair counts once
        return torch.from_numpy(pairs // self.n_items), torch.from_numpy(pairs % self.n_items)

    def propagate(self) -> tuple[Tensor, Tensor]:
        """Final user ``(U, D)`` and item ``(I, D)`` vectors."""
        if not self.training and self._cache is not None:
            return self._cache
        users, items = self._propagate()
        if not self.training:
            self._cache = (users.detach(), items.detach())
        return users, items

    def train(self, mode: bool = True) -> Any:
        self._forget()  # parameters are about to change (or just did)
        return super().train(mode)

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> Any:
        self._forget()
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def forward(self, batch: UserItemBatch) -> Tensor:
        users, items = self.propagate()
        return (users[batch.user_idx] * items[batch.item_idx]).sum(-1)  # (B,)

    def score_all(self, user_idx: Tensor) -> Tensor:
        users, items = self.propagate()
        return users[user_idx] @ items.T  # (B, I)


class KnowledgeGraphModel:
    """Mixin of the models that read an item knowledge graph (KGCN, KGIN, KG-LightGCN):
    the graph's sizes live in the config (``n_entities``, ``n_relations``) so that
    ``Model(config, n_users, n_items)`` rebuilds a checkpoint's shapes, and
    :meth:`for_graph` builds one sized for a graph with the graph attached."""

    config: Any
    n_items: int

    @classmethod
    def for_graph(cls, config: Any, n_users: int, graph: KnowledgeGraph) -> Any:
        """A model sized for ``graph`` (``config``'s graph sizes are replaced) with the graph
        attached; ``n_items`` is ``graph.n_items``."""
        config = dataclasses.replace(
            config, n_entities=graph.n_entities, n_relations=graph.n_relations
        )
        model = cls(config, n_users=n_users, n_items=graph.n_items)  # type: ignore[call-arg]
        model.attach_graph(graph)
        return model

    def attach_graph(self, graph: KnowledgeGraph) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def check_sizes(config: Any) -> None:
        """For a config's ``__post_init__``: the graph sizes must not be negative.

        Raises:
            ValueError: ``n_entities`` or ``n_relations`` is below 0.
        """
        if config.n_entities < 0 or config.n_relations < 0:
            raise ValueError("n_entities and n_relations must be >= 0")

    def check_graph(self, graph: KnowledgeGraph, n_entities: int) -> None:
        """Raises ValueError if ``graph``'s sizes differ from the model's (``n_entities``:
        the model's entity table)."""
        expected = (n_entities, self.config.n_relations, self.n_items)
        found = (graph.n_entities, graph.n_relations, graph.n_items)
        if expected != found:
            name = type(self).__name__
            raise ValueError(
                f"graph has (n_entities, n_relations, n_items) = {found}, the model "
                f"{expected}; build it with {name}.for_graph"
            )


class FittedRecommender:
    """A recommender fitted in closed form or by alternating solves, not by SGD.

    Subclasses set ``config_class`` and ``state_names`` (the learned ``*_`` attributes saved
    in checkpoints) and implement ``fit`` and ``score_all``.
    """

    config_class: ClassVar[type]
    state_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Any, n_users: int, n_items: int) -> None:
        self.config = config
        self.n_users = n_users
        self.n_items = n_items

    def fit(self, train: sp.csr_matrix) -> FittedRecommender:  # pragma: no cover - abstract
        raise NotImplementedError

    def score_all(self, user_idx: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def score(self, user_idx: Tensor, item_idx: Tensor) -> Tensor:
        users, row = torch.unique(user_idx, return_inverse=True)  # each user scored once
        return self.score_all(users)[row, item_idx]  # (B,)

    def check_fitted(self) -> None:
        missing = [name for name in self.state_names if not hasattr(self, name)]
        if missing:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(train) first")

    def state_dict(self) -> dict[str, Tensor]:
        self.check_fitted()
        return {name: torch.as_tensor(getattr(self, name)) for name in self.state_names}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        unknown = set(state) - set(self.state_names)
        missing = set(self.state_names) - set(state)
        if unknown or missing:
            raise KeyError(
                f"state keys mismatch: missing {sorted(missing)}, unknown {sorted(unknown)}"
            )
        for name, value in state.items():
            setattr(self, name, value)

    def eval(self) -> FittedRecommender:
        """No-op, so callers can treat every recommender alike."""
        return self


Recommender = NeuralRecommender | FittedRecommender


def exclusion_mask(seen: sp.csr_matrix, user_idx: np.ndarray, n_items: int) -> Tensor:
    """Boolean ``(B, I)`` mask that is True where user ``user_idx[b]`` has seen item ``i``."""
    rows = seen[user_idx]
    mask = torch.zeros(len(user_idx), n_items, dtype=torch.bool)
    coo = rows.tocoo()
    mask[torch.from_numpy(coo.row.astype(np.int64)), torch.from_numpy(coo.col.astype(np.int64))] = (
        True
    )
    return mask


@torch.no_grad()
def recommend(
    model: Recommender,
    user_idx: np.ndarray | Tensor,
    *,
    k: int,
    exclude: sp.csr_matrix | None = None,
    batch_size: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` items per user: ``(item_idx (B, K), scores (B, K))``, best first.

    Args:
        model: any recommender.
        user_idx: users to recommend for.
        k: list length; capped at the catalogue size.
        exclude: a users x items matrix whose non-zeros are never recommended
            (e.g. the training interactions); excluded slots score minus infinity and are
            only returned when a user has fewer than ``k`` unexcluded items.
        batch_size: users scored at once.
    """
    users = torch.as_tensor(np.asarray(user_idx), dtype=torch.int64)
    k = min(k, model.n_items)
    if isinstance(model, nn.Module):
        model.eval()
    items_out, scores_out = [], []
    for start in range(0, len(users), batch_size):
        chunk = users[start : start + batch_size]
        scores = model.score_all(chunk).float()  # (B, I)
        if exclude is not None:
            scores = scores.masked_fill(
                exclusion_mask(exclude, chunk.numpy(), model.n_items), -torch.inf
            )
        top = torch.topk(scores, k, dim=1)
        items_out.append(top.indices.numpy())
        scores_out.append(top.values.numpy())
    if not items_out:
        return np.empty((0, k), np.int64), np.empty((0, k), np.float32)
    return np.concatenate(items_out), np.concatenate(scores_out)
