"""The NCF paper's benchmark files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import assert_error, real_data, rows, write
from recforge.core.errors import DataFormatError, DatasetNotFoundError
from recforge.data.sources import (
    ncf_movie_ids,
    read_movielens,
    read_ncf,
)

# --- NCF --------------------------------------------------------------------------------------


def write_ncf(folder: Path, negatives: str | None = None) -> Path:
    write(folder / "ml-1m.train.rating.gz", "0\t1\t5\n0\t2\t3\n1\t0\t4\n", compress=True)
    write(folder / "ml-1m.test.rating", "0\t3\t4\t978824351\n1\t2\t2\t978300174\n")
    write(
        folder / "ml-1m.test.negative.gz",
        negatives if negatives is not None else "(0,3)\t0\t4\t5\n(1,1)\t1\t3\t4\n",
        compress=True,
    )
    return folder


def test_ncf_reads_paper_files(tmp_path: Path) -> None:
    data = read_ncf(write_ncf(tmp_path, "(0,3)\t0\t4\t5\n(1,2)\t1\t3\t4\n"))
    assert rows(data.train) == [
        [0, 1, "rating", 5.0, None],
        [0, 2, "rating", 3.0, None],
        [1, 0, "rating", 4.0, None],
    ]
    assert rows(data.test) == [
        [0, 3, "rating", 4.0, 978824351],
        [1, 2, "rating", 2.0, 978300174],
    ]
    assert data.test_negatives.dtype == np.int64
    assert data.test_negatives.tolist() == [[0, 4, 5], [1, 3, 4]]
    assert (data.n_users, data.n_items) == (2, 6)


def test_ncf_negative_pair_must_match_test_row(tmp_path: Path) -> None:
    folder = write_ncf(tmp_path)  # default negatives say (1,1) where the test row is (1,2)
    with pytest.raises(DataFormatError, match=r"pair \(1,1\) does not match test row \(1,2\)") as e:
        read_ncf(folder)
    assert_error(e, folder / "ml-1m.test.negative.gz", 2)


def test_ncf_negative_counts_must_agree(tmp_path: Path) -> None:
    folder = write_ncf(tmp_path, "(0,3)\t0\t4\t5\n(1,2)\t1\t3\n")
    with pytest.raises(DataFormatError, match="expected 4 fields, found 3") as error:
        read_ncf(folder)
    assert error.value.line == 2
    folder = write_ncf(tmp_path, "(0,3)\t0\t4\t5\n(1,2)\t1\t3\t4\t7\n")
    with pytest.raises(DataFormatError, match="expected 4 fields, found 5"):
        read_ncf(folder)


def test_ncf_malformed_pair_and_line_count(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="is not '\\(user,item\\)'") as error:
        read_ncf(write_ncf(tmp_path, "(0,3)\t0\t4\t5\n1,2\t1\t3\t4\n"))
    assert error.value.line == 2
    with pytest.raises(DataFormatError, match="1 lines but the test file has 2 rows"):
        read_ncf(write_ncf(tmp_path, "(0,3)\t0\t4\t5\n"))


def test_ncf_missing_file(tmp_path: Path) -> None:
    folder = write_ncf(tmp_path)
    (folder / "ml-1m.test.rating").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"ml-1m\.test\.rating"):
        read_ncf(folder)


def test_ncf_movie_ids(tmp_path: Path) -> None:
    write(
        tmp_path / "ncf" / "ncf_item_to_item_idx.tsv",
        "ncf_item\titem_idx\tmovie_id\n1\t1\t1\n0\t2\t1193\n",
    )
    assert ncf_movie_ids(tmp_path / "ncf").tolist() == [1193, 1]
    assert ncf_movie_ids(tmp_path).tolist() == [1193, 1]  # the parent folder works too
    with pytest.raises(DatasetNotFoundError):
        ncf_movie_ids(tmp_path / "ncf" / "nothing")


@pytest.mark.slow
def test_real_ncf_ml_1m_and_its_movie_ids() -> None:
    folder = real_data("ml-1m")
    data = read_ncf(folder / "ncf")
    assert len(data.train) == 994_169 and len(data.test) == 6_040
    assert data.test_negatives.shape == (6_040, 99)
    assert int(data.train["item_id"].max()) == 3_705
    assert (data.n_users, data.n_items) == (6_040, 3_706)
    assert data.test["timestamp"].tolist()[0] == 978824351
    # train + test mapped to MovieIDs are exactly the ML-1M ratings (user = NCF user + 1)
    movie_ids = ncf_movie_ids(folder / "ncf")
    ncf = pd.concat([data.train, data.test])
    pairs_ncf = pd.DataFrame(
        {
            "user_id": ncf["user_id"].to_numpy() + 1,
            "item_id": movie_ids[ncf["item_id"].to_numpy()],
        }
    )
    ratings = read_movielens(folder).interactions[["user_id", "item_id"]]
    merged = pairs_ncf.merge(ratings, on=["user_id", "item_id"], how="outer", indicator=True)
    assert (merged["_merge"] == "both").all() and len(merged) == 1_000_209
