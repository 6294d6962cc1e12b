"""The Criteo-format reader: both layouts, types, chunking and malformed lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import assert_error, real_data, write
from recforge.core.errors import DataFormatError, DatasetNotFoundError
from recforge.data.sources.criteo import (
    CATEGORICAL_COLUMNS,
    COLUMNS,
    INTEGER_COLUMNS,
    iter_criteo,
    read_criteo,
)


def line(
    label: object = 0,
    ints: dict[int, object] | None = None,
    cats: dict[int, str] | None = None,
    sep: str = "\t",
) -> str:
    """One Criteo line; unlisted fields are empty (missing)."""
    ints, cats = ints or {}, cats or {}
    fields = [str(label)]
    fields += [str(ints.get(k, "")) for k in range(1, 14)]
    fields += [cats.get(k, "") for k in range(1, 27)]
    return sep.join(fields) + "\n"


TSV = (
    line(0, {1: 3, 2: -1, 13: 12}, {1: "68fd1e64", 26: "92c878de"})
    + line(1, {5: 17668}, {2: "05db9164"})
    + line(0, {}, {})
)


def test_reads_the_published_tab_layout_with_types(tmp_path: Path) -> None:
    frame = read_criteo(write(tmp_path / "train.txt", TSV))
    assert list(frame.columns) == list(COLUMNS) and len(COLUMNS) == 40
    assert frame["label"].dtype == np.int8 and frame["label"].tolist() == [0, 1, 0]
    assert all(frame[name].dtype == np.float64 for name in INTEGER_COLUMNS)
    assert frame["I1"].tolist()[0] == 3.0 and frame["I2"].tolist()[0] == -1.0
    assert np.isnan(frame["I1"].iloc[1]) and frame["I5"].iloc[1] == 17668.0
    assert frame["C1"].tolist() == ["68fd1e64", None, None]  # None, not NaN
    assert frame["C26"].tolist() == ["92c878de", None, None]
    assert frame["C2"].tolist() == [None, "05db9164", None]
    assert all(frame[name].dtype == object for name in CATEGORICAL_COLUMNS)


def test_reads_deepctr_csv_with_header_and_float_integers(tmp_path: Path) -> None:
    header = ",".join(COLUMNS) + "\n"
    body = line(1, {1: "260.0", 3: "0.0"}, {1: "a73ee510"}, sep=",") + line(0, sep=",")
    frame = read_criteo(write(tmp_path / "criteo_sample.txt", header + body))
    assert frame["label"].tolist() == [1, 0]
    assert frame["I1"].iloc[0] == 260.0 and frame["I3"].iloc[0] == 0.0
    assert frame["C1"].tolist() == ["a73ee510", None]


def test_compressed_file_and_categorical_option(tmp_path: Path) -> None:
    plain = read_criteo(write(tmp_path / "train.txt", TSV))
    packed = read_criteo(write(tmp_path / "train.txt.gz", TSV, compress=True))
    pd.testing.assert_frame_equal(plain, packed)
    categories = read_criteo(tmp_path / "train.txt", categorical=True, chunk_bytes=1)
    assert isinstance(categories["C1"].dtype, pd.CategoricalDtype)
    restored = categories["C1"].astype(object).where(categories["C1"].notna(), None)
    assert restored.tolist() == plain["C1"].tolist()
    pd.testing.assert_frame_equal(categories[list(INTEGER_COLUMNS)], plain[list(INTEGER_COLUMNS)])


def test_chunked_reading_gives_the_same_rows_and_nrows_stops(tmp_path: Path) -> None:
    text = "".join(line(k % 2, {1: k}, {1: f"{k:08x}"}) for k in range(50))
    path = write(tmp_path / "train.txt", text)
    whole = read_criteo(path)
    blocks = list(iter_criteo(path, chunk_bytes=300))
    assert len(blocks) > 3
    assert [int(block.index[0]) for block in blocks[:2]] == [0, len(blocks[0])]
    pd.testing.assert_frame_equal(read_criteo(path, chunk_bytes=300), whole)
    assert whole["I1"].tolist() == [float(k) for k in range(50)]
    assert read_criteo(path, nrows=7, chunk_bytes=300)["I1"].tolist() == [
        float(k) for k in range(7)
    ]
    assert len(read_criteo(path, nrows=0)) == 0


def test_trailing_blank_lines_are_fine_inner_ones_are_not(tmp_path: Path) -> None:
    assert len(read_criteo(write(tmp_path / "a.txt", TSV + "\n\n"))) == 3
    path = write(tmp_path / "b.txt", line(0) + "\n" + line(1))
    with pytest.raises(DataFormatError, match="blank line") as error:
        read_criteo(path)
    assert_error(error, path, 2)


def test_wrong_field_count_names_the_line(tmp_path: Path) -> None:
    short = "\t".join(["1"] * 30) + "\n"
    path = write(tmp_path / "train.txt", TSV + short)
    with pytest.raises(DataFormatError, match="expected 40 fields, found 30") as error:
        read_criteo(path)
    assert_error(error, path, 4)
    path = write(tmp_path / "long.txt", line(0).rstrip("\n") + "\textra\n")
    with pytest.raises(DataFormatError, match="expected 40 fields, found 41") as error:
        read_criteo(path)
    assert_error(error, path, 1)


def test_the_line_number_counts_across_blocks_and_the_header(tmp_path: Path) -> None:
    text = "".join(line(0, {1: k}) for k in range(40)) + line(0, {4: "x7"}) + line(0)
    path = write(tmp_path / "train.txt", text)
    with pytest.raises(DataFormatError, match=r"'I4' is not an integer: 'x7'") as error:
        read_criteo(path, chunk_bytes=200)
    assert_error(error, path, 41)
    header = ",".join(COLUMNS) + "\n"
    path = write(tmp_path / "s.csv", header + line(0, sep=",") + line(2, sep=","))
    with pytest.raises(DataFormatError, match="label is '2', not 0 or 1") as error:
        read_criteo(path)
    assert_error(error, path, 3)  # the header is line 1


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (line(0, {2: "2.5"}), r"'I2' is not an integer: '2.5'"),
        (line(0, {7: "inf"}), r"'I7' is not an integer: 'inf'"),
        (line(0, {1: "abc"}), r"'I1' is not an integer: 'abc'"),
        (line("yes"), r"label is 'yes', not 0 or 1"),
        (line(""), r"label is missing, not 0 or 1"),
    ],
)
def test_bad_values_name_the_file_and_line(tmp_path: Path, bad: str, message: str) -> None:
    path = write(tmp_path / "train.txt", TSV + bad)
    with pytest.raises(DataFormatError, match=message) as error:
        read_criteo(path)
    assert_error(error, path, 4)


def test_wrong_header_missing_and_corrupt_files(tmp_path: Path) -> None:
    path = write(tmp_path / "h.csv", "label,I1,I2\n0,1,2\n")
    with pytest.raises(DataFormatError, match="expected header") as error:
        read_criteo(path)
    assert_error(error, path, 1)
    with pytest.raises(DatasetNotFoundError, match=r"absent\.txt"):
        read_criteo(tmp_path / "absent.txt")
    packed = write(tmp_path / "cut.txt.gz", TSV * 40, compress=True)
    packed.write_bytes(packed.read_bytes()[:-30])
    with pytest.raises(DataFormatError, match="truncated or corrupt"):
        read_criteo(packed)


@pytest.mark.slow
def test_real_criteo_sample() -> None:
    frame = read_criteo(real_data("criteo-sample") / "criteo_sample.txt")
    assert frame.shape == (200, 40)
    assert frame["label"].value_counts().to_dict() == {0: 151, 1: 49}
    assert int(frame["I1"].isna().sum()) == 90 and int(frame["I12"].isna().sum()) == 157
    assert sum(int(frame[name].isna().sum()) for name in CATEGORICAL_COLUMNS) == 573
    assert frame["C9"].nunique() == 2 and frame["C7"].nunique() == 183
