"""Behaviour event types and how much each one counts.

A profile or a popularity score adds up events, and a purchase says more about a user's taste
than a view. :class:`EventTypes` holds the weight of every known event type; the same object is
used offline (profiles built from a whole log) and online (the server checking an incoming
event and updating one user), so both count events the same way. :func:`time_decay` and
:func:`weighted_events` turn a canonical events frame into validated, decayed weights.

The rule for one event of type ``event`` with value ``value``:

* ``rating``: ``weight * clip(value, 0, max_rating) / max_rating`` (a 5-star rating on a 5-point
  scale counts the full weight, a 1-star rating a fifth of it);
* every other type: ``weight``; the value is ignored, because sources put different things
  there (a count, a price, 1.0).

>>> types = EventTypes()
>>> types.weight("purchase"), types.weight("rating", 4.0)
(8.0, 0.8)
>>> EventTypes.with_custom({"wishlist": 3.0}).weight("wishlist")
3.0
>>> types.check("like")
Traceback (most recent call last):
...
recforge.features.events.EventError: unknown event type 'like' (known: view, click, cart, \
purchase, rating)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from recforge.core.errors import ConfigError, DataFormatError, RecforgeError

DEFAULT_EVENT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {"view": 1.0, "click": 2.0, "cart": 4.0, "purchase": 8.0, "rating": 1.0}
)
RATING = "rating"
EVENT_COLUMNS = ("user_id", "item_id", "event", "value", "timestamp")
SECONDS_PER_DAY = 86_400
_NAME = re.compile(r"[a-z][a-z0-9_]*")


class EventError(RecforgeError, ValueError):
    """An event has an unknown type or a value that cannot be counted.

    Args:
        event: the offending event type.
        message: what is wrong.
    """

    def __init__(self, event: object, message: str) -> None:
        self.event = event
        super().__init__(message)


def _checked_weights(weights: Mapping[str, Any], prefix: str) -> dict[str, float]:
    """Weights as a plain dict, or a :class:`ConfigError` naming the first bad key."""
    if not isinstance(weights, Mapping):
        raise ConfigError(prefix, f"expected a table of event weights, got {weights!r}")
    checked: dict[str, float] = {}
    for name, weight in weights.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigError(key, "event type names must match [a-z][a-z0-9_]*")
        if isinstance(weight, bool) or not isinstance(weight, (int, float, np.number)):
            raise ConfigError(key, f"weight must be a number, got {weight!r}")
        if not math.isfinite(weight) or weight <= 0:
            raise ConfigError(key, f"weight must be a finite number > 0, got {weight!r}")
        checked[name] = float(weight)
    if not checked:
        raise ConfigError(prefix or "weights", "at least one event type is needed")
    return checked


@dataclass(frozen=True)
class EventTypes:
    """Known event types and their weights; see the module docstring for the counting rule.

    Args:
        weights: event type -> weight (finite, > 0). Names match ``[a-z][a-z0-9_]*``.
        max_rating: top of the rating scale; a ``rating`` event counts
            ``weight * clip(value, 0, max_rating) / max_rating``.

    Raises:
        ConfigError: a bad name, a weight that is not a finite number > 0, or a bad
            ``max_rating`` (the message names the key).
    """

    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))
    max_rating: float = 5.0

    def __post_init__(self) -> None:
        checked = _checked_weights(self.weights, "weights")
        object.__setattr__(self, "weights", checked)  # a private copy: callers' dicts may change
        rating = self.max_rating
        if isinstance(rating, bool) or not isinstance(rating, (int, float)):
            raise ConfigError("max_rating", f"must be a number, got {rating!r}")
        if not math.isfinite(rating) or rating <= 0:
            raise ConfigError("max_rating", f"must be a finite number > 0, got {rating!r}")
        object.__setattr__(self, "max_rating", float(rating))

    def __hash__(self) -> int:  # a dict is not hashable; its items are
        return hash((tuple(self.weights.items()), self.max_rating))

    @classmethod
    def with_custom(cls, custom: Mapping[str, float], *, max_rating: float = 5.0) -> EventTypes:
        """The default types plus ``custom`` ones (a custom weight also overrides a default).

        >>> EventTypes.with_custom({"wishlist": 3.0, "view": 0.5}).names()
        ('view', 'click', 'cart', 'purchase', 'rating', 'wishlist')
        """
        return cls(weights={**DEFAULT_EVENT_WEIGHTS, **custom}, max_rating=max_rating)

    @classmethod
    def from_config(
        cls, table: Mapping[str, Any] | None, *, prefix: str = "event_weights"
    ) -> EventTypes:
        """Event types from a TOML table of custom weights (``None`` or empty: the defaults).

        The table adds types to the defaults or overrides their weights. Errors name the key
        as ``prefix.name``.

        >>> EventTypes.from_config({"wishlist": 3}).weight("wishlist")
        3.0
        >>> EventTypes.from_config({"Wish List": 3})
        Traceback (most recent call last):
        ...
        recforge.core.errors.ConfigError: config key 'event_weights.Wish List': event type \
