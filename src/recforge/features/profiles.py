"""User and item profiles: one code path for offline batches and for one live user.

A **user profile** gathers what is known about a user (demographics), how active they are and
what they like: for each facet (item category, tag, brand) the values the user's events point
at, scored by ``event weight * time decay`` and normalised to shares. An **item profile**
gathers an item's attributes, its popularity and the text used for content vectors.

Time decay halves an event's weight every ``half_life_days``:
``decay = 0.5 ** (max(now - timestamp, 0) / 86400 / half_life_days)``. Events newer than
``now`` and events without a timestamp (NaN / ``<NA>``) count with decay 1, as if they had just
happened: a source without times then gives plain weighted counts.

Ids are keyed by ``str(id)`` throughout (the server's ids are strings), so an int id ``7`` in
the events matches item ``"7"`` in a store. Events frames have the canonical columns
``user_id, item_id, event, value, timestamp`` (unix seconds, float or nullable Int64). Items
tables may use the synthetic shop's columns (``category`` str, ``tags`` list, ``brand`` str),
the readers' (``categories``/``genres`` lists) or the event store's (``categories`` list,
``tags`` list, ``attributes`` dict with ``"brand"``).

>>> import pandas as pd
>>> events = pd.DataFrame({"user_id": [1, 1, 1], "item_id": [10, 11, 10],
...     "event": ["view", "purchase", "click"], "value": 1.0, "timestamp": [0, 0, 0]})
>>> items = pd.DataFrame({"item_id": [10, 11], "title": ["Red Tent", "Trail Shoe"],
...     "category": ["Outdoor", "Sports"], "tags": [["camping"], ["running", "trail"]],
...     "brand": ["Oakpeak", None]})
>>> profile = user_profile(1, events, items, now=0)
>>> profile.interests["category"]
[('Sports', 0.7273), ('Outdoor', 0.2727)]
>>> profile.activity["by_event"]
{'view': 1, 'click': 1, 'purchase': 1}
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from recforge.core.errors import ConfigError
from recforge.features._item_fields import item_fields, plain, records, text_of
from recforge.features.events import (
    SECONDS_PER_DAY,
    EventTypes,
    require_columns,
    string_ids,
    weighted_events,
)

FACETS = ("category", "tag", "brand")
_SCORE_DECIMALS = 4


@dataclass(frozen=True)
class ProfileConfig:
    """How profiles count events.

    Args:
        half_life_days: an event's weight halves every this many days (``inf``: no decay).
        top_n: interest values kept per facet.
        facets: which item facets profiles score, a subset of ``("category", "tag", "brand")``.
        event_types: the known event types and their weights.
    """

    half_life_days: float = 14.0
    top_n: int = 10
    facets: tuple[str, ...] = FACETS
    event_types: EventTypes = field(default_factory=EventTypes)

    def __post_init__(self) -> None:
        half_life = self.half_life_days
        if isinstance(half_life, bool) or not isinstance(half_life, (int, float)):
            raise ConfigError("half_life_days", f"must be a number, got {half_life!r}")
        if math.isnan(half_life) or half_life <= 0:
            raise ConfigError("half_life_days", f"must be > 0, got {half_life!r}")
        if isinstance(self.top_n, bool) or not isinstance(self.top_n, int) or self.top_n < 1:
            raise ConfigError("top_n", f"must be an integer >= 1, got {self.top_n!r}")
        object.__setattr__(self, "facets", _checked_facets(self.facets))
        if not isinstance(self.event_types, EventTypes):
            raise ConfigError("event_types", f"expected EventTypes, got {self.event_types!r}")


def _weighted(events: pd.DataFrame, now: float, config: ProfileConfig) -> pd.DataFrame:
    return weighted_events(
        events, now=now, event_types=config.event_types, half_life_days=config.half_life_days
    )


def _checked_facets(facets: Sequence[str]) -> tuple[str, ...]:
    if isinstance(facets, str) or not facets:
        raise ConfigError("facets", f"expected a non-empty list of facets, got {facets!r}")
    for facet in facets:
        if facet not in FACETS:
            raise ConfigError("facets", f"unknown facet {facet!r} (known: {', '.join(FACETS)})")
    if len(set(facets)) != len(facets):
        raise ConfigError("facets", f"a facet is listed twice: {list(facets)}")
    return tuple(facets)


# --- items: facets and text -----------------------------------------------------------------


def item_text(items: pd.DataFrame) -> pd.Series:
    """One string per item: title, description, categories, tags and brand.

    Missing columns and None/NaN cells are skipped; an item with nothing known gets ``""``.

    Returns:
        A string Series named ``text`` with the index of ``items``.

    >>> items = pd.DataFrame({"title": ["Red Tent", None], "tags": [["camping", "2p"], None]})
    >>> item_text(items).tolist()
    ['Red Tent. camping, 2p', '']
    """
    texts = [text_of(item_fields(row)) for row in records(items)]
    return pd.Series(texts, index=items.index, name="text", dtype=object)


def item_facets(items: pd.DataFrame, facets: Sequence[str] = FACETS) -> pd.DataFrame:
    """Long table ``item_id`` (str), ``facet``, ``value`` of the items' categories, tags, brands.

    Scalar or list cells both work (see the module docstring for the columns read).

    >>> items = pd.DataFrame({"item_id": [1], "categories": [["Books", "Kids"]],
    ...                       "attributes": [{"brand": "Acme"}]})
    >>> item_facets(items).values.tolist()
    [['1', 'category', 'Books'], ['1', 'category', 'Kids'], ['1', 'brand', 'Acme']]
    """
    wanted = _checked_facets(facets)
    require_columns(items, ["item_id"], "items")
    item_ids, facet_names, values = [], [], []
    for item_id, row in zip(string_ids(items["item_id"]), records(items), strict=True):
        fields = item_fields(row)
        by_facet = {"category": fields["categories"], "tag": fields["tags"]}
        by_facet["brand"] = [] if fields["brand"] is None else [fields["brand"]]
        for facet in wanted:
            item_ids += [item_id] * len(by_facet[facet])
            facet_names += [facet] * len(by_facet[facet])
            values += by_facet[facet]
    frame = pd.DataFrame({"item_id": item_ids, "facet": facet_names, "value": values}, dtype=object)
    return frame.drop_duplicates(ignore_index=True)


# --- user profiles ----------------------------------------------------------------------------


def _interest_table(
    weighted: pd.DataFrame, facets: pd.DataFrame, config: ProfileConfig
) -> pd.DataFrame:
    """:func:`interest_scores` on already weighted events."""
    require_columns(facets, ["item_id", "facet", "value"], "facets")
    facets = facets[facets["facet"].isin(config.facets)]
    facets = facets.assign(item_id=string_ids(facets["item_id"]))
    joined = weighted[["user_id", "item_id", "weight"]].merge(
        facets[["item_id", "facet", "value"]], on="item_id", how="inner"
    )
    sums = joined.groupby(["user_id", "facet", "value"], sort=False)["weight"].sum().reset_index()
    totals = sums.groupby(["user_id", "facet"], sort=False)["weight"].transform("sum")
    sums = sums.assign(score=sums["weight"] / totals)[totals.to_numpy() > 0]
    ranked = sums.sort_values(
        ["user_id", "facet", "score", "value"], ascending=[True, True, False, True], kind="stable"
    )
    top = ranked.groupby(["user_id", "facet"], sort=False).head(config.top_n)
    return top[["user_id", "facet", "value", "score"]].reset_index(drop=True)


def interest_scores(
    events: pd.DataFrame, facets: pd.DataFrame, *, now: float, config: ProfileConfig
) -> pd.DataFrame:
    """Each user's interest in each facet value, vectorised.

    For a user, facet and value: the sum over the user's events on items with that value of
    ``event weight * time decay``, divided by the same sum over all values of the facet (shares
    of the whole facet, before the cut to ``top_n``, so the kept scores may sum below 1).
    Events on items absent from ``facets`` add no interest.

    Args:
        events: canonical events frame.
        facets: long table from :func:`item_facets`.
        now: unix seconds the decay is measured from.
        config: weights, half-life, facets and ``top_n``.

    Returns:
        Columns ``user_id`` (str), ``facet``, ``value``, ``score``; sorted by user, facet and
        score (best first, ties by value); at most ``top_n`` rows per (user, facet).
    """
    weighted = _weighted(events, now, config)
    return _interest_table(weighted, facets, config)


def _iso(seconds: float) -> str | None:
    if math.isnan(seconds):
        return None
    return datetime.fromtimestamp(math.floor(seconds), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class UserProfile:
    """What is known about one user.

    Attributes:
        user_id: ``str`` of the raw id.
        demographics: known attributes (age_band, gender, region, ...), JSON-ready.
        activity: ``n_events``, ``by_event`` {type: count}, ``first_seen`` and ``last_seen``
            (ISO-8601 UTC, ``None`` without timestamps) and ``active_days`` (distinct UTC days).
        interests: facet -> ``[(value, score)]``, best first, scores rounded to 4 places;
            every configured facet is present (an empty list when nothing is known).
    """

    user_id: str
    demographics: dict[str, Any]
    activity: dict[str, Any]
    interests: dict[str, list[tuple[str, float]]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; interests as ``[{"value": ..., "score": ...}]`` lists."""
        return {
            "user_id": self.user_id,
            "demographics": dict(self.demographics),
            "activity": dict(self.activity),
            "interests": {
                facet: [{"value": value, "score": score} for value, score in pairs]
                for facet, pairs in self.interests.items()
            },
        }


