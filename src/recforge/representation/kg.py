"""Knowledge-graph embeddings that stand alone: TransE and RotatE, and filtered link
prediction to judge them.

* TransE (Bordes et al., NIPS 2013): a relation is a translation, ``h + r ≈ t``; distance
  ``d(h, r, t) = ‖h + r − t‖`` (L1 or L2); margin ranking loss ``[γ + d(h,r,t) −
  d(h',r,t')]₊`` (Eq. 1) against a corrupted triple whose head or tail is replaced by a
  uniformly drawn entity; entity vectors renormalised to unit length before every batch
  (Algorithm 1, line 5); vectors initialised uniform in ``±6/√D``.
* RotatE (Sun et al., ICLR 2019): entities are complex vectors, a relation is a rotation
  ``r_i = e^{iθ_i}``, ``t ≈ h ∘ r``; distance ``d_r(h, t) = Σ_i |h_i r_i − t_i|``; loss Eq. 4,
  ``−log σ(γ − d_r(h,t)) − Σ_j p_j log σ(d_r(h'_j,t'_j) − γ)`` with the self-adversarial
  weights of Eq. 5, ``p_j = softmax_j(α (γ − d_r(h'_j, t'_j)))``, taken as constants
  (no gradient). Initialisation uniform in ``±(γ + 2)/D`` (the paper's released code);
  relation phases are that range scaled onto ``[−π, π]``.

Both follow scikit-learn: ``fit(graph) -> self``; learned state ``entity_vectors_`` and
``relation_vectors_`` (NumPy). :func:`link_prediction` ranks the true head and tail of
held-out triples among all entities with the other known triples filtered out (Bordes et
al. 2013, "filtered" setting) and reports MRR and Hits@k.

Dimension letters: B triples in a batch, N negatives per triple, E entities, R relations,
D embedding size (RotatE: complex dimensions; its real vectors hold 2D numbers).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal, Self

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from recforge.core.errors import RecforgeError
from recforge.core.graph import KnowledgeGraph

logger = logging.getLogger(__name__)

#: floats materialised at once when scoring every entity (keeps memory near 64 MiB)
_SCORE_BUDGET = 1 << 24


@dataclass(frozen=True)
class TransEConfig:
    """Args:
    dim: embedding size D (the paper's k).
    margin: γ of the ranking loss.
    norm: 1 or 2, the dissimilarity of Eq. 1.
    epochs: passes over the training triples.
    batch_size: triples per step.
    lr: learning rate.
    optimizer: ``"sgd"`` (the paper) or ``"adam"``.
    seed: seeds initialisation, shuffling and corruption.
    """

    dim: int = 64
    margin: float = 1.0
    norm: Literal[1, 2] = 1
    epochs: int = 100
    batch_size: int = 1024
    lr: float = 0.01
    optimizer: Literal["sgd", "adam"] = "adam"
    seed: int = 0

    def __post_init__(self) -> None:
        _check_positive(self, ("dim", "epochs", "batch_size"))
        if self.norm not in (1, 2):
            raise ValueError(f"norm must be 1 or 2, got {self.norm}")
        if self.margin <= 0 or self.lr <= 0:
            raise ValueError("margin and lr must be > 0")


@dataclass(frozen=True)
class RotatEConfig:
    """Args:
    dim: complex dimensions D (2D real numbers per entity).
    gamma: the margin γ of Eq. 4.
    n_negatives: corrupted triples per training triple.
    adversarial_temperature: α of Eq. 5; 0 weighs every negative alike (Eq. 4 with
        uniform ``p``, i.e. plain negative sampling).
    epochs: passes over the training triples.
    batch_size: triples per step.
    lr: Adam learning rate.
    seed: seeds initialisation, shuffling and corruption.
    """

    dim: int = 64
    gamma: float = 12.0
    n_negatives: int = 64
    adversarial_temperature: float = 1.0
    epochs: int = 100
    batch_size: int = 1024
    lr: float = 0.001
    seed: int = 0

    def __post_init__(self) -> None:
        _check_positive(self, ("dim", "n_negatives", "epochs", "batch_size"))
        if self.gamma <= 0 or self.lr <= 0 or self.adversarial_temperature < 0:
            raise ValueError("gamma and lr must be > 0, adversarial_temperature >= 0")


def _check_positive(config: object, names: tuple[str, ...]) -> None:
    for name in names:
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(config, name)}")


class _KGEmbedding:
    """The shared fit/score machinery.

    Every distance is written as ``compare(query, candidate)``: the query holds the known
    side moved through the relation (TransE: ``h + r`` for a missing tail, ``t − r`` for a
    missing head; RotatE: ``h ∘ r`` or ``t ∘ r̄``), so a triple's negatives and a query's
    ranking over all entities cost one query each.
    """

    config: TransEConfig | RotatEConfig
    entity_vectors_: np.ndarray  # (E, D) or (E, 2D)
    relation_vectors_: np.ndarray  # (R, D)
    n_entities_: int
    n_relations_: int
    _entity: nn.Embedding
    _relation: nn.Embedding
    #: corrupted triples per training triple
    n_negatives: int = 1

    def __init__(self, config: TransEConfig | RotatEConfig) -> None:
        self.config = config

    # --- to implement --------------------------------------------------------------------

    def _init_parameters(
        self, n_entities: int, n_relations: int, generator: torch.Generator
    ) -> None:
        raise NotImplementedError  # pragma: no cover

    def _query(self, anchor: Tensor, relation: Tensor, predict: str) -> Tensor:
        """The anchor entity moved through the relation ``(..., D')``."""
        raise NotImplementedError  # pragma: no cover

    def _compare(self, query: Tensor, candidate: Tensor) -> Tensor:
        """Distance of broadcastable ``(..., D')`` vectors ``(...)``."""
        raise NotImplementedError  # pragma: no cover

    def _loss(self, positive: Tensor, negative: Tensor) -> Tensor:
        """Loss of distances ``positive (B,)`` and ``negative (B, N)``."""
        raise NotImplementedError  # pragma: no cover

    def _before_step(self) -> None:
        """Called before each gradient step (TransE renormalises entities)."""

    # --- shared -------------------------------------------------------------------------

    def fit(self, graph: KnowledgeGraph) -> Self:
        """Learn entity and relation vectors from ``graph``'s triples.

        Raises:
            RecforgeError: the graph has no triples.
        """
        if graph.n_triples == 0:
            raise RecforgeError("cannot fit KG embeddings on a graph without triples")
        config = self.config
        generator = torch.Generator().manual_seed(config.seed)
        self.n_entities_, self.n_relations_ = graph.n_entities, graph.n_relations
        self._init_parameters(graph.n_entities, max(graph.n_relations, 1), generator)
        parameters = [self.entity, self.relation]
        optimizer: torch.optim.Optimizer
        if isinstance(config, TransEConfig) and config.optimizer == "sgd":
            optimizer = torch.optim.SGD(parameters, lr=config.lr)
        else:
            optimizer = torch.optim.Adam(parameters, lr=config.lr)
        triples = torch.from_numpy(graph.triples())  # (T, 3)
        for epoch in range(1, config.epochs + 1):
            order = torch.randperm(len(triples), generator=generator)
            total = 0.0
            for start in range(0, len(triples), config.batch_size):
                batch = triples[order[start : start + config.batch_size]]  # (B, 3)
                self._before_step()
                loss = self._batch_loss(batch, generator)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(batch)
            if not math.isfinite(total):
                raise FloatingPointError(f"loss became {total} in epoch {epoch}; lower lr")
            logger.debug("epoch %d loss %.4f", epoch, total / len(triples))
        self._before_step()
        self.entity_vectors_ = self.entity.detach().numpy().copy()
        self.relation_vectors_ = self.relation.detach().numpy().copy()
        return self

    def _batch_loss(self, batch: Tensor, generator: torch.Generator) -> Tensor:
        """Loss of a batch ``(B, 3)`` against corrupted triples: for each triple a fair
        coin picks the side, and ``N`` uniform entities replace it."""
        head, relation, tail = batch.unbind(1)  # (B,) each
        positive = self._compare(self._query(head, relation, "tail"), self.entity[tail])  # (B,)
        n_rows = len(batch)
        random = torch.randint(0, self.n_entities_, (n_rows, self.n_negatives), generator=generator)
        replace_head = torch.rand(n_rows, 1, generator=generator) < 0.5  # (B, 1)
        query = torch.where(
            replace_head, self._query(tail, relation, "head"), self._query(head, relation, "tail")
        )  # (B, D')
        negative = self._compare(query[:, None, :], self.entity[random])  # (B, N)
        return self._loss(positive, negative)

    def _check_fitted(self) -> None:
        if not hasattr(self, "entity_vectors_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(graph) first")

    @torch.no_grad()
    def score(self, head: np.ndarray, relation: np.ndarray, tail: np.ndarray) -> np.ndarray:
        """Plausibility ``−d`` of triples ``(B,)`` each: higher is more plausible."""
        self._check_fitted()
        h, r, t = (
            torch.as_tensor(np.asarray(a), dtype=torch.int64) for a in (head, relation, tail)
        )
        return (-self._compare(self._query(h, r, "tail"), self.entity[t])).numpy()

    @torch.no_grad()
    def score_all(self, anchor: np.ndarray, relation: np.ndarray, *, predict: str) -> np.ndarray:
        """Plausibility ``(B, E)`` of every entity as the missing ``predict`` side
        (``"tail"``: queries ``(anchor=head, relation, ?)``; ``"head"``: ``(?, relation,
        anchor=tail)``)."""
        self._check_fitted()
        if predict not in ("head", "tail"):
            raise ValueError(f"predict must be 'head' or 'tail', got {predict!r}")
        anchors = torch.as_tensor(np.asarray(anchor), dtype=torch.int64)
        relations = torch.as_tensor(np.asarray(relation), dtype=torch.int64)
        query = self._query(anchors, relations, predict)  # (B, D')
        rows = max(1, _SCORE_BUDGET // max(1, self.entity.numel()))
        out = [
            -self._compare_all(query[start : start + rows]) for start in range(0, len(query), rows)
        ]
        return torch.cat(out).numpy() if out else np.empty((0, self.n_entities_), np.float32)

    def _compare_all(self, query: Tensor) -> Tensor:
        """Distances ``(B, E)`` of queries ``(B, D')`` to every entity."""
        return self._compare(query[:, None, :], self.entity[None])

    @property
    def entity(self) -> Tensor:
        return self._entity.weight

    @property
    def relation(self) -> Tensor:
        return self._relation.weight


class TransE(_KGEmbedding):
    """Translations in one vector space (Bordes et al. 2013).

    >>> graph = KnowledgeGraph(head=np.array([0, 1]), relation=np.array([0, 0]),
    ...                        tail=np.array([1, 2]), n_entities=3, n_relations=1,
    ...                        item_entity=np.array([0]))
    >>> model = TransE(TransEConfig(dim=4, epochs=2)).fit(graph)
    >>> model.entity_vectors_.shape, model.score_all(np.array([0]), np.array([0]),
    ...                                              predict="tail").shape
    ((3, 4), (1, 3))
    """

    config: TransEConfig

    def __init__(self, config: TransEConfig | None = None) -> None:
        super().__init__(config or TransEConfig())

    def _init_parameters(
        self, n_entities: int, n_relations: int, generator: torch.Generator
    ) -> None:
        bound = 6 / math.sqrt(self.config.dim)
        self._entity = nn.Embedding(n_entities, self.config.dim)
        self._relation = nn.Embedding(n_relations, self.config.dim)
        for table in (self._entity, self._relation):
            nn.init.uniform_(table.weight, -bound, bound, generator=generator)
        with torch.no_grad():  # Algorithm 1, line 2: relations normalised once
            self.relation.div_(self.relation.norm(dim=1, keepdim=True).clamp_min(1e-12))

    def _before_step(self) -> None:
        with torch.no_grad():  # Algorithm 1, line 5: e ← e / ‖e‖
            self.entity.div_(self.entity.norm(dim=1, keepdim=True).clamp_min(1e-12))

    def _query(self, anchor: Tensor, relation: Tensor, predict: str) -> Tensor:
        sign = 1.0 if predict == "tail" else -1.0  # h + r ≈ t  ⇔  t − r ≈ h
        return self.entity[anchor] + sign * self.relation[relation]

    def _compare(self, query: Tensor, candidate: Tensor) -> Tensor:
        return (query - candidate).norm(p=self.config.norm, dim=-1)

    def _compare_all(self, query: Tensor) -> Tensor:
        return torch.cdist(query, self.entity, p=float(self.config.norm))  # (B, E)

    def _loss(self, positive: Tensor, negative: Tensor) -> Tensor:
        return F.relu(self.config.margin + positive - negative.squeeze(1)).mean()  # Eq. 1


class RotatE(_KGEmbedding):
    """Rotations in complex space with self-adversarial negative sampling (Sun et al. 2019).

    ``entity_vectors_`` is ``(E, 2D)``: real parts then imaginary parts;
    ``relation_vectors_`` is ``(R, D)``: the phases θ in radians.

    >>> graph = KnowledgeGraph(head=np.array([0, 1]), relation=np.array([0, 0]),
    ...                        tail=np.array([1, 2]), n_entities=3, n_relations=1,
    ...                        item_entity=np.array([0]))
    >>> model = RotatE(RotatEConfig(dim=4, epochs=2, n_negatives=2)).fit(graph)
    >>> model.entity_vectors_.shape, model.relation_vectors_.shape
    ((3, 8), (1, 4))
    """

    config: RotatEConfig
    _range: float

    def __init__(self, config: RotatEConfig | None = None) -> None:
        super().__init__(config or RotatEConfig())
        self.n_negatives = self.config.n_negatives

    def _init_parameters(
        self, n_entities: int, n_relations: int, generator: torch.Generator
    ) -> None:
        dim = self.config.dim
        self._range = (self.config.gamma + 2.0) / dim
        self._entity = nn.Embedding(n_entities, 2 * dim)
        self._relation = nn.Embedding(n_relations, dim)
        for table in (self._entity, self._relation):
            nn.init.uniform_(table.weight, -self._range, self._range, generator=generator)

    def fit(self, graph: KnowledgeGraph) -> Self:
        super().fit(graph)
        self.relation_vectors_ = self._phase(self.relation.detach()).numpy()
        return self

    def _phase(self, raw: Tensor) -> Tensor:
        return raw * (math.pi / self._range)  # the init range maps onto [−π, π]

    def _query(self, anchor: Tensor, relation: Tensor, predict: str) -> Tensor:
        # t ≈ h ∘ r  ⇔  h ≈ t ∘ r̄, because |r_i| = 1
        real, imaginary = self.entity[anchor].chunk(2, dim=-1)  # (..., D) each
        phase = self._phase(self.relation[relation])
        cos, sin = torch.cos(phase), torch.sin(phase)
        if predict == "head":
            sin = -sin
        return torch.cat([real * cos - imaginary * sin, real * sin + imaginary * cos], dim=-1)

    def _compare(self, query: Tensor, candidate: Tensor) -> Tensor:
        difference = query - candidate  # (..., 2D)
        real, imaginary = difference.chunk(2, dim=-1)
        return torch.sqrt(real**2 + imaginary**2 + 1e-12).sum(-1)  # Σ_i |·|

    def _loss(self, positive: Tensor, negative: Tensor) -> Tensor:
        gamma = self.config.gamma
        alpha = self.config.adversarial_temperature
        weights = torch.softmax(alpha * (gamma - negative).detach(), dim=1)  # Eq. 5, (B, N)
        positive_term = -F.logsigmoid(gamma - positive)  # (B,)
        negative_term = -(weights * F.logsigmoid(negative - gamma)).sum(1)  # (B,)
        return (positive_term + negative_term).mean()  # Eq. 4


# ---------------------------------------------------------------------------------------------
# splitting and link prediction


def split_triples(
    graph: KnowledgeGraph,
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
    *,
    rng: np.random.Generator,
) -> tuple[KnowledgeGraph, np.ndarray, np.ndarray]:
    """Random train/validation/test split of the triples for link prediction.

    A held-out triple whose head, tail or relation appears in no training triple could not
    be ranked sensibly (its vector would never be trained); such triples move to training,
    as in the FB15k/WN18 splits. So the held-out shares are at most ``ratios[1:]``.

    Returns:
        ``(train graph, valid (V, 3), test (S, 3))`` with rows ``head, relation, tail``.
    """
    if len(ratios) != 3 or abs(sum(ratios) - 1.0) > 1e-9 or min(ratios) < 0:
        raise ValueError(f"ratios must be three non-negative shares summing to 1, got {ratios}")
    order = rng.permutation(graph.n_triples)
    n_valid = int(ratios[1] * graph.n_triples)
    n_test = int(ratios[2] * graph.n_triples)
    part = np.zeros(graph.n_triples, np.int8)  # 0 train, 1 valid, 2 test
    part[order[:n_valid]] = 1
    part[order[n_valid : n_valid + n_test]] = 2
    train = part == 0
    seen_entity = np.zeros(graph.n_entities, bool)
    seen_entity[graph.head[train]] = True
    seen_entity[graph.tail[train]] = True
    seen_relation = np.zeros(graph.n_relations, bool)
    seen_relation[graph.relation[train]] = True
    unseen = ~(seen_entity[graph.head] & seen_entity[graph.tail] & seen_relation[graph.relation])
    part[unseen] = 0
    triples = graph.triples()
    return graph.subset(part == 0), triples[part == 1], triples[part == 2]


def filtered_ranks(scores: np.ndarray, target: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Rank of each query's true entity among all entities, other known answers removed.

    Ties count half (the mean of the optimistic and the pessimistic rank), so a model
    that scores everything alike gets the middle rank, not rank 1.

    Args:
        scores: ``(B, E)`` plausibility, higher is better.
        target: ``(B,)`` the true entity of each query.
        known: ``(B, E)`` bool, True for every entity that is a true answer of the query in
            any split (the target included; it is never filtered from itself).

    Returns:
        ``(B,)`` float ranks, 1 = best.

    Row 0: entity 0 (0.9) is another true answer and is filtered out, entity 2 scores
    higher, entity 3 ties; row 1: entity 3 is filtered out, entities 1 and 2 score higher.

    >>> scores = np.array([[0.9, 0.5, 0.7, 0.5], [0.1, 0.2, 0.3, 0.4]])
    >>> known = np.array([[True, True, False, False], [False, False, False, True]])
    >>> filtered_ranks(scores, np.array([1, 0]), known).tolist()
    [2.5, 3.0]
    """
    rows = np.arange(len(target))
    truth = scores[rows, target][:, None]  # (B, 1)
    others = ~known
    others[rows, target] = False
    higher = ((scores > truth) & others).sum(1)
    ties = ((scores == truth) & others).sum(1)
    return 1.0 + higher + 0.5 * ties


def link_prediction(
    model: _KGEmbedding,
    test: np.ndarray,
    known: np.ndarray,
    *,
    ks: tuple[int, ...] = (1, 3, 10),
    direction: Literal["both", "head", "tail"] = "both",
) -> dict[str, float]:
    """Filtered MRR and Hits@k of ``test`` triples (Bordes et al. 2013, Sec. 4.2).

    Each triple ``(h, r, t)`` asks ``(h, r, ?)`` and ``(?, r, t)`` (or one of them, by
    ``direction``); the true entity is ranked among all entities with every other triple
    of ``known`` (train + valid + test) filtered out; results are averaged over queries.

    Args:
        model: a fitted TransE or RotatE.
        test: ``(S, 3)`` triples ``head, relation, tail`` to rank.
        known: ``(M, 3)`` every true triple (must contain ``test``).
        ks: cut-offs of Hits@k.
        direction: which side(s) to predict.

    Returns:
        ``{"mrr": ..., "hits@1": ..., ...}``; ``nan`` values when ``test`` is empty.
    """
    test = np.asarray(test, np.int64).reshape(-1, 3)
    known = np.asarray(known, np.int64).reshape(-1, 3)
    n_entities, n_relations = model.n_entities_, max(model.n_relations_, 1)
    ranks = []
    sides = ("head", "tail") if direction == "both" else (direction,)
    for predict in sides:
        anchor_column, answer_column = (0, 2) if predict == "tail" else (2, 0)
        answers = sp.csr_matrix(
            (
                np.ones(len(known), bool),
                (known[:, anchor_column] * n_relations + known[:, 1], known[:, answer_column]),
            ),
            shape=(n_entities * n_relations, n_entities),
        )
        batch = max(1, _SCORE_BUDGET // (4 * n_entities))
        for start in range(0, len(test), batch):
            chunk = test[start : start + batch]
            scores = model.score_all(chunk[:, anchor_column], chunk[:, 1], predict=predict)
            mask = answers[chunk[:, anchor_column] * n_relations + chunk[:, 1]].toarray()
            ranks.append(filtered_ranks(scores, chunk[:, answer_column], mask))
    rank = np.concatenate(ranks) if ranks else np.empty(0)
    if len(rank) == 0:
        return {"mrr": float("nan"), **{f"hits@{k}": float("nan") for k in ks}}
    return {
        "mrr": float(np.mean(1.0 / rank)),
        **{f"hits@{k}": float(np.mean(rank <= k)) for k in ks},
    }
