"""Reports: comparison tables of metrics and plots of training curves.

Plots use matplotlib's object API with the Agg canvas, so nothing needs a display and no
global pyplot state is touched.
"""

from __future__ import annotations

import json
import logging
import math
import numbers
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from recforge.core.errors import DataFormatError

__all__ = ["plot_training_curves", "read_training_log", "results_table"]

logger = logging.getLogger(__name__)

#: columns where a smaller value is better (bolded as best in tables)
LOWER_IS_BETTER = frozenset({"loss", "logloss", "rmse", "mae", "fit s", "seconds"})


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def results_table(
    rows: Mapping[str, Mapping[str, float]],
    columns: Sequence[str] | None = None,
    *,
    fmt: Literal["markdown", "json"] = "markdown",
    digits: int = 4,
    lower_is_better: Collection[str] = LOWER_IS_BETTER,
) -> str:
    """One row per model, one column per metric.

    In markdown the best value of each column is bold (the largest, or the smallest for
    columns in ``lower_is_better``); values that tie after rounding are all bold. A missing or
    non-finite value shows as ``n/a`` in markdown and ``null`` in JSON.

    Args:
        rows: ``{model name: {metric name: value}}``; row order is kept.
        columns: metrics to show, in order; default: every metric in order of first appearance.
        fmt: ``"markdown"`` (a GitHub table) or ``"json"`` (``{model: {metric: value}}``
            rounded to ``digits``).
        digits: decimals shown.
        lower_is_better: column names where smaller is better.

    Returns:
        The table text.

    Example:
        >>> rows = {"pop": {"hr@10": 0.4, "logloss": 0.6}, "mf": {"hr@10": 0.61234}}
        >>> print(results_table(rows, ["hr@10", "logloss"], digits=3))
        | model | hr@10 | logloss |
        |---|---:|---:|
        | pop | 0.400 | **0.600** |
        | mf | **0.612** | n/a |
        >>> results_table(rows, ["hr@10"], fmt="json", digits=2)
        '{"pop": {"hr@10": 0.4}, "mf": {"hr@10": 0.61}}'
    """
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 0:
        raise ValueError(f"digits must be a non-negative integer, got {digits!r}")
    if columns is None:
        columns = list(dict.fromkeys(name for metrics in rows.values() for name in metrics))
    rounded = {
        model: {
            column: round(float(metrics[column]), digits)
            if _is_number(metrics.get(column))
            else None
            for column in columns
        }
        for model, metrics in rows.items()
    }
    if fmt == "json":
        return json.dumps(rounded)
    if fmt != "markdown":
        raise ValueError(f"fmt must be 'markdown' or 'json', got {fmt!r}")

    best: dict[str, float] = {}
    for column in columns:
        present = [value for values in rounded.values() if (value := values[column]) is not None]
        if present:
            best[column] = min(present) if column in lower_is_better else max(present)

    def cell(column: str, value: float | None) -> str:
        if value is None:
            return "n/a"
        text = f"{value:.{digits}f}"
        return f"**{text}**" if value == best.get(column) else text

    def escape(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [
        "| model | " + " | ".join(escape(column) for column in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for model, values in rounded.items():
        cells = [cell(column, values[column]) for column in columns]
        lines.append(f"| {escape(model)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def read_training_log(log_path_or_records: str | Path | Iterable[Mapping[str, Any]]) -> list[dict]:
    """Epoch records of a JSON-lines training log (blank lines skipped).

    Each record is an object with a numeric ``"epoch"`` and optionally ``"loss"`` (number),
    ``"valid"`` (``{metric: number}``) and ``"seconds"``.

    Args:
        log_path_or_records: a JSON-lines file, or the records themselves.

    Returns:
        The records, in file order.

    Raises:
        DataFormatError: a line is not JSON or a record lacks a numeric ``epoch`` (names the
            file and line; ``<records>`` when records were passed in).

    Example:
        >>> read_training_log([{"epoch": 1, "loss": 0.5}])
        [{'epoch': 1, 'loss': 0.5}]
    """
    if isinstance(log_path_or_records, str | Path):
        source = str(log_path_or_records)
        numbered: list[tuple[int, Any]] = []
        with open(log_path_or_records, encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    numbered.append((line_number, json.loads(line)))
                except json.JSONDecodeError as error:
                    raise DataFormatError(source, f"not JSON: {error.msg}", line_number) from None
    else:
        source = "<records>"
        numbered = list(enumerate(log_path_or_records, start=1))

    records = []
    for line_number, record in numbered:
        if not isinstance(record, Mapping):
            raise DataFormatError(source, "a record must be a JSON object", line_number)
        if not _is_number(record.get("epoch")):
            raise DataFormatError(source, "record has no numeric 'epoch'", line_number)
        valid = record.get("valid", {})
        if not isinstance(valid, Mapping):
            raise DataFormatError(source, "'valid' must be an object of metrics", line_number)
        records.append(dict(record))
    if not records:
        raise DataFormatError(source, "training log holds no records")
    return records


def plot_training_curves(
    log_path_or_records: str | Path | Iterable[Mapping[str, Any]], out_png: str | Path
) -> Path:
    """Draw training loss and validation metrics against epoch into a PNG.

    Left panel: ``loss`` per epoch. Right panel (when any record has ``valid``): one line per
    validation metric. Records missing a value leave a gap in that line only.

    Args:
        log_path_or_records: a JSON-lines training log (see :func:`read_training_log`) or its
            records.
        out_png: where to write the figure; parent folders must exist.

    Returns:
        The path written.

    Example:
        >>> import tempfile
        >>> records = [{"epoch": 1, "loss": 0.7, "valid": {"hr@10": 0.4}},
        ...            {"epoch": 2, "loss": 0.5, "valid": {"hr@10": 0.5}}]
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     out = plot_training_curves(records, Path(folder) / "curves.png")
        ...     out.read_bytes()[:4]
        b'\\x89PNG'
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    records = read_training_log(log_path_or_records)
    metric_names = list(
        dict.fromkeys(name for record in records for name in record.get("valid", {}))
    )
    n_panels = 2 if metric_names else 1
    figure = Figure(figsize=(5.5 * n_panels, 4.0), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, n_panels, squeeze=False)[0]

    def series(values: Iterable[tuple[Any, Any]]) -> tuple[list[float], list[float]]:
        pairs = [(float(epoch), float(value)) for epoch, value in values if _is_number(value)]
        return [epoch for epoch, _ in pairs], [value for _, value in pairs]

    epochs, losses = series((record["epoch"], record.get("loss")) for record in records)
    axes[0].plot(epochs, losses, marker="o", label="train loss")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("loss")
    axes[0].set_title("training loss")
    axes[0].grid(alpha=0.3)
    if metric_names:
        for name in metric_names:
            x, y = series(
                (record["epoch"], record.get("valid", {}).get(name)) for record in records
            )
            axes[1].plot(x, y, marker="o", label=name)
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("metric")
        axes[1].set_title("validation")
        axes[1].legend()
        axes[1].grid(alpha=0.3)
    seconds = [float(record["seconds"]) for record in records if _is_number(record.get("seconds"))]
    if seconds:
        figure.suptitle(f"{len(records)} epochs, {sum(seconds):.1f} s")
    out = Path(out_png)
    figure.savefig(out, format="png", dpi=100)
    logger.info("wrote training curves to %s", out)
    return out