def _empty_activity() -> dict[str, Any]:
    return {"n_events": 0, "by_event": {}, "first_seen": None, "last_seen": None, "active_days": 0}


def _build_user_profiles(
    weighted: pd.DataFrame,
    facets: pd.DataFrame,
    demographics: Mapping[str, Mapping[str, Any]],
    config: ProfileConfig,
) -> dict[str, UserProfile]:
    """The one code path behind :func:`user_profiles` and :func:`user_profile`."""
    order = list(dict.fromkeys([*pd.unique(weighted["user_id"]), *demographics]))
    profiles = {
        user_id: UserProfile(
            user_id=user_id,
            demographics={
                str(k): plain(v)
                for k, v in demographics.get(user_id, {}).items()
                if k != "user_id" and plain(v) is not None
            },
            activity=_empty_activity(),
            interests={facet: [] for facet in config.facets},
        )
        for user_id in order
    }
    if len(weighted):
        by_user = weighted.groupby("user_id", sort=False)
        days = np.floor(weighted["timestamp"] / SECONDS_PER_DAY)
        summary = pd.DataFrame(
            {
                "n_events": by_user.size(),
                "first": by_user["timestamp"].min(),
                "last": by_user["timestamp"].max(),
                "active_days": days.groupby(weighted["user_id"], sort=False).nunique(),
            }
        )
        for user_id, n_events, first, last, active in summary.itertuples():
            profiles[user_id].activity.update(
                n_events=int(n_events),
                first_seen=_iso(first),
                last_seen=_iso(last),
                active_days=int(active),
            )
        kinds = pd.Categorical(weighted["event"], categories=config.event_types.names())
        counts = weighted.groupby([weighted["user_id"], kinds], observed=True, sort=False).size()
        counts = counts.sort_index(level=1, sort_remaining=False)  # types in config order
        for user_id, kind, count in counts.reset_index().itertuples(index=False):
            profiles[user_id].activity["by_event"][kind] = int(count)
    table = _interest_table(weighted, facets, config)
    for user_id, facet, value, score in table.itertuples(index=False):
        profiles[user_id].interests[facet].append((value, round(float(score), _SCORE_DECIMALS)))
    return profiles


