"""Field specifications: what a ranking model's input columns are.

A :class:`FeatureSchema` is the contract between the feature pipeline (which encodes rows
into a :class:`recforge.core.batches.FeatureBatch`) and the ranking models (which build one
embedding table per categorical field from it). It is saved with every ranking artifact as
plain JSON, so serving rebuilds the same inputs.

Kinds:

- ``sparse``: one categorical value per row (user id, item id, category, gender).
  ``size`` is the vocabulary size including index 0 (missing) and 1 (unknown).
- ``multi``: a set of categorical values per row (genres, attributes), ``max_len`` of them
  at most, padded with 0; ``size`` as for sparse.
- ``dense``: ``size`` float columns (an age, a log count).

``history`` names the sparse fields that are also given for each past behaviour of the user
(DIN/DIEN's behaviour sequence; e.g. ``("item_id", "category")``); a history column shares
its field's embedding table, so a behaviour and a candidate item live in one space.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

FieldKind = Literal["sparse", "multi", "dense"]
KINDS: tuple[FieldKind, ...] = ("sparse", "multi", "dense")

#: index reserved in every categorical vocabulary
MISSING = 0
UNKNOWN = 1


@dataclass(frozen=True)
class Field:
    """One input column group.

    Args:
        name: the field's name (``item_id``, ``genres``).
        kind: ``"sparse"``, ``"multi"`` or ``"dense"``.
        size: vocabulary size (with the two reserved indices) or number of dense columns.
        max_len: most values kept per row of a multi-valued field (0 for other kinds).
    """

    name: str
    kind: FieldKind
    size: int
    max_len: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"field {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        minimum = 1 if self.kind == "dense" else 2
        if self.size < minimum:
            raise ValueError(f"field {self.name!r}: size must be >= {minimum}, got {self.size}")
        if (self.kind == "multi") != (self.max_len > 0):
            raise ValueError(f"field {self.name!r}: max_len > 0 exactly for multi fields")


@dataclass(frozen=True)
class FeatureSchema:
    """The ordered fields of a ranking dataset.

    Args:
        fields: every field; sparse ones give ``FeatureBatch.sparse``'s columns in order,
            dense ones ``FeatureBatch.dense``'s (a field of size k takes k columns).
        history: sparse fields given per past behaviour (empty: no behaviour sequence).
        history_length: ``L``, the most recent behaviours kept.
        user_field / item_field: which sparse fields identify the user and the candidate
            item (two-stage ranking puts candidates into ``item_field``).

    Example:
        >>> schema = FeatureSchema(
        ...     fields=(Field("user_id", "sparse", 10), Field("item_id", "sparse", 20),
        ...             Field("age", "dense", 1)),
        ...     history=("item_id",), history_length=5)
        >>> schema.sparse_index("item_id"), schema.n_dense
        (1, 1)
    """

    fields: tuple[Field, ...]
    history: tuple[str, ...] = ()
    history_length: int = 0
    user_field: str = "user_id"
    item_field: str = "item_id"

    def __post_init__(self) -> None:
        names = [field.name for field in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"field names repeat: {names}")
        sparse = {field.name for field in self.sparse}
        for name in self.history:
            if name not in sparse:
                raise ValueError(f"history field {name!r} is not a sparse field of {names}")
        if bool(self.history) != (self.history_length > 0):
            raise ValueError("history_length > 0 exactly when history fields are given")
        for name in (self.user_field, self.item_field):
            if name not in sparse:
                raise ValueError(f"{name!r} must be a sparse field (fields: {names})")

    @property
    def sparse(self) -> tuple[Field, ...]:
        return tuple(field for field in self.fields if field.kind == "sparse")

    @property
    def multi(self) -> tuple[Field, ...]:
        return tuple(field for field in self.fields if field.kind == "multi")

    @property
    def dense(self) -> tuple[Field, ...]:
        return tuple(field for field in self.fields if field.kind == "dense")

    @property
    def n_dense(self) -> int:
        return sum(field.size for field in self.dense)

    def field(self, name: str) -> Field:
        for field in self.fields:
            if field.name == name:
                return field
        raise KeyError(f"no field {name!r}; fields: {[f.name for f in self.fields]}")

    def sparse_index(self, name: str) -> int:
        """Column of sparse field ``name`` in ``FeatureBatch.sparse``."""
        for index, field in enumerate(self.sparse):
            if field.name == name:
                return index
        raise KeyError(f"no sparse field {name!r}; sparse: {[f.name for f in self.sparse]}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "fields": [
                {"name": f.name, "kind": f.kind, "size": f.size, "max_len": f.max_len}
                for f in self.fields
            ],
            "history": list(self.history),
            "history_length": self.history_length,
            "user_field": self.user_field,
            "item_field": self.item_field,
        }

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> FeatureSchema:
        try:
            return cls(
                fields=tuple(Field(**field) for field in payload["fields"]),
                history=tuple(payload.get("history", ())),
                history_length=int(payload.get("history_length", 0)),
                user_field=payload.get("user_field", "user_id"),
                item_field=payload.get("item_field", "item_id"),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"malformed feature schema: {error}") from error
