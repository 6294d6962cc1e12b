"""KGIN: knowledge graph-based intent network (Wang et al., WWW 2021).

A user picks an item for a reason (an intent) that the knowledge graph can name: "films by
this director", "this genre in this decade". KGIN models ``P`` intents, each a mix of
relations, ``e_p = Σ_r α(r, p) e_r`` with ``α(·, p) = softmax_r(w_rp)`` learned (Eq. 1),
and keeps them apart with an independence loss (Eq. 3, the mutual-information form:
the softmax over cosine similarities ``s(e_p, e_p') / τ`` should pick each intent itself).

Two aggregations, ``L`` layers deep:

* **users from items through intents** (Eq. 6–7): ``e_u^(l) = (1/|N_u|) Σ_p β(u, p) e_p
  ⊙ Σ_{i ∈ N_u} e_i^(l-1)``, ``β(u, ·) = softmax_p(e_p · e_u^(0))`` the user's attention
  over intents;
* **entities from the graph through relations** (Eq. 8): ``e_h^(l) = (1/|N_h|) Σ_{(r, t)
  ∈ N_h} e_r ⊙ e_t^(l-1)`` over every triple and its inverse (each relation ``r`` gets an
  inverse relation ``r + R``), so items take in their attributes and, from layer 2, the
  other items that share them (relational paths).

Users and items are the sums of their layers (Eq. 12), ``ŷ_ui = e_u* · e_i*`` a logit
(Eq. 13), trained with BPR plus the independence term (``TrainConfig(loss="bpr")``;
:meth:`KGIN.auxiliary_loss` adds the term, ``weight_decay`` plays the L2). As in the
authors' code each layer's output is L2-normalised before it is summed and passed on,
and training drops a share of the edges of both graphs on every step (``node_dropout``)
and of the messages (``message_dropout``).

Why a second KG model beside :mod:`recforge.models.kgcn`: on MovieLens-100K KGCN's item
vectors, smoothed over a fixed sample of attributes, lose to plain BPR-MF; KGIN keeps
the item ids as free vectors, propagates over the whole graph (no sampling), and lets users
see items through learned relation mixes. In RecBole's tuned KG benchmark on MovieLens-1M
it has the best Recall@10 of KGIN, KGAT and CKE (0.1895 against 0.1783 and 0.1768).

The graph is part of the model (buffers): the triples with their inverses, the
item-to-entity map and the training interactions (``uses_graph``: :func:`fit` hands them
to :meth:`KGIN.set_graph`). Graph sizes live in the config, so ``KGIN(config, n_users,
n_items)`` rebuilds the right shapes; :meth:`KGIN.for_graph` fills them from a graph.

Dimension letters: B pairs or users in a batch, U users, I items, E entities, R relations
(2R with inverses), T triples (2T with inverses), P intents, D embedding size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from recforge.core.graph import KnowledgeGraph
from recforge.models.base import KnowledgeGraphModel, PropagatingRecommender

#: buffers whose length is the graph's, set before a checkpoint's tensors are copied in
_GRAPH_BUFFERS = ("kg_head", "kg_relation", "kg_tail", "edge_user", "edge_item")


@dataclass(frozen=True)
class KGINConfig:
    """Args:
    dim: embedding size D (64 in the paper).
    layers: propagation layers L (context hops; 3 in the paper).
    n_intents: intents P (4 in the paper).
    independence: weight λ1 of the intent independence loss (1e-4 in the authors' code).
    temperature: τ of the independence loss.
    node_dropout: share of the edges of both graphs dropped at each training step.
    message_dropout: dropout on each layer's aggregated messages while training.
    n_entities: entities of the graph; 0 means one entity per item and no graph.
    n_relations: relations of the graph, inverses not counted.
    """

    dim: int = 64
    layers: int = 3
    n_intents: int = 4
    independence: float = 1e-4
    temperature: float = 0.2
    node_dropout: float = 0.5
    message_dropout: float = 0.1
    n_entities: int = 0
    n_relations: int = 0

    def __post_init__(self) -> None:
        for name in ("dim", "n_intents"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.layers < 0:
            raise ValueError(f"layers must be >= 0, got {self.layers}")
        for name in ("node_dropout", "message_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.independence < 0 or self.temperature <= 0:
            raise ValueError("independence must be >= 0 and temperature > 0")
        KnowledgeGraphModel.check_sizes(self)


class KGIN(KnowledgeGraphModel, PropagatingRecommender):
    """Knowledge graph-based intent network; ``forward`` returns logits ``(B,)``.

    >>> graph = KnowledgeGraph(head=np.array([0, 1]), relation=np.array([0, 0]),
    ...                        tail=np.array([3, 3]), n_entities=4, n_relations=1,
    ...                        item_entity=np.array([0, 1, 2]))
    >>> model = KGIN.for_graph(KGINConfig(dim=4, layers=2, n_intents=2), n_users=2, graph=graph)
    >>> model.set_graph(sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 0]], dtype=np.float32)))
    >>> model.eval().score_all(torch.tensor([0, 1])).shape
    torch.Size([2, 3])
    """

    config_class = KGINConfig
    #: the training loop hands the training matrix to :meth:`set_graph`
    uses_graph = True

    kg_head: Tensor  # (2T,) int64 entity that receives the message
    kg_relation: Tensor  # (2T,) int64 relation, r + R for the inverse of r
    kg_tail: Tensor  # (2T,) int64 entity that sends it
    item_entity: Tensor  # (I,) int64 entity of each item
    edge_user: Tensor  # (N,) int64 user of each training interaction
    edge_item: Tensor  # (N,) int64 its item

    def __init__(self, config: KGINConfig, n_users: int, n_items: int) -> None:
        super().__init__(n_users, n_items)
        self.config = config
        n_entities = config.n_entities or n_items
        n_relations = 2 * max(config.n_relations, 1)  # with inverses; one unused if no graph
        self.user_embedding = nn.Embedding(n_users, config.dim)
        self.entity_embedding = nn.Embedding(n_entities, config.dim)
        self.relation_embedding = nn.Embedding(n_relations, config.dim)
        self.intent_logits = nn.Parameter(torch.empty(config.n_intents, n_relations))  # w_rp
        for weight in (
            self.user_embedding.weight,
            self.entity_embedding.weight,
            self.relation_embedding.weight,
            self.intent_logits,
        ):
            nn.init.xavier_uniform_(weight)  # as the authors' code
        for name in _GRAPH_BUFFERS:
            self.register_buffer(name, torch.zeros(0, dtype=torch.int64))
        self.register_buffer("item_entity", torch.arange(n_items) % n_entities)

    def attach_graph(self, graph: KnowledgeGraph) -> None:
        """Store ``graph``'s triples, with an inverse for each, and its item-entity map.

        Raises:
            ValueError: the graph's sizes differ from the model's.
        """
        self.check_graph(graph, self.entity_embedding.num_embeddings)
        device = self.item_entity.device
        both = [np.concatenate(pair) for pair in (
            (graph.head, graph.tail), (graph.relation, graph.relation + graph.n_relations),
            (graph.tail, graph.head),
        )]  # fmt: skip
        self.kg_head, self.kg_relation, self.kg_tail = (
            torch.from_numpy(array).to(device) for array in both
        )
        self.item_entity = torch.from_numpy(graph.item_entity.copy()).to(device)
        self._forget()

    def set_graph(self, train: sp.spmatrix) -> None:
        """Use the non-zeros of ``train`` (users x items) as the interaction edges.

        Raises:
            ValueError: ``train`` has another shape than ``(n_users, n_items)``.
        """
        users, items = self.training_edges(train)
        device = self.item_entity.device
        self.edge_user, self.edge_item = users.to(device), items.to(device)
        self._forget()

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> Any:
        """Take the graph buffers' lengths from the checkpoint (unknown at construction)."""
        for name in _GRAPH_BUFFERS:
            if name in state_dict:
                setattr(self, name, state_dict[name].clone())
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def intents(self) -> Tensor:
        """Intent vectors ``(P, D)``: ``e_p = Σ_r softmax_r(w_rp) e_r`` (Eq. 1)."""
        return torch.softmax(self.intent_logits, dim=1) @ self.relation_embedding.weight

    def auxiliary_loss(self) -> Tensor:
        """``λ1`` times the independence loss of the intents (Eq. 3): cross-entropy of each
        intent against the others by cosine similarity over ``τ``."""
        if self.config.independence == 0 or self.config.n_intents < 2:
            return self.intent_logits.new_zeros(())
        unit = F.normalize(self.intents(), dim=1)  # (P, D)
        logits = unit @ unit.T / self.config.temperature  # (P, P)
        targets = torch.arange(len(unit), device=unit.device)
        return self.config.independence * F.cross_entropy(logits, targets, reduction="sum")

    def _kept(self, n_edges: int) -> Tensor | None:
        """Indices of the edges kept at this training step, or None (all)."""
        rate = self.config.node_dropout
        if not self.training or rate == 0 or n_edges == 0:
            return None
        device = self.item_entity.device
        return torch.randperm(n_edges, device=device)[: round(n_edges * (1 - rate))]

    def _interaction_mean(self) -> Tensor:
        """Row-normalised users x items matrix ``(U, I)`` over the kept interactions."""
        users, items = self.edge_user, self.edge_item
        kept = self._kept(len(users))
        if kept is not None:
            users, items = users[kept], items[kept]
        degree = torch.bincount(users, minlength=self.n_users).clamp(min=1)
        values = 1.0 / degree[users].to(self.entity_embedding.weight.dtype)
        return torch.sparse_coo_tensor(
            torch.stack([users, items]),
            values,
            (self.n_users, self.n_items),
            check_invariants=False,  # indices come from set_graph's matrix
        ).coalesce()

    def _propagate(self) -> tuple[Tensor, Tensor]:
        """Final user ``(U, D)`` and item ``(I, D)`` vectors: the sums of layers 0..L
        (Eq. 12); their inner product is the logit (Eq. 13)."""
        users0, entities = self.user_embedding.weight, self.entity_embedding.weight
        user_total, entity_total = users0, entities
        if self.config.layers:
            intents = self.intents()  # (P, D)
            user_intent = torch.softmax(users0 @ intents.T, dim=1) @ intents  # (U, D), Eq. 7
            mean = self._interaction_mean()
            head, relation, tail = self.kg_head, self.kg_relation, self.kg_tail
            kept = self._kept(len(head))
            if kept is not None:
                head, relation, tail = head[kept], relation[kept], tail[kept]
            n_entities = entities.shape[0]
            in_degree = torch.bincount(head, minlength=n_entities).clamp(min=1).unsqueeze(1)
            relations = self.relation_embedding(relation)  # (2T', D)
            dropout = self.config.message_dropout
            for _ in range(self.config.layers):
                items = entities[self.item_entity]  # (I, D) layer l - 1
                users = torch.sparse.mm(mean, items) * user_intent  # (U, D), Eq. 6
                messages = relations * entities[tail]  # (2T', D)
                summed = torch.zeros_like(entities).index_add(0, head, messages)
                entities = summed / in_degree  # (E, D), Eq. 8
                users = F.normalize(F.dropout(users, dropout, self.training), dim=1)
                entities = F.normalize(F.dropout(entities, dropout, self.training), dim=1)
                user_total = user_total + users
                entity_total = entity_total + entities
        return user_total, entity_total[self.item_entity]