def _facets_of(items: pd.DataFrame | None, config: ProfileConfig) -> pd.DataFrame:
    if items is None or len(items) == 0:
        return pd.DataFrame({"item_id": [], "facet": [], "value": []}, dtype=object)
    return item_facets(items, config.facets)


def user_profiles(
    events: pd.DataFrame,
    items: pd.DataFrame | None,
    users: pd.DataFrame | None = None,
    *,
    now: float,
    config: ProfileConfig | None = None,
) -> dict[str, UserProfile]:
    """Profiles of every user in ``events`` (and in ``users``, who may have no events).

    Args:
        events: canonical events frame.
        items: items table (see the module docstring for the columns read), or ``None``.
        users: users table with ``user_id`` and demographic columns, or ``None``.
        now: unix seconds the decay is measured from.
        config: ``None`` for :class:`ProfileConfig` defaults.

    Returns:
        ``str(user_id)`` -> :class:`UserProfile`, users in order of first event, then users
        known only from ``users``.
    """
    config = ProfileConfig() if config is None else config
    weighted = _weighted(events, now, config)
    demographics: dict[str, Mapping[str, Any]] = {}
    if users is not None and len(users):
        require_columns(users, ["user_id"], "users")
        ids = string_ids(users["user_id"])
        demographics = dict(zip(ids, records(users), strict=True))
    return _build_user_profiles(weighted, _facets_of(items, config), demographics, config)


