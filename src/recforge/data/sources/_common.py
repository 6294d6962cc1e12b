"""Parsing helpers shared by the dataset readers (private to ``recforge.data.sources``).

The big rating files are read by pandas' C parser with explicit dtypes (the fast path). Only
when that fails, or leaves a hole, does :func:`read_delimited` re-read the file as text to find
the first bad line and name it in a :class:`~recforge.core.errors.DataFormatError`, so a good
file costs one C-speed pass and a bad one gets a precise, one-line error.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from recforge.core.errors import DataFormatError, DatasetNotFoundError

FieldKind = Literal["int", "float", "str"]

_C_ERROR = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_FAST_DTYPES: dict[str, Any] = {"int": "int64", "float": "float64", "str": str}
_COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz")


@dataclass(frozen=True)
class Field:
    """One column of a delimited file without header names we can trust.

    Args:
        name: the name the column gets in the returned frame.
        kind: ``int`` (int64), ``float`` (float64, finite) or ``str``.
        required: trailing fields may be optional: a file has them on every line or on none.
    """

    name: str
    kind: FieldKind
    required: bool = True


@contextmanager
def reading(path: str | Path) -> Iterator[None]:
    """Turn decompression and decoding failures while reading ``path`` into DataFormatError."""
    try:
        yield
    except (EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError) as error:
        raise DataFormatError(path, f"truncated or corrupt compressed file ({error})") from error
    except UnicodeDecodeError as error:
        raise DataFormatError(
            path, f"not valid {error.encoding} text at byte {error.start} of a block"
        ) from error
    except OSError as error:
        if isinstance(error, FileNotFoundError):
            raise
        if "bz2" in str(error).lower() or "invalid data stream" in str(error).lower():
            raise DataFormatError(path, f"corrupt compressed file ({error})") from error
        raise


def require_file(path: Path, what: str = "file") -> Path:
    """Return ``path`` if it is a file, else raise DatasetNotFoundError naming it."""
    if not path.is_file():
        raise DatasetNotFoundError(f"{what} {path} not found")
    return path


def find_file(directory: Path, *names: str) -> Path | None:
    """The first of ``names`` (each also tried with ``.gz``) that exists in ``directory``."""
    for name in names:
        for candidate in (directory / name, directory / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def open_text(path: str | Path, encoding: str = "utf-8") -> io.TextIOBase:
    """Open a text file for reading, decompressing ``.gz``/``.bz2``/``.xz`` by suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    openers: dict[str, Callable[..., Any]] = {
        ".gz": gzip.open,
        ".bz2": bz2.open,
        ".xz": lzma.open,
    }
    binary = openers.get(suffix, open)(path, "rb")
    return io.TextIOWrapper(binary, encoding=encoding, newline=None)


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """The whole (decompressed) text of ``path``; bad bytes or gzip become DataFormatError."""
    with reading(path), open_text(path, encoding) as handle:
        return str(handle.read())


def decode_with_fallback(path: Path) -> str:
    """Text of ``path`` as UTF-8, or as ISO-8859-1 when it is not valid UTF-8.

    Older GroupLens files (ML-100K ``u.item``, ML-1M ``movies.dat``) are ISO-8859-1; newer ones
    are UTF-8. A real ISO-8859-1 title is practically never valid UTF-8, so trying UTF-8 first
    reads both correctly.
    """
    try:
        return read_text(path, "utf-8")
    except DataFormatError as error:
        if not isinstance(error.__cause__, UnicodeDecodeError):
            raise
        return read_text(path, "latin-1")


def split_lines(path: Path, text: str, sep: str, n_fields: int) -> list[list[str]]:
    """Split small metadata files into exactly ``n_fields`` fields per line.

    Only for files of a few thousand lines (movie lists, user lists); rating files go through
    :func:`read_delimited`. Blank trailing lines are ignored; any other blank line or wrong field
    count raises DataFormatError with the 1-based line number.
    """
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    rows = []
    for line_number, line in enumerate(lines, start=1):
        parts = line.rstrip("\r").split(sep)
        if len(parts) != n_fields:
            raise DataFormatError(
                path,
                f"expected {n_fields} {sep!r}-separated fields, found {len(parts)}",
                line_number,
            )
        rows.append(parts)
    return rows


