"""CTR row tables: the next-behaviour protocol, the random-split protocols and the dispatcher."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import real_data, write
from recforge.core.errors import DatasetNotFoundError
from recforge.data.ctr import (
    CTR_DATASETS,
    CTRTables,
    amazon_ctr_tables,
    criteo_ctr_tables,
    ctr_tables,
    movielens_cross_tables,
    movielens_ctr_tables,
    next_behaviour_rows,
)
from recforge.data.sources import read_sequence_file
from recforge.data.sources.criteo import CATEGORICAL_COLUMNS, COLUMNS, INTEGER_COLUMNS
from recforge.data.tables import Tables, make_interactions

# user "a": 6 behaviours given out of order, two share time 30 (file order decides: 13 then 14);
# user "b": 4 behaviours; user "c": 3 behaviours (too few for a training row)
BEHAVIOURS = pd.DataFrame(
    {
        "user_id": ["a", "b", "a", "a", "c", "a", "b", "a", "c", "b", "a", "c", "b"],
        "item_id": [12, 20, 11, 13, 30, 14, 21, 15, 31, 22, 16, 32, 23],
        "timestamp": [20, 5, 10, 30, 1, 30, 6, 40, 2, 7, 50, 3, 8],
    }
)
ORDERED = {"a": [11, 12, 13, 14, 15, 16], "b": [20, 21, 22, 23], "c": [30, 31, 32]}


def history(events: pd.DataFrame, user: str, timestamp: int) -> list[int]:
    """The user's events strictly before ``timestamp``, in order (what a pipeline builds)."""
    mine = events[(events["user_id"] == user) & (events["timestamp"] < timestamp)]
    return mine.sort_values("timestamp")["item_id"].tolist()


def positives(frame: pd.DataFrame, user: str) -> list[int]:
    return frame[(frame["user_id"] == user) & (frame["label"] == 1)]["item_id"].tolist()


def test_rows_per_user_and_last_behaviour_in_test() -> None:
    rows = next_behaviour_rows(BEHAVIOURS, np.arange(100), np.random.default_rng(0))
    assert positives(rows.train, "a") == [12, 13, 14]  # t = 2..n-2
    assert positives(rows.valid, "a") == [15] and positives(rows.test, "a") == [16]
    assert positives(rows.train, "b") == [21]
    assert positives(rows.valid, "b") == [22] and positives(rows.test, "b") == [23]
    for frame in (rows.train, rows.valid, rows.test):
        assert "c" not in set(frame["user_id"])
        assert frame["label"].dtype == np.int8
    assert rows.short_users.tolist() == ["c"] and rows.n_short_behaviours == 3
    # every behaviour stays an event, c's too, at its position in the user's sequence
    for user, items in ORDERED.items():
        mine = rows.events[rows.events["user_id"] == user]
        assert mine["item_id"].tolist() == items
        assert mine["timestamp"].tolist() == list(range(len(items)))


