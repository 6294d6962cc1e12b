"""Generic CSV/TSV/Parquet tables with a column mapping."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from conftest import assert_error, rows, write
from recforge.core.errors import ConfigError, DataFormatError
from recforge.data.sources import (
    read_table,
)

# --- generic tables ---------------------------------------------------------------------------


def test_read_table_csv_with_iso_and_missing_timestamps(tmp_path: Path) -> None:
    path = write(
        tmp_path / "log.csv",
        "visitor,sku,kind,when\n007,10,view,2024-01-01T00:00:00Z\n"
        "8,11,cart,2024-01-01 01:00:00+01:00\n"
        "9,10,view,\n",
    )
    tables = read_table(
        path, {"user_id": "visitor", "item_id": "sku", "event": "kind", "timestamp": "when"}
    )
    assert tables.name == "log"
    assert rows(tables.interactions) == [
        ["007", 10, "view", 1.0, 1704067200],
        ["8", 10 + 1, "cart", 1.0, 1704067200],
        ["9", 10, "view", 1.0, None],
    ]


def test_read_table_tsv_gz_unix_millis_and_values(tmp_path: Path) -> None:
    path = write(
        tmp_path / "ratings.tsv.gz",
        "u\ti\tr\tt\n1\ta\t4.5\t1700000000123\n2\tb\t3\t1700000001999\n",
        compress=True,
    )
    tables = read_table(
        path, {"user_id": "u", "item_id": "i", "value": "r", "timestamp": "t"}, timestamp_unit="ms"
    )
    assert rows(tables.interactions) == [
        [1, "a", "rating", 4.5, 1700000000],
        [2, "b", "rating", 3.0, 1700000001],
    ]


def test_read_table_headerless_with_sep(tmp_path: Path) -> None:
    path = write(tmp_path / "clicks.txt", "1;5\n2;6\n")
    tables = read_table(
        path, {"user_id": "a", "item_id": "b"}, sep=";", names=["a", "b"], event="click", value=2.0
    )
    assert rows(tables.interactions) == [[1, 5, "click", 2.0, None], [2, 6, "click", 2.0, None]]


def test_read_table_parquet(tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    pd.DataFrame(
        {
            "uid": ["a", "b"],
            "iid": [3, 4],
            "ts": pd.to_datetime(["2024-01-01 00:00:01", "2024-01-01 00:00:02"]),
        }
    ).to_parquet(path)
    tables = read_table(
        path, {"user_id": "uid", "item_id": "iid", "timestamp": "ts"}, event="purchase"
    )
    assert rows(tables.interactions) == [
        ["a", 3, "purchase", 1.0, 1704067201],
        ["b", 4, "purchase", 1.0, 1704067202],
    ]


def test_read_table_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path / "log.csv",
        "user,item,score,when\n1,2,3,2024-01-01\n,3,4,2024-01-02\n5,6,x,\n7,8,1,yesterday\n",
    )
    with pytest.raises(
        DataFormatError, match=r"no column\(s\) \['sku'\].*'user', 'item', 'score', 'when'"
    ):
        read_table(path, {"user_id": "user", "item_id": "sku"})
    with pytest.raises(ConfigError, match=r"columns\.rating"):
        read_table(path, {"user_id": "user", "item_id": "item", "rating": "score"})
    with pytest.raises(ConfigError, match=r"columns\.item_id"):
        read_table(path, {"user_id": "user"})
    with pytest.raises(ConfigError, match="'value'"):
        read_table(path, {"user_id": "user", "item_id": "item", "value": "score"}, value=1.0)
    with pytest.raises(DataFormatError, match="missing user_id") as error:
        read_table(path, {"user_id": "user", "item_id": "item"})
    assert_error(error, path, 3)
    with pytest.raises(DataFormatError, match="is not a number: 'x'") as error:
        read_table(path, {"user_id": "item", "item_id": "item", "value": "score"})
    assert_error(error, path, 4)
    with pytest.raises(DataFormatError, match="unreadable: 'yesterday'") as error:
        read_table(path, {"user_id": "item", "item_id": "item", "timestamp": "when"})
    assert_error(error, path, 5)
    with pytest.raises(DataFormatError, match="pass sep="):
        read_table(write(tmp_path / "x.dat", "a\n1\n"), {"user_id": "a", "item_id": "a"})