def _csv_options(sep: str) -> tuple[str, int]:
    """The separator pandas' C parser gets and the stride between real fields.

    ``::`` (MovieLens 1M/10M) is not a one-character separator, which the C parser needs, so
    the file is read with ``:`` and every second column, always empty, is dropped.
    """
    if sep == "::":
        return ":", 2
    if len(sep) != 1:
        raise ValueError(f"unsupported separator {sep!r}")
    return sep, 1


def read_delimited(
    path: str | Path,
    fields: Sequence[Field],
    *,
    sep: str,
    header: Sequence[str] | None = None,
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """Read a delimited text file (optionally compressed) into typed columns, fast and strictly.

    Args:
        path: the file; ``.gz``/``.bz2``/``.xz`` are decompressed on the fly.
        fields: the columns in file order.
        sep: a one-character separator, or ``::``.
        header: the exact header line's names when the file has one, else ``None``.
        encoding: text encoding of the file.

    Returns:
        A frame with one column per field present in the file (optional trailing fields absent
        from the file are left out), int64/float64/object dtypes.

    Raises:
        DataFormatError: a line has the wrong number of fields, a missing or non-numeric value
            (with its 1-based line number), or the file is truncated/corrupt/mis-encoded.
    """
    path = Path(path)
    require_file(path)
    c_sep, stride = _csv_options(sep)
    n_header = 0
    if header is not None:
        _check_header(path, header, c_sep, encoding)
        n_header = 1
    options: dict[str, Any] = {
        "sep": c_sep,
        "header": None,
        "skiprows": n_header,
        "skip_blank_lines": False,
        "encoding": encoding,
        "quoting": 3,  # csv.QUOTE_NONE: these files carry no quoted fields
        "engine": "c",
    }
    fast_dtypes = {i * stride: _FAST_DTYPES[f.kind] for i, f in enumerate(fields)}
    frame: pd.DataFrame | None
    try:
        with reading(path):
            frame = pd.read_csv(path, dtype=fast_dtypes, **options)
    except pd.errors.EmptyDataError:
        return pd.DataFrame(
            {f.name: pd.Series([], dtype=_FAST_DTYPES[f.kind]) for f in fields if f.required}
        )
    except pd.errors.ParserError as error:
        raise _parser_error(path, error, fields, stride, n_header) from error
    except (ValueError, OverflowError):
        frame = None  # a value the fast dtypes refuse: find it below
    if frame is not None:
        frame = _drop_trailing_blank_rows(frame)
        result = _fast_result(frame, fields, stride)
        if result is not None:
            return result
    return _diagnose(path, fields, stride, n_header, options)


def _check_header(path: Path, expected: Sequence[str], sep: str, encoding: str) -> None:
    with reading(path), open_text(path, encoding) as handle:
        first = handle.readline().rstrip("\r\n")
    found = [name.strip().strip('"') for name in first.split(sep)]
    if found[: len(expected)] != list(expected):
        raise DataFormatError(
            path, f"expected header {sep.join(expected)!r}, found {first[:200]!r}", line=1
        )


def _parser_error(
    path: Path, error: Exception, fields: Sequence[Field], stride: int, n_header: int
) -> DataFormatError:
    match = _C_ERROR.search(str(error))
    if match is None:
        return DataFormatError(path, f"cannot parse: {error}")
    expected, line, seen = (int(g) for g in match.groups())
    n_required = sum(f.required for f in fields)
    to_fields = (lambda n: (n + 1) // 2) if stride == 2 else (lambda n: n)
    if to_fields(expected) < n_required:
        # the first data line was the short one; pandas then blames a later, correct line
        return DataFormatError(
            path,
            f"expected {n_required} fields, found {to_fields(expected)}",
            line=n_header + 1,
        )
    return DataFormatError(
        path, f"expected {to_fields(expected)} fields, found {to_fields(seen)}", line=line
    )


def _drop_trailing_blank_rows(frame: pd.DataFrame) -> pd.DataFrame:
    if len(frame) == 0:
        return frame
    last = len(frame)
    # all-empty rows at the very end come from blank trailing lines: harmless
    while last > 0 and frame.iloc[last - 1].isna().all():
        last -= 1
    return frame.iloc[:last] if last < len(frame) else frame


def _fast_result(frame: pd.DataFrame, fields: Sequence[Field], stride: int) -> pd.DataFrame | None:
    """Columns of a fast-path read, or ``None`` when anything needs a closer look."""
    n_file_fields = (frame.shape[1] + 1) // stride if stride == 2 else frame.shape[1]
    n_required = sum(f.required for f in fields)
    if not n_required <= n_file_fields <= len(fields):
        return None
    if stride == 2 and not frame.iloc[:, 1::2].isna().all().all():
        return None
    columns: dict[str, Any] = {}
    for i, spec in enumerate(fields[:n_file_fields]):
        column = frame.iloc[:, i * stride]
        if spec.kind == "int" and column.dtype != np.int64:
            return None
        if spec.kind == "float":
            values = column.to_numpy(dtype=np.float64)
            if not np.isfinite(values).all():
                return None
        if spec.kind == "str" and column.isna().any():
            return None
        columns[spec.name] = column.to_numpy()
    return pd.DataFrame(columns)


def _diagnose(
    path: Path,
    fields: Sequence[Field],
    stride: int,
    n_header: int,
    options: dict[str, Any],
) -> pd.DataFrame:
    """Re-read ``path`` with inferred dtypes, raise on its first bad line, or return the columns.

    Columns that parse as numbers come back numeric; only a column holding a bad value comes
    back as text, so this costs little more than the fast path.
    """
    text_columns = {i * stride: str for i, f in enumerate(fields) if f.kind == "str"}
    try:
        with reading(path):
            raw = pd.read_csv(
                path,
                dtype=text_columns,
                keep_default_na=False,
                na_values=[""],
                low_memory=False,
                **options,
            )
    except pd.errors.ParserError as error:
        raise _parser_error(path, error, fields, stride, n_header) from error
    raw = _drop_trailing_blank_rows(raw)
    n_columns = raw.shape[1]
    n_file_fields = (n_columns + 1) // 2 if stride == 2 else n_columns
    n_required = sum(f.required for f in fields)
    problems: list[tuple[float, str]] = []  # (row, message)
    if n_file_fields > len(fields):
        extra = raw.iloc[:, len(fields) * stride :].notna().any(axis=1).to_numpy()
        row = int(np.flatnonzero(extra)[0]) if extra.any() else 0
        found = int(raw.iloc[row, ::stride].notna().sum())
        problems.append((row, f"expected {len(fields)} fields, found {found}"))
    elif n_file_fields < n_required:
        problems.append((0, f"expected {n_required} fields, found {n_file_fields}"))
    if stride == 2:
        fillers = raw.iloc[:, 1::2].notna().any(axis=1).to_numpy()
        if fillers.any():
            # reported before what the stray ':' did to the fields of the same line
            problems.append((int(np.flatnonzero(fillers)[0]) - 0.5, "malformed '::' separator"))
    columns: dict[str, Any] = {}
    for i, spec in enumerate(fields[: min(n_file_fields, len(fields))]):
        column = raw.iloc[:, i * stride]
        missing = column.isna().to_numpy()
        if missing.any():
            row = int(np.flatnonzero(missing)[0])
            present = raw.iloc[row, ::stride].notna().to_numpy()
            # nothing after the first hole: the line is short (truncated), not a blank field
            short = not present[i:].any()
            message = (
                f"expected {min(n_file_fields, len(fields))} fields, found {i}"
                if short
                else f"missing field '{spec.name}'"
            )
            problems.append((row, message))
        if spec.kind == "str":
            columns[spec.name] = column.to_numpy(dtype=object)
            continue
        numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(numbers) & ~missing
        if spec.kind == "int":
            bad |= np.isfinite(numbers) & (numbers != np.round(numbers))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            noun = "an integer" if spec.kind == "int" else "a finite number"
            problems.append((row, f"'{spec.name}' is not {noun}: {column.iloc[row]!r}"))
        if spec.kind == "int" and column.dtype == np.int64:
            columns[spec.name] = column.to_numpy()
        elif spec.kind == "int":
            columns[spec.name] = np.nan_to_num(numbers).astype(np.int64)
        else:
            columns[spec.name] = numbers
    if problems:
        row_key, message = min(problems)
        raise DataFormatError(path, message, line=int(np.ceil(row_key)) + 1 + n_header)
    return pd.DataFrame(columns)


def read_json_records(
    path: str | Path,
    columns: Sequence[str],
    required: Sequence[str],
    *,
    numeric: Sequence[str] = (),
    chunksize: int = 200_000,
    parse: Callable[[str], Any] = json.loads,
) -> pd.DataFrame:
    """Read the given keys of a JSON-lines file (optionally compressed) into a frame.

    Uses ``pd.read_json(lines=True, chunksize=...)`` and keeps only ``columns`` per chunk, so
    review texts are dropped as they are read. Keys in ``required`` must be present and non-null
    on every line, keys in ``numeric`` must hold numbers (or numeric strings); those columns come
    back as float64. On any problem the file is scanned line by line to name the first bad line.
    """
    path = Path(path)
    require_file(path)
    parts: list[pd.DataFrame] = []
    try:
        with (
            reading(path),
            pd.read_json(
                path,
                lines=True,
                chunksize=chunksize,
                dtype=False,
                convert_dates=False,
                keep_default_dates=False,
                compression="infer",
                encoding="utf-8",
            ) as chunks,
        ):
            for chunk in chunks:
                part = chunk.reindex(columns=list(columns))
                if part[list(required)].isna().to_numpy().any():
                    raise ValueError("missing required key")
                for key in numeric:
                    values = pd.to_numeric(part[key], errors="coerce").astype(np.float64)
                    if not np.isfinite(values.to_numpy()).all():
                        raise ValueError(f"non-numeric {key}")
                    part[key] = values
                parts.append(part)
    except DataFormatError:
        raise
    except (ValueError, TypeError) as error:
        _raise_first_bad_json_line(path, required, numeric, parse)
        raise DataFormatError(path, f"cannot parse JSON lines: {error}") from error
    if not parts:
        return pd.DataFrame({name: pd.Series([], dtype=object) for name in columns})
    return pd.concat(parts, ignore_index=True)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        return bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False


def _raise_first_bad_json_line(
    path: Path, required: Sequence[str], numeric: Sequence[str], parse: Callable[[str], Any]
) -> None:
    with reading(path), open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = parse(line)
            except (ValueError, SyntaxError) as error:
                message = getattr(error, "msg", None) or str(error)
                raise DataFormatError(path, f"invalid JSON: {message}", line_number) from error
            if not isinstance(record, dict):
                raise DataFormatError(path, "expected a JSON object", line_number)
            for key in required:
                if record.get(key) is None:
                    raise DataFormatError(path, f"missing key '{key}'", line_number)
            for key in numeric:
                if key in record and not _is_number(record[key]):
                    raise DataFormatError(
                        path, f"'{key}' is not a number: {record[key]!r}", line_number
                    )


def year_from_title(titles: pd.Series) -> pd.Series:
    """The release year MovieLens writes at the end of a title, ``Toy Story (1995)`` -> 1995.

    >>> year_from_title(pd.Series(["Toy Story (1995)", "unknown"])).tolist()
    [1995, <NA>]
    """
    years = titles.astype("string").str.extract(r"\((\d{4})\)\s*$", expand=False)
    return pd.to_numeric(years, errors="coerce").astype("Int64")


def line_of_record(path: str | Path, index: int) -> int:
    """1-based line of the ``index``-th (0-based) non-blank line of a text file (error paths)."""
    seen = -1
    with reading(path), open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            if line.strip():
                seen += 1
                if seen == index:
                    return line_number
    raise ValueError(f"{path} has fewer than {index + 1} records")
