"""The feature pipeline: rows of (user, candidate item, time, context) -> ``FeatureBatch``.

One object, fitted on the training rows, encodes training data, evaluation data and live
requests alike (:meth:`FeaturePipeline.transform_request` builds a rows frame and calls
:meth:`FeaturePipeline.transform`), so serving cannot drift from training.

Where a field's values come from, decided by ``fit``: a column of ``rows`` (context such as
the hour), of ``users`` (joined on the user id) or of ``items`` (joined on the item id);
exactly one of them must hold it. Attribute tables are encoded once per user/item and
gathered by row, and the encoded item table is kept, so a past behaviour gets its item's
fields (``category``) and serving needs no items frame.

What unusual input becomes (the documented unknown-index behaviour):

- a categorical value not seen in ``fit`` (or rarer than ``min_count``) -> 1 (unknown);
  a missing one (None, NaN) -> 0; an item or user absent from its attribute table has all
  its attributes missing (0, and the training mean for numeric ones, i.e. 0 after
  standardisation);
- a history longer than ``history_length`` keeps its most recent behaviours;
- a past behaviour's fields follow its item: an unknown item id gives ``item_id`` 1 and the
  item's attributes from the items table (missing if the table lacks it).

Dimension letters: B rows, S sparse fields, N dense columns, L history length, M values.

>>> rows = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 11, 10],
...     "timestamp": [1, 2, 3], "label": [1, 0, 1]})
>>> items = pd.DataFrame({"item_id": [10, 11], "category": ["a", "b"]})
>>> pipeline = FeaturePipeline(sparse=("user_id", "item_id", "category"),
...     history=("item_id", "category"), history_length=2).fit(rows, items=items)
>>> batch = pipeline.transform(rows, events=rows)
>>> batch.sparse.tolist()
[[2, 2, 2], [2, 3, 3], [3, 2, 2]]
>>> batch.history["category"].tolist(), batch.history_length.tolist()
([[0, 0], [2, 0], [0, 0]], [0, 1, 0])
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from recforge.core.batches import FeatureBatch
from recforge.core.errors import ConfigError
from recforge.features.behaviour import (
    BehaviourLog,
    history_positions,
    ordering_keys,
    sample_history_negatives,
)
from recforge.features.encoders import (
    AttributeTable,
    CategoryEncoder,
    Encoder,
    MultiCategoryEncoder,
    NumericEncoder,
    NumericTransform,
    check_table,
)
from recforge.features.fields import MISSING, FeatureSchema, Field

FORMAT_VERSION = 1
TIMESTAMP, LABEL = "timestamp", "label"
Source = Literal["row", "user", "item"]
PARAMS = (
    *("sparse", "multi", "dense", "history", "history_length", "history_negatives"),
    *("user_field", "item_field", "min_count", "dense_transform", "multi_sep"),
)


def _labels(rows: pd.DataFrame) -> np.ndarray:
    if LABEL not in rows.columns:
        return np.zeros(len(rows), np.float32)
    column = rows[LABEL]
    if column.dtype.kind not in "iufb":
        raise ValueError(f"rows: column 'label' must be numeric 0/1, got dtype {column.dtype}")
    values = column.to_numpy(np.float64, na_value=np.nan)
    bad = np.flatnonzero((values != 0) & (values != 1))  # NaN included
    if len(bad):
        raise ValueError(f"rows: column 'label': row position {bad[0]}: {values[bad[0]]} not 0/1")
    return values.astype(np.float32)


class FeaturePipeline:
    """Fitted encoders for every field, and the attribute tables they encode.

    Args:
        sparse: one-value categorical fields (must include ``user_field`` and
            ``item_field``); ``FeatureBatch.sparse``'s columns in this order.
        multi: multi-valued categorical fields -> ``max_len`` values kept (the first ones).
        dense: numeric fields, one ``FeatureBatch.dense`` column each.
        history: sparse fields also given per past behaviour: ``item_field`` or item
            attributes; ``()`` for no behaviour sequence.
        history_length: ``L``, the most recent behaviours kept.
        history_negatives: also give ``FeatureBatch.history_negative`` (DIEN).
        user_field / item_field: the id columns of rows, users and items.
        min_count: categorical values seen fewer times in the training rows are unknown (1).
        dense_transform: :class:`NumericEncoder`'s transform for every dense field.
        multi_sep: split string cells of multi-valued fields on this (``"|"``).

    Attributes:
        schema: the :class:`FeatureSchema` of the batches (after ``fit``).
        encoders_: field name -> fitted encoder.
        sources_: field name -> ``"row"``, ``"user"`` or ``"item"`` (where it is read).
    """

    def __init__(
        self,
        sparse: Sequence[str] = ("user_id", "item_id"),
        multi: Mapping[str, int] | None = None,
        dense: Sequence[str] = (),
        history: Sequence[str] = (),
        history_length: int = 50,
        history_negatives: bool = False,
        user_field: str = "user_id",
        item_field: str = "item_id",
        min_count: int = 1,
        dense_transform: NumericTransform = "standard",
        multi_sep: str | None = None,
    ) -> None:
        self.sparse = tuple(sparse)
        self.multi = dict(multi or {})
        self.dense = tuple(dense)
        self.history = tuple(history)
        self.history_length = history_length
        self.history_negatives = history_negatives
        self.user_field = user_field
        self.item_field = item_field
        self.min_count = min_count
        self.dense_transform = dense_transform
        self.multi_sep = multi_sep

    # --- parameters ---------------------------------------------------------------------

    def _params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in PARAMS}

    def _check_params(self) -> None:
        names = [*self.sparse, *self.multi, *self.dense]
        if len(set(names)) != len(names):
            raise ConfigError("sparse/multi/dense", f"a field is listed twice: {names}")
        for key in (self.user_field, self.item_field):
            if key not in self.sparse:
                raise ConfigError("sparse", f"must include the id field {key!r}")
        for name, max_len in self.multi.items():
            if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
                raise ConfigError(f"multi.{name}", f"max_len must be an int >= 1, got {max_len!r}")
        for name in self.history:
            if name not in self.sparse:
                raise ConfigError("history", f"{name!r} is not a sparse field")
        if self.history and self.history_length < 1:
            raise ConfigError("history_length", f"must be >= 1, got {self.history_length}")
        if self.history_negatives and self.item_field not in self.history:
            raise ConfigError("history_negatives", f"needs {self.item_field!r} in history")

    def _new_encoder(self, name: str) -> Encoder:
        if name in self.multi:
            return MultiCategoryEncoder(self.multi[name], self.min_count, self.multi_sep, name)
        if name in self.dense:
            return NumericEncoder(self.dense_transform, name)
        return CategoryEncoder(self.min_count, name)

    # --- fit ----------------------------------------------------------------------------

    def _sources(
        self, rows: pd.DataFrame, users: pd.DataFrame | None, items: pd.DataFrame | None
    ) -> dict[str, Source]:
        sources: dict[str, Source] = {self.user_field: "row", self.item_field: "row"}
        candidates: list[tuple[Source, pd.DataFrame | None]] = [
            ("row", rows),
            ("user", users),
            ("item", items),
        ]
        frames = [(source, frame) for source, frame in candidates if frame is not None]
        for name in (*self.sparse, *self.multi, *self.dense):
            if name in sources:
                continue
            found = [source for source, frame in frames if name in frame.columns]
            if len(found) != 1:
                problem = "is in none of" if not found else f"is in several of ({found})"
                raise ValueError(f"field {name!r} {problem} rows, users and items")
            sources[name] = found[0]
        for name in self.history:
            if name != self.item_field and sources[name] != "item":
                raise ValueError(f"history field {name!r} must be a column of items")
        return sources

    def fit(
        self,
        rows: pd.DataFrame,
        users: pd.DataFrame | None = None,
        items: pd.DataFrame | None = None,
    ) -> FeaturePipeline:
        """Fit every encoder on the training ``rows`` (with their users' and items'
        attributes joined) and encode the attribute tables."""
        self._check_params()
        check_table(rows, [self.user_field, self.item_field], None, "rows")
        tables = {"user": (users, self.user_field), "item": (items, self.item_field)}
        for source, (frame, key) in tables.items():
            if frame is not None:
                check_table(frame, [key], key, f"{source}s")
        self.sources_ = self._sources(rows, users, items)
        self.encoders_: dict[str, Encoder] = {}
        for name, source in self.sources_.items():
            values: pd.Series | np.ndarray = rows[name] if source == "row" else np.empty(0)
            if source != "row":  # the row's user's or item's value, None if it has none
                frame, key = tables[source]
                assert frame is not None
                raw = AttributeTable(frame[key].to_numpy(), {name: frame[name].to_numpy(object)})
                values = raw.gather(name, raw.positions(rows[key]), None)
            self.encoders_[name] = self._new_encoder(name).fit(values)
        self.users_ = self._encode_table(users, "user")
        self.items_ = self._encode_table(items, "item")
        return self

    def _encode_table(self, frame: pd.DataFrame | None, source: Source) -> AttributeTable | None:
        if frame is None:
            return None
        key = self.user_field if source == "user" else self.item_field
        names = [name for name, where in self.sources_.items() if where == source]
        encoders = {name: self.encoders_[name] for name in names}
        return AttributeTable.encode(frame, key, encoders, f"{source}s")

    @property
    def schema(self) -> FeatureSchema:
        """The fields of the batches this pipeline makes (sizes from the fitted encoders)."""
        if not hasattr(self, "encoders_"):
            raise ValueError("FeaturePipeline is not fitted")
        fields = [Field(name, "sparse", self._size(name)) for name in self.sparse]
        fields += [Field(name, "multi", self._size(name), m) for name, m in self.multi.items()]
        fields += [Field(name, "dense", 1) for name in self.dense]
        return FeatureSchema(
            fields=tuple(fields),
            history=self.history,
            history_length=self.history_length if self.history else 0,
            user_field=self.user_field,
            item_field=self.item_field,
        )

    def _size(self, name: str) -> int:
        encoder = self.encoders_[name]
        assert isinstance(encoder, (CategoryEncoder, MultiCategoryEncoder))
        return encoder.size_

    # --- transform ----------------------------------------------------------------------

    def _fill(self, name: str) -> np.ndarray:
        """What a missing value of field ``name`` encodes to."""
        return self.encoders_[name].transform(pd.Series([None], dtype=object))[0]

    def _field(
        self, name: str, rows: pd.DataFrame, tables: dict[str, AttributeTable | None]
    ) -> np.ndarray:
        """Field ``name`` encoded for every row: ``(B,)`` or ``(B, M)``."""
        source = self.sources_[name]
        if source == "row":
            return self.encoders_[name].transform(rows[name])
        table = tables[source]
        key = self.user_field if source == "user" else self.item_field
        assert table is not None, "fit saw this source, so it has a table"
        return table.gather(name, table.positions(rows[key]), self._fill(name))

    def transform(
        self,
        rows: pd.DataFrame,
        events: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        items: pd.DataFrame | None = None,
        rng: np.random.Generator | None = None,
    ) -> FeatureBatch:
        """Encode ``rows`` into a batch.

        Args:
            rows: ``user_id``, ``item_id``, ``timestamp`` (needed with a history), an
                optional ``label`` (0/1, default 0) and the row-level (context) fields.
            events: behaviours ``user_id``, ``item_id``, ``timestamp`` the histories come
                from (needed with a history): each row gets its user's events strictly
                before the row's timestamp.
            users / items: new attribute tables (a catalogue update); default the fitted
                ones.
            rng: draws ``history_negative`` (default: a generator seeded with 0).
        """
        if not hasattr(self, "encoders_"):
            raise ValueError("FeaturePipeline is not fitted")
        row_columns = [name for name, where in self.sources_.items() if where == "row"]
        check_table(rows, row_columns + ([TIMESTAMP] if self.history else []), None, "rows")
        tables = {
            "user": self.users_ if users is None else self._encode_table(users, "user"),
            "item": self.items_ if items is None else self._encode_table(items, "item"),
        }
        n_rows = len(rows)
        sparse = [self._field(name, rows, tables) for name in self.sparse]
        dense = [self._field(name, rows, tables) for name in self.dense]
        user_column = sparse[self.sparse.index(self.user_field)]
        history: dict[str, np.ndarray] = {}
        negatives: dict[str, np.ndarray] = {}
        lengths = None
        if self.history:
            if events is None:
                raise ValueError(f"history fields {list(self.history)} need events")
            history, lengths, negatives = self._histories(rows, events, tables["item"], rng)
        return FeatureBatch(
            sparse=torch.from_numpy(np.stack(sparse, axis=1).reshape(n_rows, len(sparse))),
            dense=torch.from_numpy(
                np.stack(dense, axis=1) if dense else np.zeros((n_rows, 0), np.float32)
            ),
            label=torch.from_numpy(_labels(rows)),
            group=torch.from_numpy(user_column),
            multi={
                name: torch.from_numpy(self._field(name, rows, tables).reshape(n_rows, m))
                for name, m in self.multi.items()
            },
            history={name: torch.from_numpy(column) for name, column in history.items()},
            history_length=None if lengths is None else torch.from_numpy(lengths),
            history_negative={name: torch.from_numpy(c) for name, c in negatives.items()},
        )

    def _item_field(
        self, name: str, raw_items: pd.Series, table: AttributeTable | None
    ) -> np.ndarray:
        """Field ``name`` of the items with raw ids ``raw_items``: ``(E,)`` int64."""
        if name == self.item_field:
            return self.encoders_[name].transform(raw_items)
        if table is None:
            return np.full(len(raw_items), MISSING, np.int64)
        return table.gather(name, table.positions(raw_items), np.int64(MISSING))

    def _histories(
        self,
        rows: pd.DataFrame,
        events: pd.DataFrame,
        items: AttributeTable | None,
        rng: np.random.Generator | None,
    ) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]:
        """Each row's history fields ``(B, L)`` (0 = padding), lengths ``(B,)``, negatives."""
        check_table(events, [self.user_field, self.item_field, TIMESTAMP], None, "events")
        row_times = ordering_keys(rows[TIMESTAMP].to_numpy(), "rows: column 'timestamp'")
        event_times = ordering_keys(events[TIMESTAMP].to_numpy(), "events: column 'timestamp'")
        # Users by raw id (not vocabulary index): unknown users must not share one history.
        raw_users = np.concatenate(
            [rows[self.user_field].to_numpy(), events[self.user_field].to_numpy()]
        )
        codes, uniques = pd.factorize(raw_users)
        log = BehaviourLog.from_events(
            codes[len(rows) :], np.arange(len(events)), event_times, n_users=len(uniques)
        )
        in_log_order = events[self.item_field].iloc[log.item_idx]  # (E,) raw item ids
        # Positions run into each field kept in log order; padding points at an appended 0.
        positions, lengths = history_positions(
            log, codes[: len(rows)], row_times, self.history_length, pad=len(events)
        )
        history = {}
        for name in self.history:
            per_event = self._item_field(name, in_log_order, items)  # (E,)
            history[name] = np.append(per_event, MISSING)[positions]  # (B, L)
        negatives = {}
        if self.history_negatives:
            rng = np.random.default_rng(0) if rng is None else rng
            taken = history[self.item_field]  # (B, L), 0 = padding
            drawn = sample_history_negatives(taken, self._size(self.item_field), rng, 2, pad=0)
            for name in self.history:  # by_index[0] = 0: padding stays padding
                negatives[name] = (
                    drawn if name == self.item_field else self._by_item_index(name, items)[drawn]
                )  # (B, L)
        return history, lengths, negatives

    def _by_item_index(self, name: str, items: AttributeTable | None) -> np.ndarray:
        """Field ``name`` of every item by item index: ``(n_items,)`` int64, 0 if unknown."""
        size = self._size(self.item_field)
        if name == self.item_field:
            return np.arange(size, dtype=np.int64)
        out = np.full(size, MISSING, np.int64)
        if items is not None:
            item_idx = self.encoders_[self.item_field].transform(pd.Series(items.ids))
            known = item_idx >= 2
            out[item_idx[known]] = items.columns[name][known]
        return out

    def item_attributes(self, name: str) -> np.ndarray:
        """Item-level sparse field ``name`` of every item index (the fitted items table):
        ``(n_items,)`` int64, 0 for the reserved indices and items without attributes."""
        return self._by_item_index(name, self.items_)

    # --- serving ------------------------------------------------------------------------

    def transform_request(
        self,
        user_id: Any,
        item_ids: Sequence[Any],
        recent_item_ids: Sequence[Any] = (),
        timestamp: float | None = None,
        context: Mapping[str, Any] | None = None,
        user: Mapping[str, Any] | None = None,
        items: pd.DataFrame | None = None,
    ) -> FeatureBatch:
        """One live request as a batch: a row per candidate in ``item_ids``.

        The user's ``recent_item_ids`` (oldest first) are the history, all taken as before
        the request; raw ids must have the types they had in training (``7`` is not
        ``"7"``). ``context`` holds row-level fields, each a scalar or one value per
        candidate; ``user`` the user's attributes (else the fitted users table). A field
        not given is missing (0, or the mean for numeric fields). Built as a rows frame and
        an events frame passed to :meth:`transform`, so it equals the batch training would
        make of the same rows.
        """
        if not hasattr(self, "encoders_"):
            raise ValueError("FeaturePipeline is not fitted")
        n_recent = len(recent_item_ids)
        now = 0 if timestamp is None else timestamp
        rows = pd.DataFrame(dict(context or {}), index=pd.RangeIndex(len(item_ids)))
        rows[self.user_field] = [user_id] * len(item_ids)
        rows[self.item_field] = list(item_ids)
        rows[TIMESTAMP] = now
        for name, where in self.sources_.items():
            if where == "row" and name not in rows.columns:
                rows[name] = None  # a context field not given is missing
        events = pd.DataFrame(
            {
                self.user_field: [user_id] * n_recent,
                self.item_field: list(recent_item_ids),
                TIMESTAMP: now - n_recent + np.arange(n_recent),  # strictly before now
            }
        )
        users = None
        if user is not None:
            names = [name for name, where in self.sources_.items() if where == "user"]
            record = {name: user.get(name) for name in names}
            users = pd.DataFrame([{self.user_field: user_id, **record}], dtype=object)
        events_or_none = events if self.history else None
        return self.transform(rows, events=events_or_none, users=users, items=items)

    # --- save / load --------------------------------------------------------------------

    def save(self, directory: str | Path) -> None:
        """Write ``pipeline.json`` (parameters, encoders, table ids) and ``tables.npz``
        (encoded attribute tables) into ``directory``; no pickle."""
        if not hasattr(self, "encoders_"):
            raise ValueError("FeaturePipeline is not fitted")
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        tables: dict[str, Any] = {}
        for source, table in (("user", self.users_), ("item", self.items_)):
            if table is not None:
                tables[source], table_arrays = table.to_state(source)
                arrays.update(table_arrays)
        state = {
            "format_version": FORMAT_VERSION,
            "params": self._params(),
            "sources": self.sources_,
            "encoders": {name: encoder.to_dict() for name, encoder in self.encoders_.items()},
            "tables": tables,
        }
        (folder / "pipeline.json").write_text(json.dumps(state, indent=1))
        np.savez(folder / "tables.npz", **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, directory: str | Path) -> FeaturePipeline:
        """The pipeline :meth:`save` wrote; an unknown ``format_version`` is an error."""
        folder = Path(directory)
        state = json.loads((folder / "pipeline.json").read_text())
        version = state.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(
                f"{folder / 'pipeline.json'}: format_version {version!r} is not supported "
                f"(this recforge reads {FORMAT_VERSION})"
            )
        pipeline = cls(**state["params"])
        pipeline.sources_ = dict(state["sources"])
        pipeline.encoders_ = {}
        for name, encoder_state in state["encoders"].items():
            loader: type[Encoder] = NumericEncoder if name in pipeline.dense else CategoryEncoder
            if name in pipeline.multi:
                loader = MultiCategoryEncoder
            pipeline.encoders_[name] = loader.from_dict(encoder_state)
        loaded: dict[str, AttributeTable | None] = {"user": None, "item": None}
        with np.load(folder / "tables.npz", allow_pickle=False) as arrays:
            for source, table in state["tables"].items():
                loaded[source] = AttributeTable.from_state(source, table, arrays)
        pipeline.users_, pipeline.items_ = loaded["user"], loaded["item"]
        return pipeline
