"""Column encoders for ranking features: categorical, multi-valued and numeric.

Every encoder follows scikit-learn's shape: parameters in ``__init__``, ``fit`` (on the
training split only) returns ``self``, learned state ends in ``_``, and ``to_dict`` /
``from_dict`` give plain JSON-able state (saved with every ranking artifact, never pickled).

Reserved indices of every categorical vocabulary (see :mod:`recforge.features.fields`):
``0`` = missing (None, NaN, ``<NA>``; also padding of multi-valued rows) and ``1`` = unknown
(a value not seen by ``fit``, or seen fewer than ``min_count`` times). Known values get
``2, 3, ...`` by descending training count, ties broken by the value's string, so a refit on
the same data gives the same indices.

Values are compared as Python compares them: ``7`` and ``7.0`` are the same value, ``7``
and ``"7"`` are not (an id read as a string at serving time is unknown if it was an int at
training time).

>>> encoder = CategoryEncoder(name="color").fit(["red", "blue", "red", None])
>>> encoder.transform(["red", "blue", "green", None]).tolist()
[2, 3, 1, 0]
>>> encoder.size_
4
>>> CategoryEncoder.from_dict(encoder.to_dict()).transform(["blue"]).tolist()
[3]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from recforge.features.fields import MISSING, UNKNOWN

#: index of the first known value of a vocabulary
FIRST_KNOWN = 2
NumericTransform = Literal["standard", "log", "none"]
_TRANSFORMS: tuple[NumericTransform, ...] = ("standard", "log", "none")

Values = Sequence[Any] | np.ndarray | pd.Series


def _objects(values: Values) -> np.ndarray:
    """Values as a 1-d array (object dtype unless already numeric)."""
    if isinstance(values, pd.Series):
        numeric = values.dtype.kind in "iufb"
        array = values.to_numpy() if numeric else values.to_numpy(dtype=object)
    else:
        array = np.asarray(values) if isinstance(values, np.ndarray) else _object_array(values)
    if array.ndim != 1:
        raise ValueError(f"expected a 1-d column of values, got shape {array.shape}")
    return array


def _object_array(values: Iterable[Any]) -> np.ndarray:
    items = list(values)
    array = np.empty(len(items), dtype=object)
    array[:] = items  # never let numpy turn list cells into a 2-d array
    return array


def _jsonable(value: Any, name: str) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (str, int, float, bool)):
        return value
    raise ValueError(f"column {name!r}: value {value!r} cannot be saved as JSON (str/int/float)")


def _first_unhashable(values: np.ndarray) -> int:
    for position, value in enumerate(values):  # error path only
        try:
            hash(value)
        except TypeError:
            return position
    return -1


def _unhashable_error(values: np.ndarray, name: str) -> ValueError:
    position = _first_unhashable(values)
    return ValueError(
        f"column {name!r}: row position {position}: {values[position]!r} is not a single "
        "categorical value (unhashable)"
    )


def _fit_classes(values: np.ndarray, min_count: int, name: str) -> list[Any]:
    """Values seen at least ``min_count`` times, by descending count then value string."""
    present = values[~pd.isna(values)]
    try:
        counts = pd.Series(present).value_counts(sort=False)
    except TypeError as error:
        raise _unhashable_error(present, name) from error
    counts = counts[counts >= min_count]
    uniques = counts.index.to_numpy()
    strings = np.asarray([str(value) for value in uniques], dtype=object)
    order = np.lexsort((strings, -counts.to_numpy()))
    return [_jsonable(value, name) for value in uniques[order]]


class _Vocabulary:
    """Shared state of the categorical encoders: ``classes_`` -> indices ``2..``."""

    name: str
    min_count: int
    classes_: list[Any]
    index_: pd.Index
    size_: int

    def _set_classes(self, classes: list[Any]) -> None:
        self.classes_ = classes
        self.index_ = pd.Index(classes, dtype=object if not classes else None)
        self.size_ = len(classes) + FIRST_KNOWN

    def _lookup(self, values: np.ndarray) -> np.ndarray:
        """Indices of values that are not missing (missing ones must be removed first)."""
        if not hasattr(self, "classes_"):
            raise ValueError(f"{type(self).__name__} for {self.name!r} is not fitted")
        if len(values) == 0:
            return np.zeros(0, np.int64)
        try:
            position = self.index_.get_indexer(pd.Index(values, tupleize_cols=False))
        except TypeError as error:
            raise _unhashable_error(values, self.name) from error
        return np.where(position < 0, UNKNOWN, position + FIRST_KNOWN).astype(np.int64)


class CategoryEncoder(_Vocabulary):
    """One categorical value per row -> ``int64`` index (0 missing, 1 unknown, 2.. known).

    Args:
        min_count: values seen fewer times in ``fit`` are encoded as unknown (1).
        name: the column's name, used in error messages.

    Attributes:
        classes_: known values; ``classes_[i]`` has index ``i + 2``.
        size_: vocabulary size including the two reserved indices.

    >>> encoder = CategoryEncoder(min_count=2).fit([5, 5, 7, 8, 8, 8])
    >>> encoder.classes_, encoder.transform([8, 5, 7, 9, float("nan")]).tolist()
    ([8, 5], [2, 3, 1, 1, 0])
    """

    def __init__(self, min_count: int = 1, name: str = "value") -> None:
        self.min_count = min_count
        self.name = name

    def fit(self, values: Values) -> CategoryEncoder:
        if self.min_count < 1:
            raise ValueError(f"column {self.name!r}: min_count must be >= 1, got {self.min_count}")
        self._set_classes(_fit_classes(_objects(values), self.min_count, self.name))
        return self

    def transform(self, values: Values) -> np.ndarray:
        """``(N,)`` int64 indices of ``values``."""
        array = _objects(values)
        missing = np.asarray(pd.isna(array), dtype=bool)
        out = np.full(len(array), MISSING, np.int64)
        out[~missing] = self._lookup(array[~missing])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"min_count": self.min_count, "name": self.name, "classes": list(self.classes_)}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> CategoryEncoder:
        encoder = cls(min_count=int(state["min_count"]), name=str(state["name"]))
        encoder._set_classes(list(state["classes"]))
        return encoder


def flatten_cells(cells: Values, sep: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Multi-valued cells as ``(row, value)`` pairs in cell order.

    A cell is a list, tuple, array or set of values (a set in sorted order of its values'
    strings, since a set has no order of its own), a string split on ``sep`` (one value
    when ``sep`` is None), a scalar (one value), or missing (no values). Missing values
    inside a cell are dropped.

    Returns:
        ``row`` ``(K,)`` int64, the cell each value came from (non-decreasing), and
        ``values`` ``(K,)`` the values.

    >>> flatten_cells([["a", "b"], None, "c|d", {"f", "e"}], sep="|")
    (array([0, 0, 2, 2, 3, 3]), array(['a', 'b', 'c', 'd', 'e', 'f'], dtype=object))
    """
    series = pd.Series(_objects(cells), dtype=object).reset_index(drop=True)
    is_string = series.map(lambda cell: isinstance(cell, str)).to_numpy(dtype=bool)
    if sep is not None and is_string.any():
        series[is_string] = series[is_string].str.split(sep)
    is_set = series.map(lambda cell: isinstance(cell, (set, frozenset))).to_numpy(dtype=bool)
    if is_set.any():
        series[is_set] = series[is_set].map(lambda cell: sorted(cell, key=str))
    exploded = series.explode()
    values = exploded.to_numpy(dtype=object)
    rows = exploded.index.to_numpy(dtype=np.int64)
    keep = ~np.asarray(pd.isna(values), dtype=bool)
    if sep is not None:  # "a||b" and "" hold empty pieces
        keep &= values != ""
    return rows[keep], values[keep]


