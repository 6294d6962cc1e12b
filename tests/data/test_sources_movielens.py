"""MovieLens readers on files in the GroupLens formats, and on the real copies."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import assert_error, real_data, rows, truncated_gzip, write
from recforge.core.errors import DataFormatError, DatasetNotFoundError
from recforge.data.sources import (
    read_movielens,
)
from recforge.data.tables import INTERACTION_COLUMNS

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


@pytest.mark.slow
def test_real_ml_100k() -> None:
    tables = read_movielens(real_data("ml-100k"))
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
    tables = read_movielens(real_data("ml-1m"))
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
    sample = pd.read_csv(real_data("ml-1m") / "derived" / "deepctr_movielens_sample.txt")
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