def user_profile(
    user_id: Any,
    events: pd.DataFrame,
    items: pd.DataFrame | None,
    demographics: Mapping[str, Any] | None = None,
    *,
    now: float,
    config: ProfileConfig | None = None,
) -> UserProfile:
    """One user's profile, through the same code as :func:`user_profiles`.

    ``events`` may hold other users' events too (they are dropped); no events at all give an
    empty profile. ``items`` needs only the items the user touched.
    """
    config = ProfileConfig() if config is None else config
    key = str(user_id)
    weighted = _weighted(events, now, config)
    weighted = weighted[weighted["user_id"].to_numpy() == key].reset_index(drop=True)
    profiles = _build_user_profiles(
        weighted, _facets_of(items, config), {key: dict(demographics or {})}, config
    )
    return profiles[key]


# --- item profiles ----------------------------------------------------------------------------


def _count_column(event: str) -> str:
    return f"count_{event}"


def item_popularity(
    events: pd.DataFrame, *, now: float, config: ProfileConfig | None = None
) -> pd.DataFrame:
    """Per-item popularity, vectorised.

    Returns:
        One row per item with events: ``item_id`` (str), ``count_<event>`` for every known
        event type, ``n_events``, ``n_users`` (distinct users) and ``decayed_score`` (sum of
        event weight * time decay, the half-life of ``config``); sorted by ``decayed_score``
        (best first, ties by item id), with ``rank`` 1, 2, ... in that order.

    >>> events = pd.DataFrame({"user_id": [1, 2, 2], "item_id": [5, 5, 6],
    ...     "event": ["view", "purchase", "view"], "value": 1.0, "timestamp": 0})
    >>> item_popularity(events, now=0)[["item_id", "count_purchase", "n_users", "rank"]]
      item_id  count_purchase  n_users  rank
    0       5               1        2     1
    1       6               0        1     2
    """
    config = ProfileConfig() if config is None else config
    weighted = _weighted(events, now, config)
    names = config.event_types.names()
    kinds = pd.Categorical(weighted["event"], categories=names)
    by_item = weighted.groupby("item_id")
    counts = by_item.size().to_frame("n_events")  # (items, 1): the index every column shares
    for code, name in enumerate(names):
        hits = pd.Series(kinds.codes == code, index=weighted.index)
        counts[_count_column(name)] = hits.groupby(weighted["item_id"]).sum()
    frame = counts[[_count_column(name) for name in names]].astype(np.int64)
    frame["n_events"] = by_item.size().astype(np.int64)
    frame["n_users"] = by_item["user_id"].nunique().astype(np.int64)
    frame["decayed_score"] = by_item["weight"].sum()
    frame = frame.rename_axis("item_id").reset_index()
    frame = frame.sort_values(
        ["decayed_score", "item_id"], ascending=[False, True], kind="stable", ignore_index=True
    )
    frame["rank"] = np.arange(1, len(frame) + 1, dtype=np.int64)
    return frame


