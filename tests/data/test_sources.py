"""Tests of the dataset readers on tiny files in the original formats, plus the real copies."""

from __future__ import annotations

import gzip
import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recforge.core.errors import ConfigError, DataFormatError, DatasetNotFoundError
from recforge.data.sources import (
    ncf_movie_ids,
    read_amazon_metadata,
    read_amazon_reviews,
    read_movielens,
    read_ncf,
    read_sequence_file,
    read_table,
    read_yelp,
)
from recforge.data.tables import INTERACTION_COLUMNS


def write(path: Path, data: str | bytes, *, compress: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    path.write_bytes(gzip.compress(raw, mtime=0) if compress else raw)
    return path


def truncated_gzip(path: Path, data: str) -> Path:
    packed = gzip.compress(data.encode() * 50, mtime=0)
    return write(path, packed[: len(packed) // 2])


def rows(frame: pd.DataFrame) -> list[list[object]]:
    """Interaction rows as plain Python values (``None`` for a missing timestamp)."""
    return [
        [u, i, e, float(v), None if pd.isna(t) else int(t)]
        for u, i, e, v, t in frame[list(INTERACTION_COLUMNS)].itertuples(index=False)
    ]


def assert_error(error: pytest.ExceptionInfo[DataFormatError], path: Path, line: int | None):
    assert error.value.path == str(path)
    assert error.value.line == line
    assert str(error.value).startswith(f"{path}:{line}:" if line else f"{path}:")


# --- MovieLens 100K ---------------------------------------------------------------------------

U_DATA = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t242\t1\t878887116\n"
GENRE_FLAGS = {
    242: "0|0|0|0|0|1|0|0|1|0|0|0|0|0|0|0|0|0|0",
    302: "0|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|1|0|0",
}


def write_100k(folder: Path, *, compress_data: bool = False) -> Path:
    name = "u.data.gz" if compress_data else "u.data"
    write(folder / name, U_DATA, compress=compress_data)
    items = (
        f"242|Kolya (1996)|24-Jan-1997||http://us.imdb.com/M/title-exact?Kolya|{GENRE_FLAGS[242]}\n"
        f"302|Caf\xe9 Noir (1997)|01-Jan-1997||http://x|{GENRE_FLAGS[302]}\n"
    )
    write(folder / "u.item", items.encode("latin-1"))
    write(
        folder / "u.user", "196|49|M|writer|55105\n186|39|F|executive|00000\n22|25|M|writer|40206\n"
    )
    genres = [
        "unknown",
        "Action",
        "Adventure",
        "Animation",
        "Children's",
        "Comedy",
        "Crime",
        "Documentary",
        "Drama",
        "Fantasy",
        "Film-Noir",
        "Horror",
        "Musical",
        "Mystery",
        "Romance",
        "Sci-Fi",
        "Thriller",
        "War",
        "Western",
    ]
    write(folder / "u.genre", "".join(f"{g}|{i}\n" for i, g in enumerate(genres)) + "\n")
    return folder


def test_movielens_100k_exact_values(tmp_path: Path) -> None:
    tables = read_movielens(write_100k(tmp_path / "ml-100k"))
    assert tables.name == "ml-100k"
    assert rows(tables.interactions) == [
        [196, 242, "rating", 3.0, 881250949],
        [186, 302, "rating", 3.0, 891717742],
        [22, 242, "rating", 1.0, 878887116],
    ]
    frame = tables.interactions
    assert list(frame.columns) == list(INTERACTION_COLUMNS)
    assert frame["user_id"].dtype == np.int64 and frame["timestamp"].dtype == "Int64"
    items = tables.items
    assert items is not None
    assert items["item_id"].tolist() == [242, 302]
    assert items["title"].tolist() == ["Kolya (1996)", "Café Noir (1997)"]  # latin-1 decoded
    assert items["year"].tolist() == [1996, 1997]
    assert items["genres"].tolist() == [["Comedy", "Drama"], ["Action", "Thriller"]]
    assert items["release_date"].tolist() == ["24-Jan-1997", "01-Jan-1997"]
    users = tables.users
    assert users is not None
    assert users.to_dict("list") == {
        "user_id": [196, 186, 22],
        "age": [49, 39, 25],
        "gender": ["M", "F", "M"],
        "occupation": ["writer", "executive", "writer"],
        "zip_code": ["55105", "00000", "40206"],
    }


def test_movielens_reads_gzipped_rating_file(tmp_path: Path) -> None:
    plain = read_movielens(write_100k(tmp_path / "a"))
    packed = read_movielens(write_100k(tmp_path / "b", compress_data=True))
    pd.testing.assert_frame_equal(plain.interactions, packed.interactions)


def test_movielens_truncated_gzip_names_the_file(tmp_path: Path) -> None:
    folder = write_100k(tmp_path / "ml-100k")
    (folder / "u.data").unlink()
    bad = truncated_gzip(folder / "u.data.gz", U_DATA)
    with pytest.raises(DataFormatError, match="truncated or corrupt") as error:
        read_movielens(folder)
    assert error.value.path == str(bad)


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        (U_DATA + "1\t2\t3\t4\t5\n", 4, "expected 4 fields, found 5"),
        ("1\t2\t3\t4\n1\t2\tfive\t4\n1\t2\t3\t4\n", 2, "'rating' is not a finite number: 'five'"),
        ("1\t2\t3\t4\n1\t2.5\t3\t4\n", 2, "'item_id' is not an integer"),
        (U_DATA + "7\t8\t4", 4, "expected 4 fields, found 3"),  # truncated last line
        ("1\t2\t3\t4\n\n1\t2\t3\t4\n", 2, "expected 4 fields, found 0"),  # blank line inside
        ("1\t\t3\t4\n", 1, "missing field 'item_id'"),
        ("1\t2\t3\n1\t2\t3\t4\n", 1, "expected 4 fields, found 3"),  # short first line
        ("1\t2\t3\t4\t9\n1\t2\t3\t4\n", 1, "expected 4 fields, found 5"),  # long first line
    ],
)
def test_movielens_malformed_rating_line(
    tmp_path: Path, content: str, line: int, message: str
) -> None:
    folder = write_100k(tmp_path / "ml-100k")
    path = write(folder / "u.data", content)
    with pytest.raises(DataFormatError, match=message) as error:
        read_movielens(folder)
    assert_error(error, path, line)


def test_movielens_trailing_blank_lines_are_harmless(tmp_path: Path) -> None:
    folder = write_100k(tmp_path / "ml-100k")
    write(folder / "u.data", U_DATA + "\n\n")
    assert len(read_movielens(folder).interactions) == 3


def test_movielens_bad_genre_flag_names_line(tmp_path: Path) -> None:
    folder = write_100k(tmp_path / "ml-100k")
    path = write(folder / "u.item", "1|A (1995)|||x|" + "|".join(["0"] * 18 + ["2"]) + "\n")
    with pytest.raises(DataFormatError, match="'Western' is '2'") as error:
        read_movielens(folder)
    assert_error(error, path, 1)


def test_movielens_item_file_with_missing_field(tmp_path: Path) -> None:
    folder = write_100k(tmp_path / "ml-100k")
    good = f"242|Kolya (1996)|24-Jan-1997||url|{GENRE_FLAGS[242]}\n"
    path = write(folder / "u.item", good + "302|X (1997)|||url|0|1\n")
    with pytest.raises(DataFormatError, match="expected 24 '\\|'-separated fields, found 7") as e:
        read_movielens(folder)
    assert_error(e, path, 2)


# --- MovieLens 1M / 10M -----------------------------------------------------------------------

MOVIES_1M = (
    "1::Toy Story (1995)::Animation|Children's|Comedy\n"
    "73::Mis\xe9rables, Les (1995)::Drama|Musical\n"
    "3952::Contender, The (2000)::Drama|Thriller\n"
)
USERS_1M = "1::F::1::10::48067\n2::M::56::16::70072\n"


def write_1m(folder: Path, *, ratings: bool = True) -> Path:
    if ratings:
        write(
            folder / "ratings.dat",
            "1::1193::5::978300760\n1::73::3::978302109\n2::1::4::978300275\n",
        )
    write(folder / "movies.dat", MOVIES_1M.encode("latin-1"))
    write(folder / "users.dat", USERS_1M)
    return folder


def test_movielens_1m_exact_values(tmp_path: Path) -> None:
    tables = read_movielens(write_1m(tmp_path / "ml-1m"))
    assert tables.name == "ml-1m"
    assert rows(tables.interactions) == [
        [1, 1193, "rating", 5.0, 978300760],
        [1, 73, "rating", 3.0, 978302109],
        [2, 1, "rating", 4.0, 978300275],
    ]
    items = tables.items
    assert items is not None
    assert items["title"].tolist()[1] == "Misérables, Les (1995)"
    assert items["genres"].tolist()[0] == ["Animation", "Children's", "Comedy"]
    assert items["year"].tolist() == [1995, 1995, 2000]
    users = tables.users
    assert users is not None
    assert users["occupation"].tolist() == ["K-12 student", "self-employed"]
    assert users["occupation_code"].tolist() == [10, 16]
    assert users["age"].tolist() == [1, 56]
    assert users["gender"].tolist() == ["F", "M"]


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ("1::2::3::4\n1::2::3\n", 2, "expected 4 fields, found 3"),
        ("1::2::3::4\n1::2::3::4::5\n", 2, "expected 4 fields, found 5"),
        ("1::2::3::4\n1::2::x::4\n", 2, "'rating' is not a finite number: 'x'"),
        ("1::2::3::4\n1:2::3::4\n", 2, "malformed '::' separator"),
    ],
)
def test_movielens_dat_malformed(tmp_path: Path, content: str, line: int, message: str) -> None:
    folder = write_1m(tmp_path / "ml-1m")
    path = write(folder / "ratings.dat", content)
    with pytest.raises(DataFormatError, match=message) as error:
        read_movielens(folder)
    assert_error(error, path, line)