def test_each_positive_has_one_negative_the_user_never_touched() -> None:
    seen = pd.DataFrame({"user_id": ["a"] * 3, "item_id": [40, 41, 42]})  # e.g. low ratings
    catalogue = np.array([10, 11, 12, 13, 14, 15, 16, 40, 41, 42])  # b: all free but its own
    rows = next_behaviour_rows(BEHAVIOURS, catalogue, np.random.default_rng(3), seen=seen)
    for frame in (rows.train, rows.valid, rows.test):
        assert frame["label"].tolist() == [1, 0] * (len(frame) // 2)
        pos, neg = frame.iloc[0::2], frame.iloc[1::2]
        assert (pos["user_id"].to_numpy() == neg["user_id"].to_numpy()).all()
        assert (pos["timestamp"].to_numpy() == neg["timestamp"].to_numpy()).all()
        for user, item in zip(neg["user_id"], neg["item_id"], strict=True):
            assert item in catalogue
            assert item not in ORDERED[user]  # not even a later behaviour
        # 10 is the one catalogue item "a" neither did nor saw
        assert set(neg[neg["user_id"] == "a"]["item_id"]) == {10}


def test_the_only_free_item_is_always_the_negative() -> None:
    behaviours = pd.DataFrame({"user_id": [1] * 5, "item_id": [0, 1, 2, 3, 4], "timestamp": 0})
    rows = next_behaviour_rows(behaviours, np.arange(6), np.random.default_rng(0))
    negatives = pd.concat([rows.train, rows.valid, rows.test]).query("label == 0")
    assert set(negatives["item_id"]) == {5}
    # ties everywhere: input order is the order
    assert rows.test["item_id"].iloc[0] == 4 and rows.train["item_id"].iloc[0] == 1


def test_history_is_exactly_the_earlier_behaviours() -> None:
    rows = next_behaviour_rows(BEHAVIOURS, np.arange(100), np.random.default_rng(0))
    for frame in (rows.train, rows.valid, rows.test):
        for user, item, timestamp, label in frame.itertuples(index=False):
            sequence = ORDERED[user]
            earlier = history(rows.events, user, timestamp)
            assert earlier == sequence[:timestamp]  # b_1 .. b_{t-1}
            if label == 1:
                assert sequence[timestamp] == item and item not in earlier
    test_a = rows.test[rows.test["user_id"] == "a"]["timestamp"].iloc[0]
    assert history(rows.events, "a", test_a) == [11, 12, 13, 14, 15]


def test_seeded_negatives() -> None:
    first = next_behaviour_rows(BEHAVIOURS, np.arange(1000), np.random.default_rng(5))
    again = next_behaviour_rows(BEHAVIOURS, np.arange(1000), np.random.default_rng(5))
    other = next_behaviour_rows(BEHAVIOURS, np.arange(1000), np.random.default_rng(6))
    pd.testing.assert_frame_equal(first.train, again.train)
    assert not first.train["item_id"].equals(other.train["item_id"])


# --- dataset builders on hand-made tables ---------------------------------------------------


def test_amazon_category_is_the_last_attribute(tmp_path: Path) -> None:
    sequences = write(tmp_path / "Toy.txt", "1 1 2 3 4\n2 2 3 4 5 1\n")
    # brand first, then category levels; item 3 lists a level twice; item 6 nobody bought
    attributes = {
        "1": [9, 1, 2],
        "2": [1, 3],
        "3": [8, 1, 4, 1, 5],
        "4": [6],
        "5": [7, 1],
        "6": [1],
    }
    write(tmp_path / "attrs.json", json.dumps(attributes))
    tables = read_sequence_file(sequences, tmp_path / "attrs.json", name="toy")
    ctr = amazon_ctr_tables(tables, seed=0, name="toy")
    items = ctr.items.set_index("item_id")
    assert items.loc[3, "attributes"] == (8, 1, 4, 5) and items.loc[3, "category"] == 5
    assert items.loc[1, "category"] == 2 and items.loc[4, "category"] == 6
    assert ctr.multi == {"attributes": 4} and ctr.sparse == ("user_id", "item_id", "category")
    assert ctr.history == ("item_id", "category") and ctr.users is None
    assert positives(ctr.test, 1) == [4] and positives(ctr.test, 2) == [1]
    assert len(ctr.train) == 2 * (1 + 2) and len(ctr.valid) == len(ctr.test) == 4
    negatives = pd.concat([ctr.train, ctr.valid, ctr.test]).query("label == 0")
    assert set(negatives[negatives["user_id"] == 1]["item_id"]) <= {5, 6}
    assert set(negatives[negatives["user_id"] == 2]["item_id"]) == {6}
    assert "train 6 rows (3 positive, 2 users)" in ctr.description


def movielens_tables() -> Tables:
    # user 1: 5 clicks (two at the same second) and a 2-star rating of movie 7;
    # user 2: 3 clicks (too few); user 3: no click at all
    ratings = [
        (1, 1, 5, 100), (1, 2, 4, 200), (1, 7, 2, 250), (1, 3, 4, 300), (1, 4, 5, 300),
        (1, 5, 4, 400), (2, 1, 4, 10), (2, 2, 5, 20), (2, 3, 4, 30), (3, 1, 1, 5),
    ]  # fmt: skip
    users, items, values, times = zip(*ratings, strict=True)
    interactions = make_interactions(users, items, value=values, timestamp=times)
    movies = pd.DataFrame(
        {
            "item_id": [1, 2, 3, 4, 5, 6, 7, 8],
            "year": pd.array([1995, 1987, None, 1960, 1999, 2000, 1995, 1994], dtype="Int64"),
            "genres": [["Animation", "Comedy"], ["Drama"], [], ["Comedy"], ["War"],
                       ["Drama"], ["Horror"], ["Action", "Crime", "Drama"]],
        }
    )  # fmt: skip
    people = pd.DataFrame(
        {
            "user_id": [1, 2, 3],
            "age": [24, 17, 60],
            "gender": ["M", "F", "M"],
            "occupation": ["writer", "student", "other"],
            "zip_code": ["55105", "T8H1N", ""],
        }
    )
    return Tables(interactions=interactions, items=movies, users=people, name="toy")


def test_movielens_clicks_protocol() -> None:
    ctr = movielens_ctr_tables(movielens_tables(), seed=0, name="toy")
    assert positives(ctr.train, 1) == [2, 3] and positives(ctr.valid, 1) == [4]
    assert positives(ctr.test, 1) == [5]  # 3 and 4 share a time: file order
    assert set(ctr.train["user_id"]) == {1}
    negatives = pd.concat([ctr.train, ctr.valid, ctr.test]).query("label == 0")
    assert set(negatives["item_id"]) <= {6, 8}  # never rated; 7 was rated 2 stars
    users = ctr.users.set_index("user_id")
    assert users["age"].tolist() == [18, 1, 56]
    assert users["zip_prefix"].tolist() == ["5", "T", None]
    items = ctr.items.set_index("item_id")
    assert (
        items.loc[1, "genres"] == ("Animation", "Comedy")
        and items.loc[1, "category"] == "Animation"
    )
    assert items.loc[3, "category"] is None and items.loc[3, "decade"] is None
    assert items.loc[4, "decade"] == "1960s"
    assert ctr.multi == {"genres": 3} and ctr.history == ("item_id", "category")
    assert {"gender", "age", "occupation", "zip_prefix", "decade"} <= set(ctr.sparse)
    assert "1 user with fewer than 4 clicks: no rows (their 3 clicks" in ctr.description
    assert "1 user without any click" in ctr.description
    assert history(ctr.events, 1, int(ctr.test["timestamp"].iloc[0])) == [1, 2, 3, 4]


def test_movielens_cross_protocol() -> None:
    tables = movielens_tables()
    many = pd.concat([tables.interactions] * 3, ignore_index=True)  # 30 rows
    many["timestamp"] = pd.array([pd.NA] * len(many), dtype="Int64")
    tables = Tables(interactions=many, items=tables.items, users=tables.users)
    ctr = movielens_cross_tables(tables, seed=4, name="toy", drop_neutral=False)
    assert (len(ctr.train), len(ctr.valid), len(ctr.test)) == (24, 3, 3)
    every = pd.concat([ctr.train, ctr.valid, ctr.test]).sort_values("timestamp")
    assert every["timestamp"].tolist() == list(range(30))  # disjoint, nothing lost
    assert every["label"].tolist() == (many["value"] >= 4).astype(int).tolist()
    assert ctr.events is None and ctr.history == ()
    assert set(ctr.sparse) == {"user_id", "item_id", "gender", "age", "occupation"} | {
        "zip_code",
        "release_year",
    }
    assert ctr.users["zip_code"].tolist() == ["55105", "T8H1N", ""]
    assert ctr.items.set_index("item_id").loc[3, "release_year"] is None
    again = movielens_cross_tables(tables, seed=4, name="toy", drop_neutral=False)
    pd.testing.assert_frame_equal(ctr.test, again.test)


def test_movielens_cross_drops_neutral_ratings() -> None:
    tables = movielens_tables()
    many = pd.concat([tables.interactions] * 3, ignore_index=True)
    many["value"] = np.tile([1.0, 2.0, 3.0, 4.0, 5.0], len(many) // 5)
    tables = Tables(interactions=many, items=tables.items, users=tables.users)
    ctr = movielens_cross_tables(tables, seed=4, name="toy")
    rows = pd.concat([ctr.train, ctr.valid, ctr.test])
    assert len(rows) == int((many["value"] != 3).sum()) == 24
    assert rows["label"].sum() == int((many["value"] >= 4).sum())  # 4s and 5s, none lost
    assert "6 neutral ratings of 3 removed" in ctr.description


def test_criteo_rows() -> None:
    frame = pd.DataFrame({name: [None] * 20 for name in COLUMNS})
    frame["label"] = np.array([1, 0] * 10, dtype=np.int8)
    frame["I1"] = np.arange(20.0)
    ctr = criteo_ctr_tables(frame, seed=1)
    assert (len(ctr.train), len(ctr.valid), len(ctr.test)) == (16, 2, 2)
    assert ctr.sparse == ("user_id", "item_id", *CATEGORICAL_COLUMNS)
    assert ctr.dense == INTEGER_COLUMNS and ctr.multi == {} and ctr.events is None
    assert set(ctr.train["user_id"]) == {0} and set(ctr.train["item_id"]) == {0}
    every = pd.concat([ctr.train, ctr.valid, ctr.test]).sort_values("timestamp")
    assert every["I1"].tolist() == list(np.arange(20.0))


def test_tables_refuse_undeclared_columns() -> None:
    rows = pd.DataFrame({"user_id": [1], "item_id": [2], "timestamp": [0], "label": [1]})
    rows["label"] = rows["label"].astype(np.int8)
    fields = {"multi": {}, "dense": (), "history": (), "description": ""}
    CTRTables("x", rows, rows, rows, None, None, None, sparse=("user_id", "item_id"), **fields)
    with pytest.raises(ValueError, match="declared column 'genre' is in no table"):
        CTRTables("x", rows, rows, rows, None, None, None, sparse=("genre",), **fields)
    with pytest.raises(ValueError, match="label must be int8"):
        CTRTables("x", rows.astype({"label": float}), rows, rows, None, None, None, (), **fields)


# --- the dispatcher ------------------------------------------------------------------------


def test_unknown_name_and_missing_data(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="unknown CTR dataset 'ml-2m'; known: amaz"):
        ctr_tables("ml-2m", root=tmp_path)
    with pytest.raises(DatasetNotFoundError, match=r"ml-100k.*RECFORGE_DATA") as error:
        ctr_tables("ml-100k", root=tmp_path)
    assert str(tmp_path / "ml-100k") in str(error.value)
    (tmp_path / "criteo-sample").mkdir()
    with pytest.raises(DatasetNotFoundError, match=r"criteo_sample\.txt.*not found"):
        ctr_tables("criteo-sample", root=tmp_path)
    assert CTR_DATASETS == ("amazon-beauty", "ml-100k", "ml-1m-cross", "criteo-sample", "criteo")


# --- real data --------------------------------------------------------------------------------


def split_sizes(ctr: CTRTables) -> tuple[int, int, int]:
    return len(ctr.train), len(ctr.valid), len(ctr.test)


@pytest.mark.slow
def test_real_amazon_beauty() -> None:
    ctr = ctr_tables("amazon-beauty", root=real_data("amazon-s3rec").parent)
    assert split_sizes(ctr) == (262_826, 44_726, 44_726)
    assert ctr.test["user_id"].nunique() == 22_363 and len(ctr.events) == 198_502
    assert ctr.multi == {"attributes": 6} and ctr.items["category"].nunique() == 195
    last = ctr.events.groupby("user_id")["timestamp"].max()
    test_positive = ctr.test[ctr.test["label"] == 1].set_index("user_id")["timestamp"]
    assert (test_positive == last.loc[test_positive.index]).all()
    touched = set(zip(ctr.events["user_id"], ctr.events["item_id"], strict=True))
    negatives = pd.concat([ctr.train, ctr.valid, ctr.test]).query("label == 0")
    assert not any(
        pair in touched for pair in zip(negatives["user_id"], negatives["item_id"], strict=True)
    )


@pytest.mark.slow
def test_real_movielens_100k() -> None:
    ctr = ctr_tables("ml-100k", root=real_data("ml-100k").parent, seed=1)
    assert split_sizes(ctr) == (105_098, 1_880, 1_880)
    assert len(ctr.events) == 55_375 and ctr.multi == {"genres": 6}
    assert "2 users with fewer than 4 clicks: no rows (their 6 clicks" in ctr.description


@pytest.mark.slow
def test_real_movielens_1m_cross() -> None:
    ctr = ctr_tables("ml-1m-cross", root=real_data("ml-1m").parent)
    assert split_sizes(ctr) == (591_210, 73_901, 73_901)  # 1,000,209 less 261,197 threes
    labels = pd.concat([ctr.train, ctr.valid, ctr.test])["label"]
    assert int(labels.sum()) == 575_281
    assert ctr.items["item_id"].isin(ctr.train["item_id"]).sum() > 3_600  # MovieIDs joined
    assert set(ctr.train["item_id"]) <= set(ctr.items["item_id"])


@pytest.mark.slow
def test_real_criteo_sample_rows() -> None:
    ctr = ctr_tables("criteo-sample", root=real_data("criteo-sample").parent)
    assert split_sizes(ctr) == (160, 20, 20)
    assert int(pd.concat([ctr.train, ctr.valid, ctr.test])["label"].sum()) == 49
