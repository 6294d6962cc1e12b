"""KGCN: knowledge graph convolutional networks for recommendation (Wang et al., WWW 2019).

An item is represented through its entity in a knowledge graph, mixed with a fixed-size
sample of its neighbours, ``n_iter`` hops deep. The mixing is personal: neighbour ``e``
reached through relation ``r`` weighs ``softmax_e(u · r)`` for user ``u`` (Eq. 1–3, the
inner product as ``g``), so a user who cares about genres sees a film through its genres and
one who cares about directors sees it through its director. Three aggregators (Eq. 6–8):
``sum`` ``σ(W (v + v_N) + b)``, ``concat`` ``σ(W [v; v_N] + b)``, ``neighbor``
``σ(W v_N + b)``; ReLU inside, tanh on the last iteration; one aggregator per iteration,
shared by the hops (Algorithm 1). Score ``ŷ_uv = u · v^u`` (a logit; the loss lives in
``training.losses``; the paper trains pointwise log loss with one sampled negative per
positive and L2 on the parameters: ``TrainConfig(loss="bce", n_negatives=1,
weight_decay=λ)``, Adam's L2 gradient being that of ``λ/2 ‖θ‖²``).

Why KGCN rather than KGAT or RippleNet: its published Last.FM numbers (AUC 0.796, F1 0.721)
come with the very files read by :func:`recforge.data.sources.knowledge.read_kgcn_lastfm`,
so there is an anchor on identical data; its cost is fixed by the sample size (``B · K^H``
neighbours per batch, no propagation over the whole graph as in KGAT), which keeps it cheap
on a CPU; and it needs no per-user ripple sets (RippleNet), so a checkpoint holds only
embeddings, aggregator weights and the sampled adjacency.

The graph is part of the model: the neighbour sample (drawn once with ``config.seed``, as in
the paper's code) and the item-to-entity map are buffers, so checkpoints restore them. The
sizes live in the config (``n_entities``, ``n_relations``), so ``KGCN(config, n_users,
n_items)`` rebuilds the right shapes; :meth:`KGCN.for_graph` fills them from a graph. Before
a graph is attached, each entity has only itself as neighbour (through an extra "self"
relation, index ``n_relations``), which is also what isolated entities (items without a
link) keep.

Dimension letters: B pairs or users in a batch, N items per user (1 for pairs), I items,
E entities, R relations, K sampled neighbours, H = n_iter hops, M = K^h entities at hop h,
D embedding size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from recforge.core.batches import UserItemBatch
from recforge.core.graph import KnowledgeGraph
from recforge.models.base import KnowledgeGraphModel, NeuralRecommender

#: floats one ``score_all`` chunk may materialise per aggregation step (~64 MiB)
_SCORE_BUDGET = 1 << 24


@dataclass(frozen=True)
class KGCNConfig:
    """Args:
    dim: embedding size D (16 for Last.FM in the paper).
    n_neighbours: neighbours K sampled per entity (8 for Last.FM).
    n_iter: hops H of the receptive field (1 for Last.FM).
    aggregator: ``"sum"``, ``"concat"`` or ``"neighbor"`` (Eq. 6–8).
    n_entities: entities of the graph; 0 means one entity per item and no graph.
    n_relations: relations of the graph (an extra "self" relation is added).
    seed: seeds the neighbour sample.
    """

    dim: int = 16
    n_neighbours: int = 8
    n_iter: int = 1
    aggregator: Literal["sum", "concat", "neighbor"] = "sum"
    n_entities: int = 0
    n_relations: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("dim", "n_neighbours", "n_iter"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        KnowledgeGraphModel.check_sizes(self)
        if self.aggregator not in ("sum", "concat", "neighbor"):
            raise ValueError(
                f"aggregator must be 'sum', 'concat' or 'neighbor', got {self.aggregator!r}"
            )


def sample_neighbours(
    graph: KnowledgeGraph, n_neighbours: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A fixed-size neighbour sample of every entity over the undirected graph.

    Each triple ``(h, r, t)`` makes ``t`` a neighbour of ``h`` and ``h`` one of ``t``, both
    through ``r``. An entity with at least ``K`` neighbours gets ``K`` of them without
    replacement; one with fewer gets ``K`` drawn with replacement; an isolated entity gets
    itself ``K`` times through the "self" relation (index ``n_relations``).

    Returns:
        ``(entities (E, K), relations (E, K))`` int64.

    >>> graph = KnowledgeGraph(head=np.array([0, 0, 0]), relation=np.array([0, 1, 1]),
    ...                        tail=np.array([1, 2, 3]), n_entities=5, n_relations=2,
    ...                        item_entity=np.array([0]))
    >>> entities, relations = sample_neighbours(graph, 2, np.random.default_rng(0))
    >>> entities[1].tolist(), relations[1].tolist(), entities[4].tolist(), relations[4].tolist()
    ([0, 0], [0, 0], [4, 4], [2, 2])
    >>> len(set(entities[0].tolist())) == 2  # three neighbours: two distinct drawn
    True
    """
    n_entities, k = graph.n_entities, n_neighbours
    own = np.repeat(np.arange(n_entities, dtype=np.int64)[:, None], k, axis=1)  # (E, K)
    self_relation = np.full((n_entities, k), graph.n_relations, np.int64)
    if graph.n_triples == 0:
        return own, self_relation
    source = np.concatenate([graph.head, graph.tail])  # (2T,)
    target = np.concatenate([graph.tail, graph.head])
    relation = np.concatenate([graph.relation, graph.relation])
    # random order within each entity's neighbours: sort by (entity, random key)
    order = np.lexsort((rng.random(len(source)), source))
    source, target, relation = source[order], target[order], relation[order]
    degree = np.bincount(source, minlength=n_entities)  # (E,)
    start = np.concatenate([[0], np.cumsum(degree)[:-1]])  # (E,)
    slot = np.arange(k)[None, :]  # (1, K)
    # enough neighbours: the first K of the shuffled list; too few: K uniform draws
    drawn = np.floor(rng.random((n_entities, k)) * np.maximum(degree, 1)[:, None])
    offset = np.where(degree[:, None] >= k, slot, drawn.astype(np.int64))  # (E, K)
    position = np.minimum(start[:, None] + offset, len(source) - 1)  # (E, K)
    isolated = (degree == 0)[:, None]  # (E, 1)
    entities = np.where(isolated, own, target[position])
    relations = np.where(isolated, self_relation, relation[position])
    return entities.astype(np.int64), relations.astype(np.int64)