def test_movielens_dat_movie_line_with_wrong_field_count(tmp_path: Path) -> None:
    folder = write_1m(tmp_path / "ml-1m")
    path = write(folder / "movies.dat", "1::Toy Story (1995)::Comedy\n2::Jumanji (1995)\n")
    with pytest.raises(DataFormatError, match="expected 3 '::'-separated fields, found 2") as e:
        read_movielens(folder)
    assert_error(e, path, 2)


def write_1m_derived(folder: Path, extra_rating: str = "") -> Path:
    write_1m(folder, ratings=False)
    write(
        folder / "derived" / "ratings_user_itemidx_rating.csv.gz",
        "user_id,item_idx,rating\n1,1,5\n1,2,3\n2,3,4\n" + extra_rating,
        compress=True,
    )
    write(
        folder / "ncf" / "ncf_item_to_item_idx.tsv",
        "ncf_item\titem_idx\tmovie_id\tresolution\n0\t3\t3952\tunique\n1\t1\t1\tunique\n"
        "2\t2\t73\tmodel+tie\n",
    )
    return folder


def test_movielens_1m_derived_ratings_without_timestamps(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="recforge.data.sources.movielens"):
        tables = read_movielens(write_1m_derived(tmp_path / "ml-1m"))
    assert tables.name == "ml-1m"
    assert rows(tables.interactions) == [
        [1, 1, "rating", 5.0, None],
        [1, 73, "rating", 3.0, None],
        [2, 3952, "rating", 4.0, None],
    ]
    assert tables.interactions["timestamp"].dtype == "Int64"
    assert "without timestamps" in caplog.text
    assert "timestamps" in tables.extras