class MultiCategoryEncoder(_Vocabulary):
    """A set of categorical values per row -> ``(N, max_len)`` int64, right-padded with 0.

    Cells are read by :func:`flatten_cells`. A row with more than ``max_len`` values keeps
    its **first** ``max_len`` (in cell order) and drops the rest; a missing cell or an empty
    list gives a row of zeros. Unknown values get 1. Repeated values in a cell are kept.

    Args:
        max_len: ``M``, the most values kept per row.
        min_count: values seen fewer times in ``fit`` (counting every occurrence) are unknown.
        sep: split string cells on this delimiter (``"|"`` for MovieLens genres).
        name: the column's name, used in error messages.

    >>> encoder = MultiCategoryEncoder(max_len=2, sep="|").fit(["a|b", "a", None])
    >>> encoder.transform(["b|a|x", None, ["z"]]).tolist()
    [[3, 2], [0, 0], [1, 0]]
    """

    def __init__(
        self, max_len: int, min_count: int = 1, sep: str | None = None, name: str = "value"
    ) -> None:
        self.max_len = max_len
        self.min_count = min_count
        self.sep = sep
        self.name = name

    def fit(self, cells: Values) -> MultiCategoryEncoder:
        if self.max_len < 1 or self.min_count < 1:
            raise ValueError(
                f"column {self.name!r}: max_len and min_count must be >= 1, "
                f"got {self.max_len} and {self.min_count}"
            )
        _, values = flatten_cells(cells, self.sep)
        self._set_classes(_fit_classes(values, self.min_count, self.name))
        return self

    def transform(self, cells: Values) -> np.ndarray:
        """``(N, max_len)`` int64 indices, 0 = padding."""
        n_rows = len(cells)
        rows, values = flatten_cells(cells, self.sep)
        indices = self._lookup(values)
        starts = np.searchsorted(rows, np.arange(n_rows))  # first value of each row
        rank = np.arange(len(rows)) - starts[rows]  # position of each value in its row
        keep = rank < self.max_len
        out = np.zeros((n_rows, self.max_len), np.int64)
        out[rows[keep], rank[keep]] = indices[keep]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_len": self.max_len,
            "min_count": self.min_count,
            "sep": self.sep,
            "name": self.name,
            "classes": list(self.classes_),
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> MultiCategoryEncoder:
        encoder = cls(
            max_len=int(state["max_len"]),
            min_count=int(state["min_count"]),
            sep=state["sep"],
            name=str(state["name"]),
        )
        encoder._set_classes(list(state["classes"]))
        return encoder


