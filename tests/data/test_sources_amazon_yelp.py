"""Amazon review/metadata and S3-Rec sequence files, and the Yelp Open Dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import assert_error, real_data, rows, truncated_gzip, write
from recforge.core.errors import DataFormatError, DatasetNotFoundError
from recforge.data.sources import (
    read_amazon_metadata,
    read_amazon_reviews,
    read_sequence_file,
    read_yelp,
)

# --- Amazon -----------------------------------------------------------------------------------

REVIEWS_2014 = (
    '{"reviewerID": "A2SUAM1J3GNN3B", "asin": "0000013714", "reviewerName": "J. McDonald", '
    '"helpful": [2, 3], "reviewText": "I bought this", "overall": 5.0, "summary": "Heavenly", '
    '"unixReviewTime": 1252800000, "reviewTime": "09 13, 2009"}\n'
    '{"reviewerID": "A1", "asin": "0000013714", "overall": 2.0, "unixReviewTime": 1252886400}\n'
)


def test_amazon_reviews_2014_gz(tmp_path: Path) -> None:
    path = write(tmp_path / "reviews_Beauty_5.json.gz", REVIEWS_2014, compress=True)
    tables = read_amazon_reviews(path)
    assert tables.name == "amazon-beauty_5"
    assert rows(tables.interactions) == [
        ["A2SUAM1J3GNN3B", "0000013714", "rating", 5.0, 1252800000],
        ["A1", "0000013714", "rating", 2.0, 1252886400],
    ]
    assert list(tables.extras["review_details"].columns) == []


def test_amazon_reviews_2018_details(tmp_path: Path) -> None:
    path = write(
        tmp_path / "Luxury_Beauty_5.json",
        '{"overall": 4.0, "vote": "1,234", "verified": true, "reviewTime": "01 1, 2018", '
        '"reviewerID": "U1", "asin": "B1", "style": {"Size:": " 3 oz"}, '
        '"unixReviewTime": 1514764800}\n'
        '{"overall": 1.0, "verified": false, "reviewerID": "U2", "asin": "B1", '
        '"unixReviewTime": 1514851200}\n',
    )
    tables = read_amazon_reviews(path)
    details = tables.extras["review_details"]
    assert details["verified"].tolist() == [True, False]
    assert details["vote"].tolist()[0] == 1234 and pd.isna(details["vote"].tolist()[1])
    assert tables.interactions["value"].tolist() == [4.0, 1.0]


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"reviewerID": "A3", "asin": "X", "overall": 5.0, "unixReviewTime": 1', "invalid JSON"),
        ('{"reviewerID": "A3", "overall": 5.0, "unixReviewTime": 1}', "missing key 'asin'"),
        (
            '{"reviewerID": "A3", "asin": "X", "overall": "five", "unixReviewTime": 1}',
            "'overall' is not a number",
        ),
    ],
)
def test_amazon_reviews_bad_line(tmp_path: Path, bad_line: str, message: str) -> None:
    path = write(tmp_path / "reviews_X.json", REVIEWS_2014 + bad_line + "\n" + REVIEWS_2014)
    with pytest.raises(DataFormatError, match=message) as error:
        read_amazon_reviews(path)
    assert_error(error, path, 3)


def test_amazon_reviews_truncated_gzip(tmp_path: Path) -> None:
    path = truncated_gzip(tmp_path / "reviews_X.json.gz", REVIEWS_2014)
    with pytest.raises(DataFormatError, match="truncated or corrupt") as error:
        read_amazon_reviews(path)
    assert error.value.path == str(path)


META_2014 = (
    "{'asin': '0000031852', 'title': 'Girls Ballet Tutu Zebra Hot Pink', 'price': 3.17, "
    "'related': {'also_bought': ['0000031895', 'B00D2K1M3O'], 'bought_together': ['B002BZX8Z6']}, "
    "'salesRank': {'Toys & Games': 211836}, 'brand': 'Coxlist', "
    "'categories': [['Sports & Outdoors', 'Other Sports', 'Dance'], "
    "['Clothing', 'Girls', 'Dance']]}\n"
    "{'asin': '0000032034', 'description': \"It's a tutu\", 'categories': [['Beauty']]}\n"
)


def test_amazon_metadata_2014_python_literals(tmp_path: Path) -> None:
    items = read_amazon_metadata(write(tmp_path / "meta_Toys.json.gz", META_2014, compress=True))
    assert items["item_id"].tolist() == ["0000031852", "0000032034"]
    assert items["title"].tolist() == ["Girls Ballet Tutu Zebra Hot Pink", None]
    assert items["brand"].tolist() == ["Coxlist", None]
    assert items["price"].tolist()[0] == 3.17 and np.isnan(items["price"].tolist()[1])
    assert items["categories"].tolist()[0] == [
        "Sports & Outdoors",
        "Other Sports",
        "Dance",
        "Clothing",
        "Girls",
    ]
    assert items["category_paths"].tolist()[1] == [["Beauty"]]
    assert items["related"].tolist()[0]["bought_together"] == ["B002BZX8Z6"]


def test_amazon_metadata_2018_json(tmp_path: Path) -> None:
    path = write(
        tmp_path / "meta_All_Beauty.json",
        '{"category": ["Beauty", "Skin Care"], "title": "Cream", "brand": "Acme", '
        '"price": "$1,007.99", "asin": "B01", "also_buy": ["B02"], "also_view": []}\n'
        '{"category": [], "title": "", "price": "", "asin": "B02"}\n',
    )
    items = read_amazon_metadata(path)
    assert items["title"].tolist() == ["Cream", None]
    assert items["price"].tolist()[0] == 1007.99 and np.isnan(items["price"].tolist()[1])
    assert items["categories"].tolist() == [["Beauty", "Skin Care"], []]
    assert items["related"].tolist() == [{"also_buy": ["B02"]}, {}]


def test_amazon_metadata_bad_line(tmp_path: Path) -> None:
    path = write(tmp_path / "meta_X.json", META_2014 + "{'asin': 'B', 'title': oops}\n")
    with pytest.raises(DataFormatError, match="neither JSON nor a Python dict literal") as error:
        read_amazon_metadata(path)
    assert_error(error, path, 3)
    path = write(tmp_path / "meta_Y.json", "{'title': 'no asin'}\n")
    with pytest.raises(DataFormatError, match="no 'asin'"):
        read_amazon_metadata(path)


def test_sequence_file_with_attributes(tmp_path: Path) -> None:
    sequences = write(tmp_path / "Beauty.txt.gz", "1 1 2 3\n2 4 2\n3 1 1 5\n", compress=True)
    attributes = write(
        tmp_path / "Beauty_item2attributes.json",
        json.dumps({"1": [1, 2], "2": [3], "3": [], "4": [2], "5": [1], "6": [4]}),
    )
    tables = read_sequence_file(sequences, attributes)
    assert tables.name == "Beauty"
    assert tables.extras["timestamp_is_position"] is True
    assert rows(tables.interactions) == [
        [1, 1, "purchase", 1.0, 0],
        [1, 2, "purchase", 1.0, 1],
        [1, 3, "purchase", 1.0, 2],
        [2, 4, "purchase", 1.0, 0],
        [2, 2, "purchase", 1.0, 1],
        [3, 1, "purchase", 1.0, 0],
        [3, 1, "purchase", 1.0, 1],
        [3, 5, "purchase", 1.0, 2],
    ]
    items = tables.items
    assert items is not None
    assert items["item_id"].tolist() == [1, 2, 3, 4, 5, 6]  # item 6 only in the attributes
    assert items["attributes"].tolist() == [[1, 2], [3], [], [2], [1], [4]]


def test_sequence_file_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", "1 1 2\n2\n")
    with pytest.raises(DataFormatError, match="user '2' has no items") as error:
        read_sequence_file(path)
    assert_error(error, path, 2)
    path = write(tmp_path / "b.txt", "1 1 2\n\n2 3\n")
    with pytest.raises(DataFormatError, match="blank line") as error:
        read_sequence_file(path)
    assert_error(error, path, 2)
    path = truncated_gzip(tmp_path / "c.txt.gz", "1 1 2 3 4 5\n")
    with pytest.raises(DataFormatError, match="truncated") as error:
        read_sequence_file(path)
    assert error.value.path == str(path)
    good = write(tmp_path / "d.txt", "1 1 2\n")
    attributes = write(tmp_path / "d.json", '{"1": [1], "2": ')
    with pytest.raises(DataFormatError, match="invalid JSON") as error:
        read_sequence_file(good, attributes)
    assert error.value.path == str(attributes)


def test_sequence_file_keeps_string_ids(tmp_path: Path) -> None:
    tables = read_sequence_file(write(tmp_path / "s.txt", "alice B01 B02\n"))
    assert tables.interactions["user_id"].tolist() == ["alice", "alice"]
    assert tables.interactions["item_id"].tolist() == ["B01", "B02"]


# --- Yelp -------------------------------------------------------------------------------------


def write_yelp(folder: Path, extra_review: str = "") -> Path:
    write(
        folder / "yelp_academic_dataset_review.json",
        '{"review_id":"KU_O5udG6zpxOg-VcAEodg","user_id":"mh_-eMZ6K5RLWhZyISBhwA",'
        '"business_id":"XQfwVwDr-v0ZS3_CbbE5Xw","stars":3.0,"useful":0,"funny":0,"cool":0,'
        '"text":"If you decide to eat here","date":"2018-07-07 22:09:11"}\n'
        '{"review_id":"r2","user_id":"u2","business_id":"XQfwVwDr-v0ZS3_CbbE5Xw","stars":5,'
        '"useful":2,"funny":1,"cool":0,"text":"Great","date":"1970-01-02 00:00:00"}\n'
        + extra_review,
    )
    write(
        folder / "yelp_academic_dataset_business.json.gz",
        '{"business_id":"XQfwVwDr-v0ZS3_CbbE5Xw","name":"Turning Point of North Wales",'
        '"address":"1460 Bethlehem Pike","city":"North Wales","state":"PA","postal_code":"19454",'
        '"latitude":40.21,"longitude":-75.22,"stars":3.0,"review_count":169,"is_open":1,'
        '"attributes":{"NoiseLevel":"u\'average\'"},'
        '"categories":"Restaurants, Breakfast & Brunch, Food","hours":null}\n'
        '{"business_id":"b2","name":"Nowhere","city":"X","state":"Y","stars":4.5,'
        '"review_count":5,"is_open":0,"categories":null}\n',
        compress=True,
    )
    write(
        folder / "yelp_academic_dataset_user.json",
        '{"user_id":"u2","name":"Walker","review_count":585,"yelping_since":"2007-01-25 16:47:26",'
        '"friends":"a, b, c","average_stars":3.91,"fans":267}\n',
    )
    return folder


def test_yelp_reads_reviews_businesses_users(tmp_path: Path) -> None:
    tables = read_yelp(write_yelp(tmp_path))
    assert tables.name == "yelp"
    assert rows(tables.interactions) == [
        ["mh_-eMZ6K5RLWhZyISBhwA", "XQfwVwDr-v0ZS3_CbbE5Xw", "rating", 3.0, 1531001351],
        ["u2", "XQfwVwDr-v0ZS3_CbbE5Xw", "rating", 5.0, 86400],
    ]
    details = tables.extras["review_details"]
    assert details["review_id"].tolist() == ["KU_O5udG6zpxOg-VcAEodg", "r2"]
    assert details["useful"].tolist() == [0, 2]
    items = tables.items
    assert items is not None
    assert items["item_id"].tolist() == ["XQfwVwDr-v0ZS3_CbbE5Xw", "b2"]
    assert items["title"].tolist() == ["Turning Point of North Wales", "Nowhere"]
    assert items["categories"].tolist() == [["Restaurants", "Breakfast & Brunch", "Food"], []]
    assert items["review_count"].tolist() == [169, 5]
    users = tables.users
    assert users is not None
    assert users.loc[0, "review_count"] == 585 and "friends" not in users.columns


def test_yelp_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"yelp_academic_dataset_review\.json"):
        read_yelp(tmp_path)
    folder = write_yelp(
        tmp_path / "a", '\n{"user_id":"u","business_id":"b","stars":1,"date":"07/07/2018"}\n'
    )
    with pytest.raises(DataFormatError, match="'07/07/2018' is not 'YYYY-MM-DD HH:MM:SS'") as error:
        read_yelp(folder)
    assert error.value.line == 4  # the blank line 3 is skipped but counted
    folder = write_yelp(
        tmp_path / "b", '{"user_id":"u","business_id":"b","date":"2018-01-01 00:00:00"}\n'
    )
    with pytest.raises(DataFormatError, match="missing key 'stars'") as error:
        read_yelp(folder)
    assert error.value.line == 3


@pytest.mark.slow
def test_real_amazon_beauty_s3rec() -> None:
    folder = real_data("amazon-s3rec")
    tables = read_sequence_file(folder / "Beauty.txt.gz", folder / "Beauty_item2attributes.json.gz")
    frame = tables.interactions
    assert len(frame) == 198_502
    assert frame["user_id"].nunique() == 22_363
    assert frame["item_id"].nunique() == 12_101 and int(frame["item_id"].max()) == 12_101
    assert int(frame.groupby("user_id").size().min()) == 5
    items = tables.items
    assert items is not None and len(items) == 12_101
    assert (items["attributes"].map(len) > 0).all()
    assert len({a for attributes in items["attributes"] for a in attributes}) == 637