def test_movielens_1m_derived_unknown_item_idx(tmp_path: Path) -> None:
    folder = write_1m_derived(tmp_path / "ml-1m", extra_rating="2,9,1\n")
    with pytest.raises(DataFormatError, match="item_idx 9 has no movie_id") as error:
        read_movielens(folder)
    assert error.value.line == 5


def test_movielens_10m_has_no_users(tmp_path: Path) -> None:
    folder = tmp_path / "ml-10M100K"
    write(folder / "ratings.dat", "1::122::5::838985046\n1::185::4.5::838983525\n")
    write(
        folder / "movies.dat",
        "122::Boomerang (1992)::Comedy|Romance\n185::Net, The (1995)::(no genres listed)\n",
    )
    tables = read_movielens(folder)
    assert tables.name == "ml-10m"
    assert tables.users is None
    assert tables.interactions["value"].tolist() == [5.0, 4.5]
    assert tables.items is not None
    assert tables.items["genres"].tolist() == [["Comedy", "Romance"], []]


def test_movielens_csv_layout(tmp_path: Path) -> None:
    folder = tmp_path / "ml-latest-small"
    write(
        folder / "ratings.csv",
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,0.5,964981247\n",
    )
    write(
        folder / "movies.csv",
        "movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n"
        '3,"American President, The (1995)",(no genres listed)\n',
    )
    write(folder / "links.csv", "movieId,imdbId,tmdbId\n1,0114709,862\n3,0112346,\n")
    tables = read_movielens(folder)
    assert tables.name == "ml-latest-small"
    assert rows(tables.interactions) == [
        [1, 1, "rating", 4.0, 964982703],
        [1, 3, "rating", 0.5, 964981247],
    ]
    items = tables.items
    assert items is not None
    assert items["title"].tolist() == ["Toy Story (1995)", "American President, The (1995)"]
    assert items["genres"].tolist() == [["Adventure", "Animation"], []]
    assert items["imdb_id"].tolist() == ["0114709", "0112346"]
    assert items["tmdb_id"].tolist()[0] == 862 and pd.isna(items["tmdb_id"].tolist()[1])