class KGCN(KnowledgeGraphModel, NeuralRecommender):
    """Knowledge graph convolutional network; ``forward`` returns logits ``(B,)``.

    >>> graph = KnowledgeGraph(head=np.array([0, 1]), relation=np.array([0, 0]),
    ...                        tail=np.array([3, 3]), n_entities=4, n_relations=1,
    ...                        item_entity=np.array([0, 1, 2]))
    >>> model = KGCN.for_graph(KGCNConfig(dim=4, n_neighbours=2), n_users=2, graph=graph)
    >>> model.config.n_entities, model.score_all(torch.tensor([0, 1])).shape
    (4, torch.Size([2, 3]))
    """

    config_class = KGCNConfig

    adjacency_entity: Tensor  # (E, K) int64 sampled neighbour entities
    adjacency_relation: Tensor  # (E, K) int64 their relations (n_relations = self)
    item_entity: Tensor  # (I,) int64 entity of each item

    def __init__(self, config: KGCNConfig, n_users: int, n_items: int) -> None:
        super().__init__(n_users, n_items)
        self.config = config
        n_entities = config.n_entities or n_items
        dim, k = config.dim, config.n_neighbours
        self.user_embedding = nn.Embedding(n_users, dim)
        self.entity_embedding = nn.Embedding(n_entities, dim)
        self.relation_embedding = nn.Embedding(config.n_relations + 1, dim)  # + self relation
        for table in (self.user_embedding, self.entity_embedding, self.relation_embedding):
            nn.init.xavier_uniform_(table.weight)  # as the paper's code
        width = 2 * dim if config.aggregator == "concat" else dim
        self.aggregators = nn.ModuleList(nn.Linear(width, dim) for _ in range(config.n_iter))
        self.register_buffer("adjacency_entity", torch.arange(n_entities).unsqueeze(1).repeat(1, k))
        self.register_buffer("adjacency_relation", torch.full((n_entities, k), config.n_relations))
        # until a graph is attached (or a checkpoint loaded) item i is entity i (mod E: a
        # graph may map several items to one entity, so E < I is possible)
        self.register_buffer("item_entity", torch.arange(n_items) % n_entities)

    def attach_graph(self, graph: KnowledgeGraph) -> None:
        """Sample the neighbours of ``graph`` (seeded by ``config.seed``) into the buffers.

        Raises:
            ValueError: the graph's sizes differ from the model's.
        """
        self.check_graph(graph, self.entity_embedding.num_embeddings)
        rng = np.random.default_rng(self.config.seed)
        entities, relations = sample_neighbours(graph, self.config.n_neighbours, rng)
        device = self.adjacency_entity.device
        self.adjacency_entity.copy_(torch.from_numpy(entities).to(device))
        self.adjacency_relation.copy_(torch.from_numpy(relations).to(device))
        self.item_entity.copy_(torch.from_numpy(graph.item_entity.copy()).to(device))

    def forward(self, batch: UserItemBatch) -> Tensor:
        users = self.user_embedding(batch.user_idx)  # (B, D)
        roots = self.item_entity[batch.item_idx].unsqueeze(1)  # (B, 1): N = 1 item per pair
        return self._scores(users, roots).squeeze(1)  # (B,)

    def score_all(self, user_idx: Tensor) -> Tensor:
        """Scores ``(B, I)``: the item side (receptive fields) is gathered once and shared
        by every user of a chunk; only the attention and aggregation are per user."""
        roots = self.item_entity.unsqueeze(0)  # (1, I)
        per_user = self.n_items * self.config.n_neighbours**self.config.n_iter * self.config.dim
        rows = max(1, _SCORE_BUDGET // per_user)
        out = [
            self._scores(self.user_embedding(user_idx[start : start + rows]), roots)
            for start in range(0, len(user_idx), rows)
        ]
        return torch.cat(out) if out else torch.empty(0, self.n_items, device=user_idx.device)

    def _scores(self, users: Tensor, roots: Tensor) -> Tensor:
        """Logits ``(B, N)`` of users ``(B, D)`` for root entities ``roots (X, N)``, where
        ``X = B`` (one item per user: pairs) or ``X = 1`` (the same items for every user)."""
        k = self.config.n_neighbours
        entities, relations = [roots], []  # entities[h]: (X, N·K^h), relations[h]: (X, N·K^(h+1))
        for hop in range(self.config.n_iter):
            frontier = entities[hop]  # (X, N·K^h)
            entities.append(self.adjacency_entity[frontier].flatten(-2))  # (X, N·K^(h+1))
            relations.append(self.adjacency_relation[frontier].flatten(-2))
        n_items = roots.shape[1]
        vectors = [
            self.entity_embedding(e).view(e.shape[0], n_items, -1, self.config.dim)
            for e in entities
        ]  # vectors[h]: (X, N, K^h, D), user-specific (B, ...) after the first iteration
        weights = [
            self._attention(
                users, self.relation_embedding(r).view(r.shape[0], n_items, -1, k, self.config.dim)
            )
            for r in relations
        ]  # weights[h]: (B, N, K^h, K) softmax over the K neighbours of each hop-h entity
        for iteration, aggregator in enumerate(self.aggregators):
            last = iteration == self.config.n_iter - 1
            vectors = [
                self._aggregate(aggregator, vectors[hop], vectors[hop + 1], weights[hop], last)
                for hop in range(self.config.n_iter - iteration)
            ]
        items = vectors[0][:, :, 0, :]  # (B, N, D)
        return (users.unsqueeze(1) * items).sum(-1)  # (B, N)

    @staticmethod
    def _attention(users: Tensor, relation_vectors: Tensor) -> Tensor:
        """``softmax_k(u · r_k)`` (Eq. 1–2): users ``(B, D)``, relations ``(X, N, M, K, D)``
        -> ``(B, N, M, K)``."""
        if relation_vectors.shape[0] == 1:  # shared items: one matrix product per user
            scores = torch.einsum("nmkd,bd->bnmk", relation_vectors[0], users)
        else:
            scores = torch.einsum("bnmkd,bd->bnmk", relation_vectors, users)
        return torch.softmax(scores, dim=-1)

    def _aggregate(
        self, aggregator: nn.Module, own: Tensor, neighbours: Tensor, weights: Tensor, last: bool
    ) -> Tensor:
        """One aggregation (Eq. 4–8): ``own (X|B, N, M, D)``, ``neighbours (X|B, N, M·K, D)``,
        ``weights (B, N, M, K)`` -> ``(B, N, M, D)``."""
        batch, n_items, n_own, k = weights.shape
        grouped = neighbours.reshape(neighbours.shape[0], n_items, n_own, k, self.config.dim)
        if grouped.shape[0] == 1 and batch > 1:  # item-side tensor shared by all users
            mixed = torch.einsum("bnmk,nmkd->bnmd", weights, grouped[0])
        else:
            mixed = torch.einsum("bnmk,bnmkd->bnmd", weights, grouped)  # Eq. 3: v_N^u
        if self.config.aggregator == "sum":
            hidden = aggregator(own + mixed)
        elif self.config.aggregator == "concat":
            hidden = aggregator(torch.cat([own.expand_as(mixed), mixed], dim=-1))
        else:
            hidden = aggregator(mixed)
        return torch.tanh(hidden) if last else torch.relu(hidden)
