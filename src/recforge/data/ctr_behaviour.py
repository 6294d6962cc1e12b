"""DIN's next-behaviour rows from any canonical :class:`~recforge.data.tables.Tables`: the
synthetic shop, a generic file, an event-store export. What a rank stage behind a recall
model trains on when the data has no CTR protocol of its own (:mod:`recforge.data.ctr`).

Behaviours are the interactions kept by ``implicit_threshold`` / ``events`` (the filters of a
run's data config), each ``(user, item)`` pair once, at its first occurrence: the ranker
learns which *new* item a user touches next, which is what a server that excludes seen items
asks of it. Rows follow the next-behaviour protocol of :mod:`recforge.data.ctr` (negatives
are items the user never interacted with in any event).

Fields are chosen from the users and items columns by what their cells look like:

- a dict cell (the event store's ``attributes``) is spread into one column per key;
- a list or tuple cell makes a multi-valued field (``max_len`` = the longest list), unless no
  cell holds more than one value: then it is a single-valued categorical (the store's
  ``categories`` of a one-category shop);
- floats are dense; strings, categoricals, ints and bools are sparse when they repeat (at
  most :data:`MAX_CATEGORIES` distinct values, fewer than half the rows), else skipped
  (titles, descriptions, free text); a column with one value carries nothing and is skipped;
- ``exclude`` (the store's record times by default) is skipped.

A users or items column named like a row column or like a column of the other table is
prefixed ``user_`` / ``item_``. History fields: ``item_id`` and every item-level sparse field.

>>> from recforge.data.synthetic import ShopConfig, generate_shop
>>> shop = generate_shop(ShopConfig(n_users=50, n_items=100, n_days=10), seed=0)
>>> tables = behaviour_ctr_tables(shop.tables)
>>> tables.sparse
('user_id', 'item_id', 'age_band', 'gender', 'region', 'category', 'brand')
>>> tables.multi, tables.dense, tables.history
({'tags': 4}, ('price',), ('item_id', 'category', 'brand'))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recforge.data.ctr import CTRTables, _counts, _plural, _tuples
from recforge.data.ctr_rows import MIN_BEHAVIOURS, ROW_COLUMNS, next_behaviour_rows
from recforge.data.preprocess import deduplicate, to_implicit
from recforge.data.tables import Tables

MAX_CATEGORIES = 10_000
"""Most distinct values a column may have to be a sparse field."""

RECORD_TIMES = ("created_at", "updated_at")
"""Columns the event store adds to its users and items: when a record was written."""


@dataclass(frozen=True)
class _Attributes:
    """Attribute columns chosen from one users or items frame."""

    frame: pd.DataFrame | None  # key column + chosen columns, cells as the pipeline reads them
    sparse: tuple[str, ...]
    multi: dict[str, int]
    dense: tuple[str, ...]
    skipped: tuple[str, ...]


def behaviour_ctr_tables(
    tables: Tables,
    *,
    seed: int = 0,
    name: str | None = None,
    implicit_threshold: float | None = None,
    events: Sequence[str] | None = None,
    exclude: Sequence[str] = RECORD_TIMES,
) -> CTRTables:
    """Next-behaviour CTR tables of ``tables`` (see the module docstring).

    Args:
        tables: canonical interactions, with optional ``users`` and ``items`` frames.
        seed: seeds the sampled negatives.
        name: the tables' name (default ``tables.name``).
        implicit_threshold: behaviours are interactions with ``value >= implicit_threshold``
            (None: all).
        events: behaviours are interactions of these event types (None: all).
        exclude: users/items columns never used as fields.

    Raises:
        ValueError: no interaction passes the filters (names them), or an attribute frame
            lacks its id column.
    """
    name = name or tables.name
    interactions = tables.interactions
    chosen = to_implicit(
        interactions,
        threshold=implicit_threshold,
        events=None if events is None else tuple(events),
    )
    if not len(chosen):
        raise ValueError(
            f"{name}: no behaviours left (implicit_threshold={implicit_threshold}, "
            f"events={events}) out of {len(interactions):,} interactions"
        )
    timed = not chosen["timestamp"].isna().any()
    if not timed:  # file order is the only order there is
        chosen = chosen.assign(timestamp=np.arange(len(chosen), dtype=np.int64))
    behaviours = deduplicate(chosen, keep="first")
    users = _attributes(tables.users, "user_id", exclude, name)
    items = _attributes(tables.items, "item_id", exclude, name)
    users, items = _distinct_names(users, items)
    known_items = [] if items.frame is None else [items.frame["item_id"].to_numpy()]
    catalogue = pd.unique(np.concatenate([*known_items, interactions["item_id"].to_numpy()]))
    rows = next_behaviour_rows(
        behaviours[["user_id", "item_id", "timestamp"]],
        catalogue,
        np.random.default_rng(seed),
        seen=interactions[["user_id", "item_id"]],
    )
    filters = []
    if implicit_threshold is not None:
        filters.append(f"value >= {implicit_threshold}")
    if events is not None:
        filters.append(f"event in {list(events)}")
    fields = [
        f"{source}: sparse {list(part.sparse)}, multi {part.multi}, dense {list(part.dense)}"
        + (f", skipped {list(part.skipped)}" if part.skipped else "")
        for source, part in (("users", users), ("items", items))
        if part.frame is not None
    ]
    description = (
        f"{name}: {len(interactions):,} interactions of {len(catalogue):,} items by "
        f"{interactions['user_id'].nunique():,} users; behaviours = "
        f"{' and '.join(filters) or 'every interaction'}, each (user, item) once at its "
        f"first occurrence: {len(behaviours):,}, in "
        f"{'time order' if timed else 'file order (no timestamps)'}. Next-behaviour protocol "
        f"(DIN): train t = 2..n-2, valid t = n-1, test t = n, each positive paired with one "
        f"uniformly sampled item the user never interacted with (seed {seed}); "
        f"{_counts(rows.train, rows.valid, rows.test)}; "
        f"{_plural(len(rows.short_users), 'user')} with fewer than {MIN_BEHAVIOURS} "
        f"behaviours: no rows ({rows.n_short_behaviours:,} behaviours). "
        + ("; ".join(fields) + "." if fields else "No user or item attributes.")
    )
    return CTRTables(
        name=name,
        train=rows.train,
        valid=rows.valid,
        test=rows.test,
        events=rows.events,
        users=users.frame,
        items=items.frame,
        sparse=("user_id", "item_id", *users.sparse, *items.sparse),
        multi={**users.multi, **items.multi},
        dense=(*users.dense, *items.dense),
        history=("item_id", *items.sparse),
        description=description,
    )


def _attributes(
    frame: pd.DataFrame | None, key: str, exclude: Sequence[str], name: str
) -> _Attributes:
    """Choose the fields of one attribute frame (module docstring) and convert their cells:
    categorical cells to objects (``None`` when missing), multi cells to tuples."""
    if frame is None:
        return _Attributes(None, (), {}, (), ())
    if key not in frame.columns:
        raise ValueError(f"{name}: the {key.split('_')[0]}s table has no {key!r} column")
    frame = _spread_dicts(frame.drop(columns=[c for c in exclude if c in frame.columns]))
    out = {key: frame[key].to_numpy()}
    sparse: list[str] = []
    multi: dict[str, int] = {}
    dense: list[str] = []
    skipped: list[str] = []
    for column in frame.columns:
        if column == key:
            continue
        values = frame[column]
        if _has_sequences(values):
            lists = _tuples(values)
            longest = max((len(cell) for cell in lists), default=0)
            if longest > 1:
                out[column] = pd.Series(lists, dtype=object).to_numpy()
                multi[column] = longest
                continue
            values = pd.Series([cell[0] if cell else None for cell in lists], dtype=object)
        if values.dtype.kind == "f":
            if values.notna().any():
                out[column] = values.to_numpy(np.float64)
                dense.append(column)
            else:
                skipped.append(column)
            continue
        cells = values.astype(object).where(values.notna(), None)
        distinct = cells.dropna().nunique()
        if 1 < distinct <= MAX_CATEGORIES and distinct < 0.5 * cells.notna().sum():
            out[column] = cells.to_numpy(dtype=object)
            sparse.append(column)
        else:
            skipped.append(column)
    chosen = pd.DataFrame(out)
    return _Attributes(chosen, tuple(sparse), multi, tuple(dense), tuple(skipped))


def _has_sequences(values: pd.Series) -> bool:
    return values.dtype == object and any(isinstance(c, list | tuple) for c in values)


def _spread_dicts(frame: pd.DataFrame) -> pd.DataFrame:
    """Dict-valued columns replaced by one column per key (a key already a column of the
    frame keeps the dict column's name as prefix: ``attributes.brand``)."""
    spread = [c for c in frame.columns if frame[c].dtype == object and _has_dicts(frame[c])]
    if not spread:
        return frame
    parts = [frame.drop(columns=spread)]
    for column in spread:
        records = [cell if isinstance(cell, dict) else {} for cell in frame[column]]
        keys = list(dict.fromkeys(key for record in records for key in record))
        part = pd.DataFrame(
            {
                (f"{column}.{k}" if k in frame.columns else str(k)): [r.get(k) for r in records]
                for k in keys
            },
            index=frame.index,
        )
        parts.append(part.infer_objects())
    return pd.concat(parts, axis=1)


def _has_dicts(values: pd.Series) -> bool:
    return any(isinstance(cell, dict) for cell in values)


def _distinct_names(users: _Attributes, items: _Attributes) -> tuple[_Attributes, _Attributes]:
    """Prefix (``user_`` / ``item_``) attribute columns whose name a row column or the other
    table also has: a pipeline field must live in exactly one table."""
    user_columns = set() if users.frame is None else set(users.frame.columns) - {"user_id"}
    item_columns = set() if items.frame is None else set(items.frame.columns) - {"item_id"}
    taken = set(ROW_COLUMNS)
    shared = user_columns & item_columns
    return (
        _renamed(users, "user_", (user_columns & taken) | shared),
        _renamed(items, "item_", (item_columns & taken) | shared),
    )


def _renamed(part: _Attributes, prefix: str, names: set[str]) -> _Attributes:
    if not names or part.frame is None:
        return part
    mapping = {name: f"{prefix}{name}" for name in names}

    def rename(columns: Sequence[str]) -> tuple[str, ...]:
        return tuple(mapping.get(column, column) for column in columns)

    return _Attributes(
        part.frame.rename(columns=mapping),
        rename(part.sparse),
        {mapping.get(column, column): m for column, m in part.multi.items()},
        rename(part.dense),
        part.skipped,
    )


__all__ = ["MAX_CATEGORIES", "RECORD_TIMES", "behaviour_ctr_tables"]
