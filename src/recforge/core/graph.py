"""A knowledge graph over entities, with the recommender's items among them.

The graph lives in ``core`` because the readers (``data``), the KG embeddings
(``representation``) and the KG-aware recommenders (``models``) all use it.

Dimension letters: T triples, I items, E entities, R relations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class KnowledgeGraph:
    """Triples ``(head, relation, tail)`` as index arrays, plus where each item sits.

    Entities and relations are contiguous indices ``[0, n_entities)`` and
    ``[0, n_relations)``; raw ids (Freebase mids, relation names) stay with the reader,
    except the relation names, kept for reports. Item ``i`` is entity ``item_entity[i]``;
    two items may share an entity, and an entity may be no item at all (an attribute
    such as a genre or a country).

    >>> graph = KnowledgeGraph(
    ...     head=np.array([0, 1]), relation=np.array([0, 0]), tail=np.array([2, 2]),
    ...     n_entities=3, n_relations=1, item_entity=np.array([0, 1]))
    >>> graph.n_triples, graph.n_items
    (2, 2)
    >>> graph.subset(np.array([True, False])).tail.tolist()
    [2]
    """

    head: np.ndarray  # (T,) int64 entity index
    relation: np.ndarray  # (T,) int64 relation index
    tail: np.ndarray  # (T,) int64 entity index
    n_entities: int
    n_relations: int
    item_entity: np.ndarray  # (I,) int64, the entity of item_idx i
    relation_names: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        for name in ("head", "relation", "tail", "item_entity"):
            array = np.asarray(getattr(self, name))
            if array.ndim != 1:
                raise ValueError(f"{name} must be 1-d, got shape {array.shape}")
            if array.size and not np.issubdtype(array.dtype, np.integer):
                raise ValueError(f"{name} must hold integer indices, got dtype {array.dtype}")
            array = array.astype(np.int64)
            array.setflags(write=False)
            object.__setattr__(self, name, array)
        if not len(self.head) == len(self.relation) == len(self.tail):
            raise ValueError(
                f"head, relation and tail must have one length, got "
                f"{len(self.head)}, {len(self.relation)}, {len(self.tail)}"
            )
        if self.n_entities < 0 or self.n_relations < 0:
            raise ValueError(
                f"n_entities and n_relations must be >= 0, got "
                f"{self.n_entities} and {self.n_relations}"
            )
        for name, upper in (
            ("head", self.n_entities),
            ("tail", self.n_entities),
            ("item_entity", self.n_entities),
            ("relation", self.n_relations),
        ):
            array = getattr(self, name)
            if array.size and (array.min() < 0 or array.max() >= upper):
                raise ValueError(f"{name} holds indices outside [0, {upper})")
        if self.relation_names and len(self.relation_names) != self.n_relations:
            raise ValueError(
                f"relation_names has {len(self.relation_names)} names for "
                f"{self.n_relations} relations"
            )

    @property
    def n_triples(self) -> int:
        return len(self.head)

    @property
    def n_items(self) -> int:
        return len(self.item_entity)

    def triples(self) -> np.ndarray:
        """The triples as one ``(T, 3)`` int64 array of ``head, relation, tail``."""
        return np.stack([self.head, self.relation, self.tail], axis=1)

    def subset(self, keep: np.ndarray) -> KnowledgeGraph:
        """The same entities, relations and items with only the triples where ``keep``
        (a ``(T,)`` bool mask or an index array) selects them."""
        return KnowledgeGraph(
            head=self.head[keep],
            relation=self.relation[keep],
            tail=self.tail[keep],
            n_entities=self.n_entities,
            n_relations=self.n_relations,
            item_entity=self.item_entity,
            relation_names=self.relation_names,
        )
