"""A trained model seen from the server: item vectors for ANN retrieval, a query vector for
one user (from the model's own user state or folded in from a live history), exact scores
where a model has no vector form, and re-ranking of a candidate list.

Each model family maps onto this differently, and only here:

* **vector models** (BPR-MF, GMF, iALS, NeuMF's GMF half): ``score = query · item_vector``,
  so the catalogue goes into an inner-product ANN index. iALS folds a live history into a
  fresh user vector (its exact user step), and the sequence models (GRU4Rec, SASRec) and
  Item2Vec encode the latest items, so a view recorded a second ago changes the next
  answer (two-tower too: its user tower pools them, with 1/τ folded into the query);
  the others use the trained user vector.
* **history models** (EASE, ItemKNN, popularity): scores over the whole catalogue computed
  from the live history itself.
* **re-rankers** (NeuMF, MLP): the full model scores the retrieved candidates.

Dimension letters: I items, D vector size, H history length, C candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from recforge.models.base import PropagatingRecommender, Recommender
from recforge.models.bpr import BPRMF
from recforge.models.ease import EASE
from recforge.models.gmf import GMF
from recforge.models.ials import IALS
from recforge.models.item2vec import Item2VecRecommender, user_vector
from recforge.models.itemknn import ItemKNN
from recforge.models.kgcn import KGCN
from recforge.models.neumf import NeuMF
from recforge.models.popularity import Popularity
from recforge.models.sequential import SequentialRecommender
from recforge.models.textcnn import TextCNN
from recforge.models.twotower import TwoTower
from recforge.representation.text import normalize_rows


@dataclass
class OnlineModel:
    """Serving view of ``model``; build it with :func:`online_model`.

    Attributes:
        model: the trained recommender.
        item_vectors: ``(I, D)`` float32 inner-product item side, or None.
        similarity_vectors: ``(I, D)`` float32 L2-normalised item vectors for item-to-item
            similarity, or None.
        uses_history: the query or the scores follow the live history.
    """

    model: Recommender
    item_vectors: np.ndarray | None
    similarity_vectors: np.ndarray | None
    uses_history: bool

    @property
    def n_items(self) -> int:
        return int(self.model.n_items)

    @property
    def reranks(self) -> bool:
        """Whether :meth:`rerank` re-scores retrieved candidates (fetch more of them)."""
        return isinstance(self.model, NeuMF)

    def _history(self, history_idx: np.ndarray) -> sp.csr_matrix:
        items = np.unique(np.asarray(history_idx, dtype=np.int64))
        return sp.csr_matrix(
            (np.ones(len(items), np.float32), (np.zeros(len(items), np.int64), items)),
            shape=(1, self.n_items),
        )

    @torch.no_grad()
    def query(self, user_idx: int | None, history_idx: np.ndarray) -> np.ndarray | None:
        """The ``(D,)`` query vector, or None when the model cannot place this user (a vector
        model that does not fold in and a user it never saw; or a model without vectors).
        ``history_idx`` is oldest first (Item2Vec reads its latest items)."""
        model = self.model
        if self.item_vectors is None:
            return None
        if isinstance(model, TwoTower):  # the history, plus the user's id where it reads one
            query = model.query_vector(user_idx, history_idx)
            return None if query is None else query.numpy()
        if isinstance(model, SequentialRecommender):
            if len(history_idx):
                return model.encode(model.tokens_of(history_idx))[0].numpy()
            if user_idx is None:
                return None
            return model.encode(model.user_history[user_idx : user_idx + 1])[0].numpy()
        if isinstance(model, Item2VecRecommender):
            if len(history_idx):
                return user_vector(model.input_vectors_, history_idx, model.config.recent).numpy()
            return None if user_idx is None else model.user_vectors_[user_idx].numpy()
        if isinstance(model, IALS):
            if len(history_idx):
                return model.fold_in_items(np.unique(history_idx)).numpy()
            return None if user_idx is None else model.user_factors_[user_idx].float().numpy()
        if user_idx is None:
            return None
        user = torch.tensor([user_idx])
        if isinstance(model, BPRMF):
            return torch.cat([model.user_embedding(user)[0], torch.ones(1)]).numpy()
        if isinstance(model, TextCNN):
            return model.user_embedding(user)[0].numpy()
        if isinstance(model, GMF):
            weighted = model.user_embedding(user)[0] * model.output.weight[0]  # (D,)
            return torch.cat([weighted, model.output.bias]).numpy()
        if isinstance(model, NeuMF):
            weight = model.output.weight[0, : model.config.factors]
            return (model.gmf_user_embedding(user)[0] * weight).numpy()
        return None  # pragma: no cover - every vector model is handled above

    @torch.no_grad()
    def scores(self, user_idx: int | None, history_idx: np.ndarray) -> np.ndarray | None:
        """``(I,)`` scores over the catalogue for models without item vectors, from the live
        history where the model reads one; None when the model cannot score this user."""
        model = self.model
        if isinstance(model, EASE | ItemKNN):
            if not len(history_idx):
                return None
            return model.score_history(self._history(history_idx))[0].numpy()
        if isinstance(model, Popularity):
            return model.item_counts_.float().numpy()
        if self.item_vectors is None and user_idx is not None:
            return model.score_all(torch.tensor([user_idx]))[0].float().numpy()
        return None

    @torch.no_grad()
    def rerank(self, user_idx: int | None, candidates: np.ndarray) -> np.ndarray | None:
        """Exact model scores ``(C,)`` of ``candidates`` where retrieval used a cheaper
        stand-in (NeuMF's GMF half); None where the retrieval score is already the model's."""
        if not isinstance(self.model, NeuMF) or user_idx is None or not len(candidates):
            return None
        items = torch.as_tensor(candidates, dtype=torch.int64)
        users = torch.full_like(items, user_idx)
        return self.model.score(users, items).numpy()

    def most_similar(self, item_idx: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items most similar to ``item_idx`` (itself excluded) and their
        similarities, best first, by an exact scan; empty arrays for a model without an
        item-to-item measure (popularity)."""
        if self.similarity_vectors is not None:
            scores = self.similarity_vectors @ self.similarity_vectors[item_idx]  # (I,) cosine
        elif (found := self.similar_scores(item_idx)) is not None:
            scores = found.astype(np.float32)
        else:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        scores = scores.copy()
        scores[item_idx] = -np.inf
        k = min(k, self.n_items - 1)
        top = np.argpartition(-scores, k - 1)[:k] if k > 0 else np.empty(0, np.int64)
        top = top[np.argsort(-scores[top], kind="stable")]
        return top.astype(np.int64), scores[top]

    @torch.no_grad()
    def similar_scores(self, item_idx: int) -> np.ndarray | None:
        """``(I,)`` item-to-item scores for models whose similarity is not a vector space
        (EASE's weights, ItemKNN's neighbours); None otherwise."""
        model = self.model
        if isinstance(model, EASE | ItemKNN):
            return model.score_history(self._history(np.array([item_idx])))[0].numpy()
        return None


@torch.no_grad()
def online_model(model: Recommender) -> OnlineModel:
    """The serving view of a trained ``model``.

    >>> from recforge.models.bpr import BPRMFConfig
    >>> model = BPRMF(BPRMFConfig(factors=4), n_users=2, n_items=3)
    >>> online = online_model(model)
    >>> online.item_vectors.shape  # factors plus the item bias column
    (3, 5)
    >>> scores = online.item_vectors @ online.query(1, np.array([], np.int64))
    >>> expected = model.score_all(torch.tensor([1]))[0].detach().numpy()
    >>> bool(np.allclose(scores, expected, atol=1e-6))
    True
    """
    if isinstance(model, nn.Module):
        model.eval()
    items: torch.Tensor | None = None
    similarity: torch.Tensor | None = None
    uses_history = False
    if isinstance(model, BPRMF):
        similarity = model.item_embedding.weight
        items = torch.cat([similarity, model.item_bias.weight], dim=1)  # (I, D+1)
    elif isinstance(model, GMF):
        similarity = model.item_embedding.weight
        items = torch.cat([similarity, torch.ones(model.n_items, 1)], dim=1)  # (I, D+1)
    elif isinstance(model, NeuMF):
        similarity = items = model.gmf_item_embedding.weight  # (I, D) retrieval half
    elif isinstance(model, IALS):
        similarity = items = model.item_factors_.float()
        uses_history = True
    elif isinstance(model, KGCN):  # user-specific item vectors: exact scores, and
        similarity = model.entity_embedding.weight[model.item_entity]  # items by their entity
    elif isinstance(model, PropagatingRecommender):  # exact scores; items by propagated vectors
        similarity = model.propagate()[1]
    elif isinstance(model, TextCNN):
        similarity = items = model.item_vectors()  # (I, D) text tower, cold items included
    elif isinstance(model, SequentialRecommender):
        similarity = items = model.item_vectors()  # (I, D) shared input/output table
        uses_history = True
    elif isinstance(model, Item2VecRecommender):
        items = model.context_vectors_.float()  # users score against the context side
        similarity = model.input_vectors_.float()  # item-to-item: cosine of input vectors
        uses_history = True
    elif isinstance(model, EASE | ItemKNN):
        uses_history = True
    return OnlineModel(
        model=model,
        item_vectors=None if items is None else np.ascontiguousarray(items.numpy(), np.float32),
        similarity_vectors=None if similarity is None else normalize_rows(similarity.numpy()),
        uses_history=uses_history,
    )


__all__ = ["OnlineModel", "online_model"]
