"""Charts of the dashboard, drawn on the server as inline SVG with matplotlib.

Figures are built with matplotlib's object API (``matplotlib.figure.Figure``), never through
``pyplot``: no GUI backend is ever selected, no global figure state is shared between request
threads, and ``savefig(format="svg")`` needs no backend choice. Text stays text in the SVG
(``svg.fonttype = none``), so charts are small and use the page's font; the XML header is
stripped so the markup can be inlined in HTML.
"""

from __future__ import annotations

import io
import math
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

DAY = 86_400.0
MAX_BARS = 120  # most bars in the events chart

#: colours of the built-in event types in charts and badges; others cycle through ``_SPARE``
EVENT_COLORS = {
    "view": "#bfdbfe",
    "click": "#60a5fa",
    "cart": "#f59e0b",
    "purchase": "#10b981",
    "rating": "#a78bfa",
}
_SPARE = ("#f472b6", "#94a3b8", "#f87171", "#2dd4bf", "#facc15")


def event_color(event: str) -> str:
    """The colour of an event type: fixed for the built-in ones, stable for the others.

    >>> event_color("purchase"), event_color("wishlist") == event_color("wishlist")
    ('#10b981', True)
    """
    if event in EVENT_COLORS:
        return EVENT_COLORS[event]
    return _SPARE[sum(map(ord, event)) % len(_SPARE)]


def _svg(figure: Any) -> str:
    """A matplotlib figure as an ``<svg>`` element to inline in HTML (no XML header)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _chart_style() -> Any:
    import matplotlib

    return matplotlib.rc_context(
        {
            "svg.fonttype": "none",  # text stays text: small files, the page's font
            "svg.hashsalt": "recforge",  # stable element ids
            "text.parse_math": False,  # a "$" in a title is a dollar, not TeX
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.color": "#e5e7eb",
            "axes.axisbelow": True,
        }
    )


def events_chart(over_time: pd.DataFrame, order: Iterable[str]) -> str | None:
    """Stacked bars of event counts per type and day, as inline SVG; ranges longer than
    ``MAX_BARS`` days get weekly bars, then 30-day bars (the SVG stays small).

    Args:
        over_time: ``bucket_start, event, count`` rows, as from
            :meth:`EventStore.events_over_time` with daily buckets.
        order: event types in stacking order (others follow alphabetically).

    Returns:
        The ``<svg>`` markup, or ``None`` when there are no events.
    """
    if not len(over_time):
        return None
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    frame = over_time.assign(day=np.floor(over_time["bucket_start"] / DAY).astype(np.int64))
    span = int(frame["day"].max() - frame["day"].min()) + 1
    step = next(days for days in (1, 7, 30) if span / days <= MAX_BARS or days == 30)
    frame["day"] = frame["day"] // step * step
    table = frame.pivot_table(index="day", columns="event", values="count", aggfunc="sum")
    days = np.arange(table.index.min(), table.index.max() + 1, step)
    table = table.reindex(days, fill_value=0).fillna(0)
    table = table[ordered_events(table.columns, order)]
    starts = pd.to_datetime((days + step / 2) * DAY, unit="s").to_numpy()  # bar centres
    with _chart_style():
        figure = Figure(figsize=(8.4, 2.6), layout="constrained")
        axes = figure.subplots()
        bottom = np.zeros(len(table))
        for event in table.columns:
            values = table[event].to_numpy(np.float64)
            axes.bar(
                starts,
                values,
                width=0.8 * step,
                bottom=bottom,
                label=str(event),
                color=event_color(str(event)),
                linewidth=0,
            )
            bottom += values
        locator = AutoDateLocator()
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        axes.margins(x=0.01)
        axes.set_ylim(0, max(bottom.max(), 1.0) * 1.18)
        axes.set_ylabel({1: "events per day", 7: "events per week"}.get(step, "per 30 days"))
        axes.grid(axis="x", visible=False)
        axes.legend(loc="upper left", ncols=len(table.columns), frameon=False, fontsize=8)
        return _svg(figure)


def ordered_events(events: Iterable[str], order: Iterable[str]) -> list[str]:
    """``events`` in ``order``, the ones ``order`` lacks after them alphabetically."""
    present = list(events)
    known = [event for event in order if event in present]
    return known + sorted(set(present) - set(known))


def curves_chart(records: list[dict[str, Any]]) -> str | None:
    """Loss and validation metrics against epoch (two panels), as inline SVG.

    Numbers at the top level of a record whose name contains ``loss`` go to the left panel,
    the other top-level numbers (but ``epoch`` and ``seconds``) and those of a nested
    ``valid`` dict to the right one. ``None`` when the records hold no numbers.
    """
    losses, metrics = _series(records)
    if not losses and not metrics:
        return None
    from matplotlib.figure import Figure

    panels = [
        (title, lines) for title, lines in (("loss", losses), ("validation", metrics)) if lines
    ]
    with _chart_style():
        figure = Figure(figsize=(4.2 * len(panels), 2.8), layout="constrained")
        for axes, (title, lines) in zip(
            figure.subplots(1, len(panels), squeeze=False)[0], panels, strict=True
        ):
            for name, (epochs, values) in lines.items():
                axes.plot(epochs, values, marker="o", markersize=3, linewidth=1.5, label=name)
            axes.set_title(title, loc="left", fontsize=9)
            axes.set_xlabel("epoch")
            axes.legend(frameon=False, fontsize=8)
        return _svg(figure)


def _series(
    records: list[dict[str, Any]],
) -> tuple[dict[str, tuple[list[float], list[float]]], dict[str, tuple[list[float], list[float]]]]:
    losses: dict[str, tuple[list[float], list[float]]] = {}
    metrics: dict[str, tuple[list[float], list[float]]] = {}
    for position, record in enumerate(records, start=1):
        epoch = record.get("epoch", position)
        if not _is_number(epoch):
            epoch = position
        values = {k: v for k, v in record.items() if k not in ("epoch", "seconds")}
        nested = record.get("valid")
        if isinstance(nested, Mapping):
            values.update(nested)
        for name, value in values.items():
            if not _is_number(value):
                continue
            group = losses if "loss" in name else metrics
            epochs, points = group.setdefault(name, ([], []))
            epochs.append(float(epoch))
            points.append(float(value))
    return losses, metrics


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class ChartCache:
    """One chart per owner object, redrawn at most every ``ttl_seconds`` (owners are held
    weakly: a chart goes with its owner)."""

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self._charts: weakref.WeakKeyDictionary[Any, tuple[float, str | None]] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def get(self, owner: Any, draw: Callable[[], str | None]) -> str | None:
        now = time.monotonic()
        with self._lock:
            cached = self._charts.get(owner)
        if cached is not None and now - cached[0] < self.ttl_seconds:
            return cached[1]
        chart = draw()
        with self._lock:
            self._charts[owner] = (now, chart)
        return chart


__all__ = [
    "EVENT_COLORS",
    "ChartCache",
    "curves_chart",
    "event_color",
    "events_chart",
    "ordered_events",
]
