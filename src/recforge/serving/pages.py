"""What each dashboard page shows, gathered from the service, the store and the models folder.

One function per page returns plain dicts and lists for the templates (``None`` where the page's
subject does not exist); nothing here knows about HTTP or HTML.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from recforge.core.errors import RecforgeError, UnknownIdError
from recforge.serving.charts import DAY, ChartCache, curves_chart, events_chart, ordered_events
from recforge.serving.registry import ModelRegistry
from recforge.serving.service import RecommendationService
from recforge.serving.store import EventStore

logger = logging.getLogger(__name__)

WINDOW_DAYS = 7  # "top items" and "active users" look this far back
LIST_ROWS = 10  # rows of the overview's lists
HISTORY_ROWS = 20  # latest events on a user page
MAX_LOG_ROWS = 500  # epochs shown in a run's log table
CHART_TTL_SECONDS = 10.0  # the overview's chart is redrawn at most this often

_chart_cache = ChartCache(CHART_TTL_SECONDS)


def metric_table(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """A ``metrics.json`` dict as a table: one row per metric, one column per split and cutoff
    (``hr@10`` of ``test`` goes to row ``hr``, column ``test @10``); other entries are
    ``details``.

    >>> table = metric_table({"test": {"hr@10": 0.5, "auc": 0.7},
    ...                       "valid": {"hr@10": 0.4, "hr@20": 0.6}, "protocol": "full"})
    >>> table["columns"]
    ['test @10', 'test', 'valid @10', 'valid @20']
    >>> table["rows"]
    [('hr', [0.5, None, 0.4, 0.6]), ('auc', [None, 0.7, None, None])]
    >>> table["details"]
    [('protocol', 'full')]
    """
    cells: dict[str, dict[str, Any]] = {}  # metric -> column -> value
    columns: dict[str, None] = {}
    for split, part in metrics.items():
        if not isinstance(part, Mapping):
            continue
        for name, value in part.items():
            base, _, cutoff = str(name).partition("@")
            column = f"{split} @{cutoff}" if cutoff else str(split)
            columns[column] = None
            cells.setdefault(base, {})[column] = value
    rows = [(base, [row.get(column) for column in columns]) for base, row in cells.items()]
    details = [(name, value) for name, value in metrics.items() if not isinstance(value, Mapping)]
    return {"columns": list(columns), "rows": rows, "details": details}


def bars(entries: Iterable[Any]) -> list[dict[str, Any]]:
    """``{"value", "score"}`` dicts, ``(label, score)`` pairs or a ``{label: score}`` mapping as
    rows ``{"label", "score", "width"}``, ``width`` in percent of the largest score.

    >>> [row["width"] for row in bars({"view": 4, "cart": 1})]
    [100.0, 25.0]
    """
    pairs = entries.items() if isinstance(entries, Mapping) else entries
    rows = []
    for entry in pairs:
        label, score = (entry["value"], entry["score"]) if isinstance(entry, Mapping) else entry
        rows.append({"label": label, "score": float(score)})
    top = max((row["score"] for row in rows), default=0.0)
    for row in rows:
        row["width"] = round(100.0 * row["score"] / top, 1) if top > 0 else 0.0
    return rows


def _titles(store: EventStore, item_ids: list[str]) -> dict[str, str]:
    if not item_ids:
        return {}
    frame = store.items_frame(item_ids)
    return {
        str(item_id): title
        for item_id, title in zip(frame["item_id"], frame["title"], strict=True)
        if isinstance(title, str)
    }


def _top_items(service: RecommendationService, since: float | None) -> list[dict[str, Any]]:
    """The most engaged-with items since ``since``: counts per event type and their
    weighted sum (``service.event_types`` weights)."""
    counts = service.store.item_counts(since=since)
    if not len(counts):
        return []
    try:
        weights = service.event_types.weights_of(counts["event"].to_numpy(), np.ones(len(counts)))
    except RecforgeError:  # a type stored before its weight was configured: count it as 1
        weights = np.ones(len(counts))
    scores = (
        counts.assign(score=counts["count"].to_numpy(np.float64) * weights)
        .groupby("item_id")["score"]
        .sum()
        .sort_values(ascending=False, kind="stable")
        .head(LIST_ROWS)
    )
    per_event = counts.pivot_table(index="item_id", columns="event", values="count", aggfunc="sum")
    per_event = per_event[ordered_events(per_event.columns, service.event_types.names())]
    events_of = per_event.to_dict("index")  # item_id -> {event: count or NaN}
    titles = _titles(service.store, [str(i) for i in scores.index])
    top = float(scores.iloc[0]) or 1.0
    return [
        {
            "item_id": str(item_id),
            "title": titles.get(str(item_id)),
            "score": float(score),
            "width": round(100.0 * float(score) / top, 1),
            "events": {str(event): int(n) for event, n in events_of[item_id].items() if n > 0},
        }
        for item_id, score in scores.items()
    ]


def _active_model(service: RecommendationService) -> dict[str, Any] | None:
    bundle = service.bundle()
    if bundle is None:
        return None
    return {**bundle.describe(), "metrics": metric_table(_read_json(bundle.path / "metrics.json"))}


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        logger.warning("unreadable %s: %s", path, error)
        return {}
    return data if isinstance(data, dict) else {}


def overview_page(service: RecommendationService, now: float) -> dict[str, Any]:
    """What the overview shows: counts, the events chart, top items and active users of the
    last ``WINDOW_DAYS`` (of all time when that window is empty) and the active model."""
    store = service.store
    since: float | None = now - WINDOW_DAYS * DAY
    top_items = _top_items(service, since)
    if not top_items:
        since, top_items = None, _top_items(service, None)
    users = store.active_users(since=since, limit=LIST_ROWS)
    chart = _chart_cache.get(
        service,
        lambda: events_chart(
            store.events_over_time(bucket_seconds=int(DAY)), service.event_types.names()
        ),
    )
    return {
        "counts": store.counts(),
        "chart": chart,
        "window": f"last {WINDOW_DAYS} days" if since is not None else "all time",
        "top_items": top_items,
        "active_users": users.to_dict("records"),
        "model": _active_model(service),
        "has_registry": service.registry is not None,
    }


def user_page(service: RecommendationService, user_id: str, k: int) -> dict[str, Any] | None:
    """Profile, latest events and recommendations of a user; ``None`` for an unknown user."""
    store = service.store
    history = store.user_events(user_id, limit=HISTORY_ROWS)
    if not len(history) and store.get_user(user_id) is None:
        return None
    profile = service.user_profile(user_id)
    recommendations = service.recommend(user_id, k=k)
    titles = _titles(store, history["item_id"].astype(str).unique().tolist())
    events = history.iloc[::-1].to_dict("records")
    for event in events:
        event["title"] = titles.get(str(event["item_id"]))
    activity = profile.get("activity", {})
    return {
        "user_id": user_id,
        "demographics": profile.get("demographics", {}),
        "activity": activity,
        "by_event": bars(_by_event(service, activity.get("by_event") or {})),
        "interests": {facet: bars(rows) for facet, rows in profile.get("interests", {}).items()},
        "history": events,
        "recommendations": recommendations,
        "k": k,
        "history_limit": service.settings.history_limit,
    }


def _by_event(service: RecommendationService, counts: Mapping[str, Any]) -> dict[str, Any]:
    return {event: counts[event] for event in ordered_events(counts, service.event_types.names())}


def item_page(service: RecommendationService, item_id: str, k: int) -> dict[str, Any] | None:
    """Attributes, popularity and similar items of an item; ``None`` for an unknown item."""
    store = service.store
    record = store.get_item(item_id)
    if record is None and not store.item_event_counts(item_id):
        return None
    profile = service.item_profile(item_id)
    try:
        similar = service.similar(item_id, k=k)
    except UnknownIdError:  # events but neither metadata nor a model row
        similar = {"item_id": item_id, "model": None, "items": []}
    attributes = dict(profile.get("attributes") or {})
    extra = (record or {}).get("attributes") or {}
    attributes.update({key: value for key, value in extra.items() if attributes.get(key) is None})
    popularity = profile.get("popularity") or {}
    trending = service.trending()
    rank = int(np.flatnonzero(trending.index == item_id)[0]) + 1 if item_id in trending else None
    return {
        "item_id": item_id,
        "title": attributes.pop("title", None),
        "description": attributes.pop("description", None),
        "attributes": attributes,
        "text": profile.get("text"),
        "popularity": popularity,
        "by_event": bars(_by_event(service, popularity.get("by_event") or {})),
        "trending_rank": rank,
        "n_trending": len(trending),
        "similar": similar,
        "k": k,
    }


def models_page(registry: ModelRegistry | None) -> dict[str, Any]:
    """Every run with its marks and test metrics (columns: the union of their names)."""
    runs = [] if registry is None else registry.runs()
    names = dict.fromkeys(name for run in runs for name in (run["metrics"].get("test") or {}))
    # one cutoff keeps the table narrow; a run's page has them all
    cutoffs = [name.partition("@")[2] for name in names if "@" in name]
    cutoff = cutoffs[0] if cutoffs else ""
    columns = [name for name in names if name.partition("@")[2] in ("", cutoff)]
    return {
        "runs": runs,
        "columns": columns,
        "cutoff": cutoff,
        "has_registry": registry is not None,
    }


def run_page(registry: ModelRegistry | None, run: str) -> dict[str, Any] | None:
    """One run's metric tables, training log and curves; ``None`` for an unknown run."""
    if registry is None:
        return None
    found = [entry for entry in registry.runs() if entry["run"] == run]
    if not found:
        return None
    path = registry.run_path(run)
    records = read_train_log(path / "train_log.jsonl")
    return {
        **found[0],
        "table": metric_table(found[0]["metrics"]),
        "config": (path / "config.toml").read_text() if (path / "config.toml").is_file() else None,
        "log": records[-MAX_LOG_ROWS:] if records is not None else None,
        "log_columns": _log_columns(records or []),
        "curves": curves_chart(records) if records else None,
    }


def read_train_log(path: Path) -> list[dict[str, Any]] | None:
    """The records of a ``train_log.jsonl`` (unreadable lines skipped), ``None`` without one."""
    if not path.is_file():
        return None
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            logger.warning("%s:%d: not a JSON record, skipped", path, number)
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _log_columns(records: list[dict[str, Any]]) -> list[str]:
    """Columns of the log table: top-level fields, then ``valid.<metric>`` ones."""
    columns: dict[str, None] = {}
    for record in records:
        for name, value in record.items():
            if isinstance(value, Mapping):
                columns.update({f"{name}.{inner}": None for inner in value})
            else:
                columns[name] = None
    return list(columns)


def log_value(record: Mapping[str, Any], column: str) -> Any:
    """The value of a log column (``valid.hr@10`` reaches into ``record["valid"]``)."""
    if column in record:
        return record[column]
    outer, _, inner = column.partition(".")
    nested = record.get(outer)
    return nested.get(inner) if isinstance(nested, Mapping) else None


__all__ = [
    "bars",
    "item_page",
    "log_value",
    "metric_table",
    "models_page",
    "overview_page",
    "read_train_log",
    "run_page",
    "user_page",
]
