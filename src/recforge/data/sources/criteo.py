"""Criteo display-advertising click logs (Criteo Labs, Kaggle Display Advertising Challenge 2014).

One impression per line: ``label`` (1 = clicked), ``I1``..``I13`` (integer features, mostly
counts; ``I2`` may be negative) and ``C1``..``C26`` (categorical features hashed to 32 bits,
written as 8 hex digits). An empty field is a missing value. Two layouts are read:

* the published files (``train.txt`` of the Kaggle challenge, 45,840,617 lines in time order,
  and the 1TB ``day_N`` logs): TAB-separated, no header;
* DeepCTR's ``criteo_sample.txt`` (the 200-row sample under ``$RECFORGE_DATA/criteo-sample``):
  CSV with the header ``label,I1,...,I13,C1,...,C26`` and integers written as floats (``260.0``).

The layout is recognised from the first line. Files may be gzip/bz2/xz-compressed. Big files
are parsed block by block (``chunk_bytes`` of text at a time) by pandas' C parser;
:func:`iter_criteo` yields the blocks, :func:`read_criteo` concatenates them, optionally with
the categorical columns as pandas ``category`` (a 45-million-row file needs that to fit in
memory: object strings cost ~60 bytes a cell). The Kaggle ``test.txt`` has no label column and
is refused (39 fields).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from recforge.core.errors import DataFormatError
from recforge.data.sources._common import open_text, reading, require_file

LABEL = "label"
INTEGER_COLUMNS = tuple(f"I{k}" for k in range(1, 14))
CATEGORICAL_COLUMNS = tuple(f"C{k}" for k in range(1, 27))
COLUMNS = (LABEL, *INTEGER_COLUMNS, *CATEGORICAL_COLUMNS)
"""The 40 columns in file order."""

_N_FIELDS = len(COLUMNS)


def read_criteo(
    path: str | Path,
    *,
    nrows: int | None = None,
    categorical: bool = False,
    chunk_bytes: int = 64 << 20,
) -> pd.DataFrame:
    """Read a Criteo-format file into typed columns.

    Args:
        path: the file (TAB without header, or DeepCTR's CSV with header; may be compressed).
        nrows: read at most this many data rows.
        categorical: give ``C1``..``C26`` pandas ``category`` dtype (missing = NaN) instead of
            object strings with ``None`` for missing.
        chunk_bytes: text parsed per block.

    Returns:
        A frame with columns :data:`COLUMNS`: ``label`` int8 (0/1), ``I1``..``I13`` float64
        (NaN = missing), ``C1``..``C26`` str with ``None`` (or category).

    Raises:
        DatasetNotFoundError: the file is missing.
        DataFormatError: a line with a field count other than 40, a label that is not 0/1, a
            non-integer in an ``I`` column, a blank line inside the file, or a corrupt
            compressed file; the message names the file and the 1-based line.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "train.txt"
        >>> _ = path.write_text("1\\t" + "\\t".join(["5"] + [""] * 12) + "\\t"
        ...                     + "\\t".join(["68fd1e64"] + [""] * 25) + "\\n")
        >>> row = read_criteo(path).iloc[0]
        >>> int(row["label"]), float(row["I1"]), bool(np.isnan(row["I2"])), row["C1"], row["C2"]
        (1, 5.0, True, '68fd1e64', None)
    """
    parts = list(iter_criteo(path, nrows=nrows, categorical=categorical, chunk_bytes=chunk_bytes))
    if not parts:
        return _typed(pd.DataFrame({name: pd.Series([], dtype=object) for name in COLUMNS}))
    if len(parts) == 1:
        return parts[0]
    if not categorical:
        return pd.concat(parts, ignore_index=True)
    columns = {
        name: (
            union_categoricals([part[name] for part in parts])
            if name in CATEGORICAL_COLUMNS
            else np.concatenate([part[name].to_numpy() for part in parts])
        )
        for name in COLUMNS
    }
    return pd.DataFrame(columns)


def iter_criteo(
    path: str | Path,
    *,
    nrows: int | None = None,
    categorical: bool = False,
    chunk_bytes: int = 64 << 20,
) -> Iterator[pd.DataFrame]:
    """Yield a Criteo-format file as typed frames of about ``chunk_bytes`` of text each.

    Same arguments, column types and errors as :func:`read_criteo`; the frames' indices are
    the 0-based positions of their rows in the file.
    """
    path = Path(path)
    require_file(path)
    if nrows is not None and nrows < 0:
        raise ValueError(f"nrows must be >= 0, got {nrows}")
    with reading(path), open_text(path) as handle:
        first = handle.readline()
        sep, has_header = _layout(path, first)
        pending = [] if has_header else [first]
        line_number = 2 if has_header else 1  # of the next line to parse
        blank: int | None = None  # first blank line seen: an error if data follows it
        n_rows = 0
        while nrows is None or n_rows < nrows:
            lines = pending + handle.readlines(chunk_bytes)
            pending = []
            if not lines:
                break
            numbers = np.arange(line_number, line_number + len(lines))
            line_number += len(lines)
            filled = np.array([line not in ("\n", "") for line in lines], dtype=bool)
            if filled.any() and blank is not None:
                raise DataFormatError(path, "blank line", blank)
            if not filled.all():
                empty = numbers[~filled]
                after = empty < numbers[filled].max() if filled.any() else np.zeros(0, bool)
                if after.any():
                    raise DataFormatError(path, "blank line", int(empty[after][0]))
                blank = blank or int(empty[0])
                lines = [line for line, keep in zip(lines, filled, strict=True) if keep]
                numbers = numbers[filled]
            if nrows is not None:
                lines, numbers = lines[: nrows - n_rows], numbers[: nrows - n_rows]
            if not lines:
                continue
            frame = _parse_block(path, lines, numbers, sep, categorical)
            frame.index = pd.RangeIndex(n_rows, n_rows + len(frame))
            n_rows += len(frame)
            yield frame


def _layout(path: Path, first: str) -> tuple[str, bool]:
    """(separator, has header) from the first line of the file."""
    if first.startswith(f"{LABEL},"):
        names = first.strip().split(",")
        if names != list(COLUMNS):
            raise DataFormatError(
                path, f"expected header {','.join(COLUMNS)!r}, found {first.strip()[:200]!r}", 1
            )
        return ",", True
    return "\t", False


def _parse_block(
    path: Path, lines: list[str], numbers: np.ndarray, sep: str, categorical: bool
) -> pd.DataFrame:
    """Parse non-blank ``lines`` (1-based file line ``numbers``) into typed columns."""
    n_fields = np.array([line.count(sep) + 1 for line in lines])
    wrong = n_fields != _N_FIELDS
    if wrong.any():
        row = int(np.flatnonzero(wrong)[0])
        raise DataFormatError(
            path, f"expected {_N_FIELDS} fields, found {n_fields[row]}", int(numbers[row])
        )
    options: dict[str, Any] = {
        "sep": sep,
        "header": None,
        "names": list(COLUMNS),
        "keep_default_na": False,
        "na_values": [""],
        "quoting": 3,  # csv.QUOTE_NONE: the format has no quoted fields
        "engine": "c",
    }
    text = "".join(lines)
    dtypes: dict[str, Any] = {LABEL: str, **dict.fromkeys(CATEGORICAL_COLUMNS, str)}
    try:
        raw = pd.read_csv(
            io.StringIO(text),
            dtype={**dtypes, **dict.fromkeys(INTEGER_COLUMNS, np.float64)},
            **options,
        )
    except ValueError:  # a value that is not a number: find it below, as text
        raw = pd.read_csv(io.StringIO(text), dtype=str, **options)
    return _typed(raw, path, numbers, categorical)


def _typed(
    raw: pd.DataFrame,
    path: Path | None = None,
    numbers: np.ndarray | None = None,
    categorical: bool = False,
) -> pd.DataFrame:
    """Check the values of a block read as text/float and give every column its type."""
    problems: list[tuple[int, str]] = []  # (row, message)
    label = pd.to_numeric(raw[LABEL], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isin(label, (0.0, 1.0))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        problems.append((row, f"label is {_shown(raw[LABEL].iloc[row])}, not 0 or 1"))
    columns: dict[str, object] = {LABEL: np.where(bad, 0, label).astype(np.int8)}
    for name in INTEGER_COLUMNS:
        column = raw[name]
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
        missing = np.asarray(column.isna(), dtype=bool)
        with np.errstate(invalid="ignore"):
            bad = ~missing & ~(np.isfinite(values) & (values == np.round(values)))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            problems.append((row, f"'{name}' is not an integer: {_shown(column.iloc[row])}"))
        columns[name] = values
    for name in CATEGORICAL_COLUMNS:
        column = raw[name]
        if categorical:
            columns[name] = column.astype("category")
        else:
            cells = column.to_numpy(dtype=object)
            cells[np.asarray(column.isna(), dtype=bool)] = None
            columns[name] = cells
    if problems:
        row, message = min(problems)
        line = int(numbers[row]) if numbers is not None else None
        raise DataFormatError(path or "<criteo>", message, line)
    return pd.DataFrame(columns)


def _shown(value: Any) -> str:
    return "missing" if pd.isna(value) else repr(str(value))
