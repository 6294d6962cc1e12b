"""Read any CSV/TSV/Parquet interaction log given a column mapping.

The mapping goes from canonical name to the file's column name::

    read_table("clicks.csv.gz", {"user_id": "visitor", "item_id": "sku", "timestamp": "ts"},
               event="click")

``user_id`` and ``item_id`` are required; ``event``, ``value`` and ``timestamp`` are optional
(a constant ``event``/``value`` may be passed instead). Timestamps may be unix numbers (unit
given by ``timestamp_unit``) or date/time strings (ISO 8601 and the like; naive times are taken
as UTC). Id columns of text files keep their text unless every id is a plain integer, in which
case they become int64 (so ``"007"`` stays a string and ``"7"`` becomes 7).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from recforge.core.errors import ConfigError, DataFormatError
from recforge.data.sources._common import reading, require_file
from recforge.data.tables import INTERACTION_COLUMNS, Tables, make_interactions

_PLAIN_INTEGER = r"-?(?:0|[1-9][0-9]{0,17})"
_UNIT_DIVISOR = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def read_table(
    path: str | Path,
    columns: Mapping[str, str],
    *,
    sep: str | None = None,
    event: str | None = None,
    value: float | None = None,
    timestamp_unit: Literal["s", "ms", "us", "ns"] = "s",
    names: Sequence[str] | None = None,
    encoding: str = "utf-8",
    name: str | None = None,
) -> Tables:
    """Read an interaction log from CSV/TSV (optionally compressed) or Parquet.

    Args:
        path: the file. The format comes from the suffix (``.csv``, ``.tsv``/``.tab``,
            ``.parquet``/``.pq``, each optionally ``.gz``/``.bz2``/``.xz``/``.zip``); other
            text files need ``sep``.
        columns: canonical name (``user_id``, ``item_id``, ``event``, ``value``,
            ``timestamp``) -> the file's column name.
        sep: field separator of a text file; overrides the suffix.
        event: the event name of every row when no ``event`` column is mapped; default
            ``"rating"`` when a ``value`` column is mapped, else ``"interaction"``.
        value: the value of every row when no ``value`` column is mapped; default 1.0.
        timestamp_unit: unit of numeric timestamps; converted to seconds (floored).
        names: column names of a text file without a header line.
        encoding: text encoding.
        name: the tables' name; defaults to the file name without suffixes.

    Returns:
        :class:`~recforge.data.tables.Tables` with only ``interactions`` set.

    Raises:
        ConfigError: an unknown canonical name, a missing ``user_id``/``item_id`` mapping, or
            a constant given for a mapped column.
        DataFormatError: a mapped column is not in the file (lists the file's columns); a
            missing id/event, a non-numeric value or an unreadable timestamp (names the line,
            or the row for Parquet).

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
        >>> _ = path.write_text("who,what,when\\nu1,7,2024-01-01T00:00:10Z\\nu2,8,\\n")
        >>> tables = read_table(path, {"user_id": "who", "item_id": "what",
        ...                            "timestamp": "when"}, event="click")
        >>> tables.interactions.values.tolist()
        [['u1', 7, 'click', 1.0, 1704067210], ['u2', 8, 'click', 1.0, <NA>]]
    """
    path = Path(path)
    require_file(path)
    _check_mapping(columns, event=event, value=value)
    frame, first_line = _read_frame(path, columns, sep=sep, names=names, encoding=encoding)

    def locate(row: int) -> dict[str, Any]:
        if first_line is None:
            return {"message_prefix": f"row {row + 1}: ", "line": None}
        return {"message_prefix": "", "line": row + first_line}

    def fail(row: int, message: str) -> DataFormatError:
        where = locate(row)
        return DataFormatError(path, where["message_prefix"] + message, line=where["line"])

    for canonical in ("user_id", "item_id", "event"):
        if canonical in columns:
            missing = frame[columns[canonical]].isna().to_numpy()
            if missing.any():
                row = int(np.flatnonzero(missing)[0])
                raise fail(row, f"missing {canonical} (column '{columns[canonical]}')")
    user_ids = _ids(frame[columns["user_id"]])
    item_ids = _ids(frame[columns["item_id"]])
    if "event" in columns:
        events: Any = frame[columns["event"]].astype(str).to_numpy(dtype=object)
    else:
        events = event or ("rating" if "value" in columns else "interaction")
    values: Any = 1.0 if value is None else float(value)
    if "value" in columns:
        raw = frame[columns["value"]]
        numbers = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(numbers)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise fail(
                row, f"value (column '{columns['value']}') is not a number: {raw.iloc[row]!r}"
            )
        values = numbers
    timestamps = None
    if "timestamp" in columns:
        seconds, bad_row = _to_unix_seconds(frame[columns["timestamp"]], timestamp_unit)
        if bad_row is not None:
            raw_time = frame[columns["timestamp"]].iloc[bad_row]
            raise fail(
                bad_row, f"timestamp (column '{columns['timestamp']}') unreadable: {raw_time!r}"
            )
        timestamps = seconds
    interactions = make_interactions(
        user_ids, item_ids, event=events, value=values, timestamp=timestamps, source=str(path)
    )
    return Tables(interactions=interactions, name=name or _stem(path))


def _check_mapping(columns: Mapping[str, str], *, event: str | None, value: float | None) -> None:
    for key in columns:
        if key not in INTERACTION_COLUMNS:
            raise ConfigError(
                f"columns.{key}",
                f"unknown canonical column; known: {', '.join(INTERACTION_COLUMNS)}",
            )
    for key in ("user_id", "item_id"):
        if key not in columns:
            raise ConfigError(f"columns.{key}", "required: name the file's column for it")
    if event is not None and "event" in columns:
        raise ConfigError("event", "a constant event was given but an event column is mapped")
    if value is not None and "value" in columns:
        raise ConfigError("value", "a constant value was given but a value column is mapped")


def _format(path: Path, sep: str | None) -> tuple[str, str | None]:
    """('parquet', None) or ('text', separator)."""
    suffixes = [s.lower() for s in path.suffixes]
    while suffixes and suffixes[-1] in (".gz", ".bz2", ".xz", ".zip", ".zst"):
        suffixes.pop()
    kind = suffixes[-1] if suffixes else ""
    if kind in (".parquet", ".pq"):
        return "parquet", None
    if sep is not None:
        return "text", sep
    if kind == ".csv":
        return "text", ","
    if kind in (".tsv", ".tab"):
        return "text", "\t"
    raise DataFormatError(path, f"cannot tell the format from suffix {kind!r}: pass sep=")


def _read_frame(
    path: Path,
    columns: Mapping[str, str],
    *,
    sep: str | None,
    names: Sequence[str] | None,
    encoding: str,
) -> tuple[pd.DataFrame, int | None]:
    """The mapped columns as read, and the line of the first data row (None for Parquet)."""
    kind, separator = _format(path, sep)
    wanted = list(dict.fromkeys(columns.values()))
    if kind == "parquet":
        import pyarrow.parquet as pq  # optional dependency: only Parquet needs it

        available = list(pq.read_schema(path).names)
        _check_columns(path, wanted, available)
        return pd.read_parquet(path, columns=wanted), None
    options: dict[str, Any] = {
        "sep": separator,
        "encoding": encoding,
        "skip_blank_lines": False,
        "engine": "c" if separator is not None and len(separator) == 1 else "python",
    }
    if names is not None:
        options.update(header=None, names=list(names))
    try:
        with reading(path):
            available = list(pd.read_csv(path, nrows=0, **options).columns)
            _check_columns(path, wanted, available)
            frame = pd.read_csv(path, usecols=wanted, dtype=str, **options)
    except pd.errors.ParserError as error:
        raise DataFormatError(path, f"cannot parse: {error}") from error
    except pd.errors.EmptyDataError as error:
        raise DataFormatError(path, "file is empty") from error
    while len(frame) and frame.iloc[-1].isna().all():  # blank trailing lines
        frame = frame.iloc[:-1]
    return frame, 1 if names is not None else 2


def _check_columns(path: Path, wanted: Sequence[str], available: Sequence[str]) -> None:
    unknown = [column for column in wanted if column not in available]
    if unknown:
        raise DataFormatError(
            path, f"no column(s) {unknown} in the file; its columns are {list(available)}"
        )


def _ids(column: pd.Series) -> np.ndarray:
    """Text ids become int64 when every one is a plain integer; typed columns stay as they are."""
    if column.dtype != object and not pd.api.types.is_string_dtype(column):
        return column.to_numpy()
    text = column.astype(str)
    if len(text) and text.str.fullmatch(_PLAIN_INTEGER).all():
        return text.astype(np.int64).to_numpy()
    return text.to_numpy(dtype=object)


def _to_unix_seconds(column: pd.Series, unit: str) -> tuple[np.ndarray, int | None]:
    """Seconds (object array with ``pd.NA`` where missing) and the first unreadable row."""
    present = column.notna().to_numpy()
    if pd.api.types.is_datetime64_any_dtype(column):
        return _seconds_from_datetimes(pd.to_datetime(column, utc=True)), None
    numbers = pd.to_numeric(column, errors="coerce")
    if numbers[present].notna().all():
        seconds = np.floor(numbers.to_numpy(dtype=np.float64) / _UNIT_DIVISOR[unit])
        return _with_missing(np.where(present, seconds, 0).astype(np.int64), present), None
    stamps = pd.to_datetime(column, utc=True, errors="coerce", format="mixed")
    bad = present & stamps.isna().to_numpy()
    if bad.any():
        return np.empty(0, dtype=np.int64), int(np.flatnonzero(bad)[0])
    return _seconds_from_datetimes(stamps), None


def _seconds_from_datetimes(stamps: pd.Series) -> np.ndarray:
    present = stamps.notna().to_numpy()
    seconds = np.zeros(len(stamps), dtype=np.int64)
    if present.any():
        naive_utc = stamps[present].dt.tz_convert("UTC").dt.tz_localize(None)
        seconds[present] = naive_utc.astype("datetime64[s]").astype(np.int64).to_numpy()
    return _with_missing(seconds, present)


def _with_missing(seconds: np.ndarray, present: np.ndarray) -> np.ndarray:
    """int64 seconds as they are when none is missing, else an object array with ``pd.NA``."""
    if present.all():
        return seconds
    values = seconds.astype(object)
    values[~present] = pd.NA
    return values


def _stem(path: Path) -> str:
    name = path.name
    for suffix in reversed(path.suffixes):
        name = name.removesuffix(suffix)
    return name