class NumericEncoder:
    """A numeric column -> standardised ``float32`` (train mean 0, train std 1).

    ``transform="standard"`` standardises the value, ``"log"`` standardises
    ``log1p(max(x, 0))`` (counts, prices), ``"none"`` keeps the value as it is. A missing
    value (None, NaN, ``<NA>``) is encoded as the training mean: 0 after standardisation,
    the raw mean with ``"none"``. Infinite or non-numeric values are an error naming the
    column and the first bad row position. A constant training column has std 1.

    Args:
        transform: ``"standard"``, ``"log"`` or ``"none"``.
        name: the column's name, used in error messages.

    Attributes:
        mean_, std_: of the (log-)transformed training values, missing ones left out.

    >>> encoder = NumericEncoder(name="age").fit([20.0, 30.0, None])
    >>> encoder.transform([25.0, 40.0, float("nan")]).tolist()
    [0.0, 3.0, 0.0]
    >>> encoder.transform(["old"])
    Traceback (most recent call last):
    ...
    ValueError: column 'age': row position 0: 'old' is not a number
    """

    def __init__(self, transform: NumericTransform = "standard", name: str = "value") -> None:
        self.transform_kind = transform
        self.name = name

    def _numbers(self, values: Values) -> np.ndarray:
        """float64 values with NaN for missing ones; bad values raise."""
        if self.transform_kind not in _TRANSFORMS:
            raise ValueError(
                f"column {self.name!r}: transform must be one of {_TRANSFORMS}, "
                f"got {self.transform_kind!r}"
            )
        array = _objects(values)
        if array.dtype.kind in "iufb":
            numbers = array.astype(np.float64)
        else:
            missing = np.asarray(pd.isna(array), dtype=bool)
            numbers = pd.to_numeric(pd.Series(array), errors="coerce").to_numpy(np.float64)
            bad = np.flatnonzero(np.isnan(numbers) & ~missing)
            if len(bad):
                raise ValueError(
                    f"column {self.name!r}: row position {bad[0]}: {array[bad[0]]!r} "
                    "is not a number"
                )
        infinite = np.flatnonzero(np.isinf(numbers))
        if len(infinite):
            raise ValueError(
                f"column {self.name!r}: row position {infinite[0]}: value "
                f"{numbers[infinite[0]]} is infinite"
            )
        if self.transform_kind == "log":
            numbers = np.log1p(np.maximum(numbers, 0.0))
        return numbers

    def fit(self, values: Values) -> NumericEncoder:
        numbers = self._numbers(values)
        present = numbers[~np.isnan(numbers)]
        mean = float(present.mean()) if len(present) else 0.0
        std = float(present.std()) if len(present) else 1.0
        self.mean_ = mean
        self.std_ = std if std > 0 and math.isfinite(std) else 1.0
        return self

    def transform(self, values: Values) -> np.ndarray:
        """``(N,)`` float32 encoded values, 0 (the mean) where missing."""
        if not hasattr(self, "mean_"):
            raise ValueError(f"NumericEncoder for {self.name!r} is not fitted")
        numbers = self._numbers(values)
        numbers = np.where(np.isnan(numbers), self.mean_, numbers)
        if self.transform_kind != "none":
            numbers = (numbers - self.mean_) / self.std_
        return numbers.astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {
            "transform": self.transform_kind,
            "name": self.name,
            "mean": self.mean_,
            "std": self.std_,
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> NumericEncoder:
        encoder = cls(transform=state["transform"], name=str(state["name"]))
        encoder.mean_ = float(state["mean"])
        encoder.std_ = float(state["std"])
        return encoder


Encoder = CategoryEncoder | MultiCategoryEncoder | NumericEncoder


def check_table(frame: pd.DataFrame, columns: Sequence[str], key: str | None, what: str) -> None:
    """``ValueError`` naming ``what`` unless ``frame`` is a DataFrame with ``columns`` and
    (when ``key`` is given) no repeated value in column ``key``."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing} (has {list(frame.columns)})")
    repeated = np.flatnonzero(frame[key].duplicated().to_numpy()) if key else np.zeros(0)
    if len(repeated):
        raise ValueError(f"{what}: column {key!r}: row position {repeated[0]}: id repeats")


class AttributeTable:
    """Encoded attribute columns of users or items, keyed by raw id: encoded once per
    user/item and gathered by row, instead of encoding each row's copy.

    Args:
        ids: ``(T,)`` raw ids, unique.
        columns: field name -> ``(T,)`` or ``(T, M)`` encoded values.

    >>> items = pd.DataFrame({"item_id": [10, 11], "category": ["a", "b"]})
    >>> table = AttributeTable.encode(
    ...     items, "item_id", {"category": CategoryEncoder().fit(["b", "b", "a"])})
    >>> table.gather("category", table.positions([11, 99, 10]), fill=0).tolist()
    [2, 0, 3]
    """

    def __init__(self, ids: np.ndarray, columns: Mapping[str, np.ndarray]) -> None:
        self.ids = ids
        self.index = pd.Index(ids, tupleize_cols=False)
        self.columns = dict(columns)

    @classmethod
    def encode(
        cls,
        frame: pd.DataFrame,
        key: str,
        encoders: Mapping[str, Encoder],
        what: str = "table",
    ) -> AttributeTable:
        """Encode ``frame``'s columns named in ``encoders``; ``key`` holds the raw ids.
        A missing column or a repeated id is an error naming ``what`` and the column."""
        check_table(frame, [key, *encoders], key, what)
        columns = {name: encoder.transform(frame[name]) for name, encoder in encoders.items()}
        return cls(frame[key].to_numpy(), columns)

    def __len__(self) -> int:
        return len(self.ids)

    def positions(self, raw_ids: Values) -> np.ndarray:
        """``(B,)`` row of each raw id in the table, -1 where absent."""
        return self.index.get_indexer(pd.Index(_objects(raw_ids), tupleize_cols=False))

    def gather(self, name: str, positions: np.ndarray, fill: Any) -> np.ndarray:
        """Field ``name`` at ``positions`` (``(B,)`` or ``(B, M)``), ``fill`` where -1."""
        column = self.columns[name]
        out = np.empty((len(positions), *column.shape[1:]), column.dtype)
        found = positions >= 0
        out[found] = column[positions[found]]
        out[~found] = fill
        return out

    def to_state(self, name: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able ids and column names, and the arrays (keys prefixed ``name.``)."""
        names = sorted(self.columns)
        state = {"ids": [_jsonable(raw_id, name) for raw_id in self.ids], "columns": names}
        return state, {f"{name}.{i}": self.columns[column] for i, column in enumerate(names)}

    @classmethod
    def from_state(
        cls, name: str, state: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
    ) -> AttributeTable:
        ids = state["ids"]
        raw = np.asarray(ids, np.int64) if ids and all(type(i) is int for i in ids) else None
        columns = {column: arrays[f"{name}.{i}"] for i, column in enumerate(state["columns"])}
        return cls(_object_array(ids) if raw is None else raw, columns)
