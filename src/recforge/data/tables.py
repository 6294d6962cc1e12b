"""The canonical tables every reader produces.

``interactions``: one row per behaviour event, columns

=========  ==========================================================================
user_id    raw user id as the source wrote it (int64 or str)
item_id    raw item id (int64 or str)
event      ``view``, ``click``, ``cart``, ``purchase``, ``rating`` or a user-defined name
value      float64: the rating, count or event weight (1.0 where the source has none)
timestamp  nullable Int64 unix seconds; ``<NA>`` where the source has no time
=========  ==========================================================================

``items`` is indexed by nothing special and has an ``item_id`` column plus metadata
(``title``, ``genres``/``categories`` ...); ``users`` likewise has ``user_id``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recforge.core.errors import DataFormatError

INTERACTION_COLUMNS = ("user_id", "item_id", "event", "value", "timestamp")


@dataclass
class Tables:
    """What a reader returns: interactions plus optional item and user metadata."""

    interactions: pd.DataFrame
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    name: str = "dataset"
    extras: dict[str, Any] = field(default_factory=dict)


def make_interactions(
    user_id: Any,
    item_id: Any,
    *,
    event: str | Any = "rating",
    value: Any = 1.0,
    timestamp: Any = None,
    source: str = "<memory>",
) -> pd.DataFrame:
    """Assemble and validate a canonical interaction table.

    Args:
        user_id, item_id: array-likes of raw ids.
        event: one event name for all rows or an array-like of names.
        value: a scalar or array-like of floats.
        timestamp: ``None`` (unknown) or an array-like of unix seconds.
        source: file name used in error messages.

    >>> make_interactions([1, 2], [10, 11], value=[5, 3]).dtypes.to_dict()["timestamp"]
    Int64Dtype()
    """
    user = pd.Series(np.asarray(user_id))
    n_rows = len(user)
    frame = pd.DataFrame(
        {
            "user_id": user,
            "item_id": pd.Series(np.asarray(item_id)),
            "event": pd.Series(np.broadcast_to(np.asarray(event, dtype=object), (n_rows,))),
            "value": pd.Series(np.broadcast_to(np.asarray(value, dtype=np.float64), (n_rows,))),
            "timestamp": (
                pd.Series(pd.array([pd.NA] * n_rows, dtype="Int64"))
                if timestamp is None
                else pd.Series(pd.array(np.asarray(timestamp), dtype="Int64"))
            ),
        }
    )
    validate_interactions(frame, source)
    return frame


def validate_interactions(frame: pd.DataFrame, source: str = "<memory>") -> None:
    """Raise :class:`DataFormatError` unless ``frame`` is a well-formed interaction table."""
    missing = [c for c in INTERACTION_COLUMNS if c not in frame.columns]
    if missing:
        raise DataFormatError(source, f"interaction table lacks column(s) {', '.join(missing)}")
    for column in ("user_id", "item_id", "event"):
        bad = frame[column].isna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataFormatError(source, f"row {row}: missing {column}")
    values = frame["value"].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataFormatError(source, f"row {row}: value is not a finite number")
