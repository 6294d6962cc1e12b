"""Categorical, multi-valued and numeric column encoders."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recforge.features.encoders import (
    CategoryEncoder,
    MultiCategoryEncoder,
    NumericEncoder,
    flatten_cells,
)


def roundtrip(encoder):  # type: ignore[no-untyped-def]
    """Through JSON text, as an artifact stores it."""
    return type(encoder).from_dict(json.loads(json.dumps(encoder.to_dict())))


def test_category_indices_by_count_then_value_with_reserved_missing_and_unknown() -> None:
    values = ["b", "a", "c", "a", "b", "a", None, float("nan")]
    encoder = CategoryEncoder(name="colour").fit(values)
    assert encoder.classes_ == ["a", "b", "c"]  # counts 3, 2, 1
    assert encoder.size_ == 5
    out = encoder.transform(["a", "b", "c", "zebra", None, np.nan, pd.NA])
    assert out.dtype == np.int64
    assert out.tolist() == [2, 3, 4, 1, 0, 0, 0]
    tied = CategoryEncoder().fit(["y", "x", "z", "x", "y", "z"])  # ties: by value string
    assert tied.classes_ == ["x", "y", "z"]
    assert CategoryEncoder().fit(["z", "x", "y"][::-1]).classes_ == ["x", "y", "z"]


def test_category_min_count_makes_rare_values_unknown() -> None:
    encoder = CategoryEncoder(min_count=2).fit([1, 1, 2, 3, 3, 3])
    assert encoder.classes_ == [3, 1]
    assert encoder.transform([1, 2, 3, 4]).tolist() == [3, 1, 2, 1]
    with pytest.raises(ValueError, match="min_count"):
        CategoryEncoder(min_count=0).fit([1])


def test_category_ints_strings_and_numpy_types() -> None:
    ids = pd.Series([7, 8, 8], dtype="int64")
    encoder = CategoryEncoder().fit(ids)
    assert encoder.classes_ == [8, 7] and all(type(c) is int for c in encoder.classes_)
    # a float column holding the same numbers (NaN made it float) finds them
    assert encoder.transform(np.array([7.0, np.nan, 8.0])).tolist() == [3, 0, 2]
    assert encoder.transform(pd.Series([7, None], dtype="Int64")).tolist() == [3, 0]
    assert encoder.transform(["7"]).tolist() == [1]  # "7" is not 7
    mixed = CategoryEncoder().fit(["a", 1, "a"])
    assert mixed.transform(["a", 1, "1"]).tolist() == [2, 3, 1]
    categorical = pd.Series(["x", "y", "x"], dtype="category")
    assert CategoryEncoder().fit(categorical).transform(categorical).tolist() == [2, 3, 2]


def test_category_round_trip_through_json() -> None:
    encoder = CategoryEncoder(min_count=2, name="brand").fit(["a", 3, "a", 3, 2.5, 2.5, "b"])
    copy = roundtrip(encoder)
    probe = ["a", 3, 2.5, "b", None, "new"]
    assert copy.transform(probe).tolist() == encoder.transform(probe).tolist()
    assert (copy.size_, copy.min_count, copy.name) == (encoder.size_, 2, "brand")


def test_category_errors_name_the_column_and_row() -> None:
    encoder = CategoryEncoder(name="city").fit(["x"])
    with pytest.raises(ValueError, match=r"column 'city': row position 1: \['y'\]"):
        encoder.transform(["x", ["y"]])
    with pytest.raises(ValueError, match="not fitted"):
        CategoryEncoder(name="city").transform(["x"])


def test_flatten_cells_reads_lists_strings_sets_and_missing() -> None:
    rows, values = flatten_cells([["a", None, "b"], "c|d", None, {"f", "e"}, 5, "", []], "|")
    assert rows.tolist() == [0, 0, 1, 1, 3, 3, 4]
    assert values.tolist() == ["a", "b", "c", "d", "e", "f", 5]


def test_multi_pads_cuts_to_the_first_values_and_marks_unknown() -> None:
    encoder = MultiCategoryEncoder(max_len=3, name="genres").fit(
        [["drama", "comedy"], ["drama"], ("horror",), None]
    )
    assert encoder.classes_ == ["drama", "comedy", "horror"]
    out = encoder.transform(
        [["comedy", "drama", "horror", "drama"], [], None, ["western"], np.array(["horror"])]
    )
    assert out.dtype == np.int64 and out.shape == (5, 3)
    assert out.tolist() == [[3, 2, 4], [0, 0, 0], [0, 0, 0], [1, 0, 0], [4, 0, 0]]
    assert encoder.transform([]).shape == (0, 3)


def test_multi_separator_min_count_and_round_trip() -> None:
    encoder = MultiCategoryEncoder(max_len=2, min_count=2, sep="|").fit(
        ["Action|Comedy", "Action", "Drama|Action|Comedy"]
    )
    assert encoder.classes_ == ["Action", "Comedy"]  # Drama seen once
    cells = ["Drama|Action", "Comedy|Action|Drama", None]
    assert encoder.transform(cells).tolist() == [[1, 2], [3, 2], [0, 0]]
    assert roundtrip(encoder).transform(cells).tolist() == encoder.transform(cells).tolist()
    with pytest.raises(ValueError, match="max_len"):
        MultiCategoryEncoder(max_len=0).fit([["a"]])


def test_numeric_standardises_with_train_statistics_and_missing_is_the_mean() -> None:
    encoder = NumericEncoder(name="age").fit([10.0, 20.0, 30.0, None])
    assert encoder.mean_ == pytest.approx(20.0)
    assert encoder.std_ == pytest.approx(np.std([10.0, 20.0, 30.0]))
    out = encoder.transform(pd.Series([20.0, 30.0, np.nan, None], dtype=object))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0.0, 10.0 / encoder.std_, 0.0, 0.0], rtol=1e-6)
    assert NumericEncoder().fit(pd.Series([1, None, 3], dtype="Int64")).mean_ == 2.0


def test_numeric_log_none_and_constant_columns() -> None:
    log = NumericEncoder(transform="log").fit([0.0, np.e - 1.0])
    assert (log.mean_, log.std_) == pytest.approx((0.5, 0.5))
    np.testing.assert_allclose(log.transform([-3.0, np.e - 1.0]), [-1.0, 1.0], rtol=1e-6)
    raw = NumericEncoder(transform="none").fit([1.0, 3.0])
    np.testing.assert_allclose(raw.transform([5.0, np.nan]), [5.0, 2.0])
    constant = NumericEncoder().fit([4.0, 4.0])
    assert constant.std_ == 1.0
    np.testing.assert_allclose(constant.transform([5.0]), [1.0])
    assert NumericEncoder().fit([None, None]).transform([3.0]).tolist() == [3.0]


def test_numeric_round_trip_through_json() -> None:
    encoder = NumericEncoder(transform="log", name="price").fit([1.0, 10.0, 100.0])
    copy = roundtrip(encoder)
    probe = [0.0, 5.0, None]
    np.testing.assert_array_equal(copy.transform(probe), encoder.transform(probe))


def test_numeric_errors_name_the_column_and_first_bad_row() -> None:
    encoder = NumericEncoder(name="price").fit([1.0, 2.0])
    with pytest.raises(ValueError, match=r"column 'price': row position 2: value inf"):
        encoder.transform([1.0, 2.0, np.inf, -np.inf])
    with pytest.raises(ValueError, match=r"column 'price': row position 1: 'cheap'"):
        encoder.transform([1.0, "cheap", "dear"])
    with pytest.raises(ValueError, match=r"column 'price': row position 0: value -inf"):
        NumericEncoder(name="price").fit([-np.inf])
    with pytest.raises(ValueError, match="transform must be one of"):
        NumericEncoder(transform="cube", name="price").fit([1.0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not fitted"):
        NumericEncoder(name="price").transform([1.0])