names must match [a-z][a-z0-9_]*
        """
        if table is None or (isinstance(table, Mapping) and not table):
            return cls()  # no table, or an empty `[event_weights]`: the defaults
        return cls(weights={**DEFAULT_EVENT_WEIGHTS, **_checked_weights(table, prefix)})

    def names(self) -> tuple[str, ...]:
        """Known event types, defaults first, in the order they were given."""
        return tuple(self.weights)

    def check(self, event: str) -> None:
        """Raise :class:`EventError` naming ``event`` and the known types unless it is known."""
        if event not in self.weights:
            known = ", ".join(self.names())
            raise EventError(event, f"unknown event type {event!r} (known: {known})")

    def weight(self, event: str, value: float = 1.0) -> float:
        """How much one ``event`` with ``value`` counts (see the module docstring).

        Raises:
            EventError: an unknown type, or a rating whose value is not a finite number.
        """
        return float(self.weights_of(np.asarray([event], dtype=object), np.asarray([value]))[0])

    def weights_of(self, events: Any, values: Any) -> np.ndarray:
        """Vectorised :meth:`weight`: ``(n,)`` float64 for ``n`` events and values.

        Raises:
            EventError: the first unknown type, or a rating whose value is not finite.
        """
        event_array = np.asarray(events, dtype=object)
        value_array = np.asarray(values, dtype=np.float64)
        if event_array.shape != value_array.shape:
            raise ValueError(
                f"events and values differ in shape: {event_array.shape} vs {value_array.shape}"
            )
        names = np.asarray(self.names(), dtype=object)
        table = np.asarray(list(self.weights.values()), dtype=np.float64)
        codes = _codes_of(event_array, names)
        if (codes < 0).any():
            self.check(event_array[int(np.flatnonzero(codes < 0)[0])])
        weights = table[codes]  # (n,)
        if RATING in self.weights:
            is_rating = event_array == RATING
            ratings = value_array[is_rating]
            if not np.isfinite(ratings).all():
                bad = ratings[~np.isfinite(ratings)][0]
                raise EventError(RATING, f"a rating's value must be a finite number, got {bad}")
            weights[is_rating] *= np.clip(ratings, 0.0, self.max_rating) / self.max_rating
        return weights


def _codes_of(events: np.ndarray, names: np.ndarray) -> np.ndarray:
    """Position of each event in ``names``; -1 where unknown (vectorised lookup)."""
    codes = np.full(events.shape, -1, dtype=np.int64)
    for code, name in enumerate(names):  # a handful of types: one vector compare each
        codes[events == name] = code
    return codes


# --- events frames --------------------------------------------------------------------------


def require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Raise :class:`DataFormatError` naming the columns of ``frame`` that are missing."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        has = ", ".join(map(str, frame.columns)) or "none"
        raise DataFormatError(what, f"missing column(s) {', '.join(missing)} (has: {has})")


def string_ids(series: pd.Series) -> np.ndarray:
    """Ids as ``str(id)``; object array."""
    return series.astype(object).map(str).to_numpy(dtype=object)


def _seconds(series: pd.Series, what: str) -> np.ndarray:
    """Timestamps as float64 unix seconds, NaN where missing."""
    try:
        numbers = pd.to_numeric(series, errors="raise")
    except (ValueError, TypeError) as error:
        message = f"column timestamp is not numeric unix seconds: {error}"
        raise DataFormatError(what, message) from error
    return pd.Series(numbers).astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)


def time_decay(timestamps: Any, *, now: float, half_life_days: float) -> np.ndarray:
    """``0.5 ** (age_days / half_life_days)``; future and missing timestamps get 1.

    >>> time_decay([0.0, -14 * 86400.0, float("nan"), 86400.0], now=0, half_life_days=14)
    array([1. , 0.5, 1. , 1. ])
    """
    seconds = np.asarray(timestamps, dtype=np.float64)
    age_days = np.clip(np.nan_to_num(float(now) - seconds, nan=0.0), 0.0, None) / SECONDS_PER_DAY
    return np.power(0.5, age_days / half_life_days)


def _check_now(now: float) -> float:
    now = float(now)
    if not math.isfinite(now):
        raise ValueError(f"now must be finite unix seconds, got {now}")
    return now


def weighted_events(
    events: pd.DataFrame,
    *,
    now: float,
    event_types: EventTypes,
    half_life_days: float,
    what: str = "events",
) -> pd.DataFrame:
    """Validated events with string ids and their decayed weights.

    Args:
        events: canonical events frame (``user_id, item_id, event, value, timestamp``).
        now: unix seconds the decay is measured from.
        event_types: the known types and their weights.
        half_life_days: see :func:`time_decay`.
        what: the frame's name in error messages.

    Returns:
        Columns ``user_id`` (str), ``item_id`` (str), ``event``, ``timestamp`` (float64 unix
        seconds, NaN where unknown) and ``weight`` (event weight * time decay). An empty frame
        (even one without columns) gives an empty result.

    Raises:
        DataFormatError: a missing column or a missing id/event (names the column and row).
        EventError: an unknown event type (names it).
    """
    now = _check_now(now)
    if len(events) == 0:
        return pd.DataFrame(
            {
                "user_id": pd.Series(dtype=object),
                "item_id": pd.Series(dtype=object),
                "event": pd.Series(dtype=object),
                "timestamp": pd.Series(dtype=np.float64),
                "weight": pd.Series(dtype=np.float64),
            }
        )
    require_columns(events, EVENT_COLUMNS, what)
    for column in ("user_id", "item_id", "event"):
        bad = events[column].isna().to_numpy()
        if bad.any():
            raise DataFormatError(what, f"row {int(np.flatnonzero(bad)[0])}: missing {column}")
    kinds = events["event"].astype(object).to_numpy(dtype=object)
    values = pd.to_numeric(events["value"], errors="coerce").to_numpy(dtype=np.float64)
    seconds = _seconds(events["timestamp"], what)
    weights = event_types.weights_of(kinds, values) * time_decay(
        seconds, now=now, half_life_days=half_life_days
    )
    return pd.DataFrame(
        {
            "user_id": string_ids(events["user_id"]),
            "item_id": string_ids(events["item_id"]),
            "event": kinds,
            "timestamp": seconds,
            "weight": weights,
        }
    )