@dataclass
class ItemProfile:
    """What is known about one item.

    Attributes:
        item_id: ``str`` of the raw id.
        attributes: title, description, categories, tags, brand, price and other known scalar
            fields, JSON-ready (``None`` where unknown).
        popularity: ``by_event`` {type: count} (types with a count > 0), ``n_events``,
            ``n_users``, ``decayed_score`` (4 places) and ``rank``; ``None`` where unknown.
        text: the text content encoders use (see :func:`item_text`).
    """

    item_id: str
    attributes: dict[str, Any]
    popularity: dict[str, Any]
    text: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def item_profile(
    item_id: Any,
    item_row: Mapping[str, Any] | None,
    counts: Mapping[str, int] | None = None,
    decayed_score: float | None = None,
    *,
    n_users: int | None = None,
    rank: int | None = None,
) -> ItemProfile:
    """One item's profile from its metadata row and its event counts.

    Online: ``item_profile(id, store.get_item(id), store.item_event_counts(id))``; offline,
    :func:`item_profiles` passes the rows of :func:`item_popularity`. Both use this function.

    Args:
        item_id: raw id (kept as ``str``).
        item_row: the item's metadata (a row of an items table or the store's dict), or
            ``None`` when nothing is known.
        counts: event type -> count, or ``None`` for no events.
        decayed_score: weighted decayed event sum, or ``None`` when not computed.
        n_users: distinct users who interacted, when known.
        rank: popularity rank (1 = most popular), when known.

    >>> item_profile(3, {"title": "Red Tent", "brand": "Oakpeak"}, {"view": 4, "cart": 1}).text
    'Red Tent. Oakpeak'
    """
    fields = item_fields(item_row or {})
    by_event = {str(k): int(v) for k, v in (counts or {}).items() if int(v) > 0}
    popularity = {
        "n_events": sum(by_event.values()),
        "by_event": by_event,
        "n_users": None if n_users is None else int(n_users),
        "decayed_score": (
            None if decayed_score is None else round(float(decayed_score), _SCORE_DECIMALS)
        ),
        "rank": None if rank is None else int(rank),
    }
    return ItemProfile(str(item_id), fields, popularity, text_of(fields))


def item_profiles(
    items: pd.DataFrame | None,
    events: pd.DataFrame,
    *,
    now: float,
    config: ProfileConfig | None = None,
) -> dict[str, ItemProfile]:
    """Profiles of every item in ``items`` and in ``events`` (offline batch).

    Returns:
        ``str(item_id)`` -> :class:`ItemProfile`, items-table order first, then items known
        only from events.
    """
    config = ProfileConfig() if config is None else config
    rows: dict[str, dict[str, Any]] = {}
    if items is not None and len(items):
        require_columns(items, ["item_id"], "items")
        rows = dict(zip(string_ids(items["item_id"]), records(items), strict=True))
    popularity = item_popularity(events, now=now, config=config)
    stats_by_item: dict[Any, dict[Any, Any]] = popularity.set_index("item_id").to_dict("index")
    names = config.event_types.names()
    profiles: dict[str, ItemProfile] = {}
    for item_id in dict.fromkeys([*rows, *stats_by_item]):
        stats = stats_by_item.get(item_id)
        if stats is not None:
            counts = {name: int(stats[_count_column(name)]) for name in names}
            profiles[item_id] = item_profile(
                item_id,
                rows.get(item_id),
                counts,
                float(stats["decayed_score"]),
                n_users=int(stats["n_users"]),
                rank=int(stats["rank"]),
            )
        else:
            profiles[item_id] = item_profile(item_id, rows.get(item_id), {}, 0.0, n_users=0)
    return profiles