def test_movielens_csv_wrong_header(tmp_path: Path) -> None:
    path = write(tmp_path / "ml-25m" / "ratings.csv", "user,movie,rating,timestamp\n1,1,4.0,9\n")
    with pytest.raises(DataFormatError, match="expected header") as error:
        read_movielens(tmp_path / "ml-25m")
    assert_error(error, path, 1)


def test_movielens_csv_bad_line_counts_the_header(tmp_path: Path) -> None:
    folder = tmp_path / "ml-20m"
    path = write(folder / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,9\n1,2,,9\n")
    with pytest.raises(DataFormatError, match="missing field 'rating'") as error:
        read_movielens(folder)
    assert_error(error, path, 3)


def test_movielens_detection_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="no MovieLens ratings file"):
        read_movielens(tmp_path)
    with pytest.raises(DatasetNotFoundError):
        read_movielens(tmp_path / "absent")
    with pytest.raises(ValueError, match="unknown MovieLens variant"):
        read_movielens(write_100k(tmp_path / "x"), variant="ml-2m")
    assert read_movielens(write_100k(tmp_path / "y"), variant="ML-100K").name == "ml-100k"


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


# --- real copies under $RECFORGE_DATA ---------------------------------------------------------


def real_folder(name: str) -> Path:
    root = os.environ.get("RECFORGE_DATA")
    if not root or not (Path(root) / name).is_dir():
        pytest.skip(f"RECFORGE_DATA/{name} not available")
    return Path(root) / name


@pytest.mark.slow
def test_real_ml_100k() -> None:
    tables = read_movielens(real_folder("ml-100k"))
    frame = tables.interactions
    assert len(frame) == 100_000
    assert frame["user_id"].nunique() == 943 and frame["item_id"].nunique() == 1_682
    assert frame["timestamp"].notna().all()
    assert not frame.duplicated(["user_id", "item_id"]).any()
    assert tables.items is not None and len(tables.items) == 1_682
    assert tables.users is not None and len(tables.users) == 943
    assert tables.items.loc[tables.items["item_id"] == 1, "title"].item() == "Toy Story (1995)"
    assert sum("é" in t for t in tables.items["title"]) > 0  # latin-1 titles decoded


@pytest.mark.slow
def test_real_ml_1m_from_derived_ratings() -> None:
    tables = read_movielens(real_folder("ml-1m"))
    frame = tables.interactions
    assert len(frame) == 1_000_209
    assert frame["user_id"].nunique() == 6_040 and frame["item_id"].nunique() == 3_706
    assert frame["timestamp"].isna().all()
    assert frame["value"].value_counts().sort_index().tolist() == [
        56_174,
        107_557,
        261_197,
        348_971,
        226_310,
    ]
    items = tables.items
    assert items is not None and len(items) == 3_883
    assert frame["item_id"].isin(items["item_id"]).all()  # every rating joins to a title
    # DeepCTR's 200 sample rows (original ids, ratings and titles) all match this copy
    sample = pd.read_csv(real_folder("ml-1m") / "derived" / "deepctr_movielens_sample.txt")
    joined = sample.merge(
        frame.merge(items, on="item_id"),
        left_on=["user_id", "movie_id"],
        right_on=["user_id", "item_id"],
        how="left",
        suffixes=("_sample", ""),
    )
    assert len(joined) == 200
    assert (joined["value"] == joined["rating"]).all()
    assert (joined["title"] == joined["title_sample"]).all()
    assert tables.users is not None and len(tables.users) == 6_040


@pytest.mark.slow
def test_real_ncf_ml_1m_and_its_movie_ids() -> None:
    folder = real_folder("ml-1m")
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


@pytest.mark.slow
def test_real_amazon_beauty_s3rec() -> None:
    folder = real_folder("amazon-s3rec")
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
