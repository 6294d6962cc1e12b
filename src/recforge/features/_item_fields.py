"""Item metadata under canonical names, whatever table it came from (internal).

Items tables differ by source: the synthetic shop has ``category`` (str), ``tags`` (list) and
``brand`` (str); readers write ``categories`` or ``genres`` lists; the event store keeps
``categories`` and ``tags`` lists and an ``attributes`` dict with ``"brand"``. Profiles, facets
and item text all read items through :func:`item_fields`, so they agree on what an item is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from typing import Any

import numpy as np
import pandas as pd


def _missing(value: Any) -> bool:
    """None, NaN or ``<NA>`` (a list is never missing)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def plain(value: Any) -> Any:
    """A JSON-ready Python value: numpy scalars unwrapped, containers converted, NaN -> None."""
    if _missing(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (date, pd.Timestamp)):  # datetime is a date
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(v) for v in value]
    return value


def _as_list(value: Any) -> list[str]:
    """Strings of a scalar-or-list cell: ``"a"`` -> ``["a"]``, None/NaN -> ``[]``."""
    if isinstance(value, (list, tuple, np.ndarray, pd.Series)):
        values = list(value)
    elif _missing(value):
        return []
    else:
        values = [value]
    strings = (str(v).strip() for v in values if not _missing(v))
    return list(dict.fromkeys(s for s in strings if s))  # unique, in order


def _text(value: Any) -> str | None:
    if _missing(value):
        return None
    text = str(value).strip()
    return text or None


def item_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """One item's attributes under canonical names, whatever table it came from.

    ``categories`` joins ``category``, ``categories`` and ``genres``; ``title``,
    ``description``, ``brand`` and ``price`` come from their column, else from the
    ``attributes`` dict. Other scalar columns and other scalar entries of ``attributes`` are kept
    under their own names.
    """
    attributes = row.get("attributes")
    extra = dict(attributes) if isinstance(attributes, Mapping) else {}

    def scalar(name: str) -> Any:  # the column, else the attributes dict's entry
        value = row.get(name)
        return extra.get(name) if _missing(value) else value

    categories = _as_list(row.get("category")) + _as_list(row.get("categories"))
    categories += _as_list(row.get("genres"))
    fields: dict[str, Any] = {
        "title": _text(scalar("title")),
        "description": _text(scalar("description")),
        "categories": list(dict.fromkeys(categories)),
        "tags": _as_list(row.get("tags")),
        "brand": _text(scalar("brand")),
        "price": plain(scalar("price")),
    }
    canonical = {"item_id", "attributes", "category", "genres", *fields}
    others = {k: v for k, v in row.items() if k not in canonical}
    for name, value in {**others, **extra}.items():
        if name not in canonical and not isinstance(value, (list, tuple, np.ndarray, Mapping)):
            converted = plain(value)
            if converted is not None:
                fields[str(name)] = converted
    return fields


def text_of(fields: Mapping[str, Any]) -> str:
    """``title. description. categories. tags. brand`` with missing parts left out."""
    parts = [
        fields.get("title"),
        fields.get("description"),
        ", ".join(fields.get("categories") or []),
        ", ".join(fields.get("tags") or []),
        fields.get("brand"),
    ]
    cleaned = (str(p).strip().rstrip(".").strip() for p in parts if p)
    return ". ".join(p for p in cleaned if p)


def records(items: pd.DataFrame) -> list[dict[str, Any]]:
    frame = items.astype(object)  # categorical columns -> plain values
    return frame.to_dict("records")  # type: ignore[return-value]
