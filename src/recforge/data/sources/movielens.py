"""MovieLens (GroupLens) readers for the original published file layouts.

=============  ==========================================================================
variant        files read
=============  ==========================================================================
``100k``       ``u.data`` (TAB: user, item, rating, unix time), ``u.item`` (``|``, ISO-8859-1,
               19 genre flags), ``u.user`` (``|``: age, gender, occupation, zip), ``u.genre``
``1m``         ``ratings.dat`` (``UserID::MovieID::Rating::Timestamp``), ``movies.dat``
               (``MovieID::Title::Genres``, ISO-8859-1), ``users.dat``
``10m``        ``ratings.dat``, ``movies.dat`` (no ``users.dat``)
``20m`` ...    ``ratings.csv`` (``userId,movieId,rating,timestamp``), ``movies.csv`` (quoted
               CSV, UTF-8), ``links.csv`` when present (``imdb_id``/``tmdb_id`` on items);
               also ``25m``, ``32m``, ``latest``, ``latest-small``
=============  ==========================================================================

Every file may also be gzip'd (``u.data.gz`` ...). Ratings become events ``rating`` with the
rating as ``value``. Items carry ``item_id`` (the MovieID), ``title``, ``year`` (from the title)
and ``genres`` (list of str); users carry ``user_id`` and the demographic columns.

ML-1M without ``ratings.dat``: the copy under ``$RECFORGE_DATA/ml-1m`` lacks the original
ratings file and has ``derived/ratings_user_itemidx_rating.csv.gz`` (``user_id,item_idx,rating``)
plus ``ncf/ncf_item_to_item_idx.tsv`` (``item_idx`` -> ``movie_id``). The reader then takes
ratings from there, maps ``item_idx`` to the MovieID, leaves timestamps ``<NA>`` and logs a
warning, so time-ordered splits are impossible on that copy.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from recforge.core.errors import DataFormatError, DatasetNotFoundError
from recforge.data.sources._common import (
    Field,
    decode_with_fallback,
    find_file,
    read_delimited,
    reading,
    split_lines,
    year_from_title,
)
from recforge.data.sources.ncf import read_ncf_item_map
from recforge.data.tables import Tables, make_interactions

logger = logging.getLogger(__name__)

GENRES_100K = (
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
)
"""The 19 genre flags of ML-100K ``u.item``, in column order (as in ``u.genre``)."""

OCCUPATIONS_1M = (
    "other",
    "academic/educator",
    "artist",
    "clerical/admin",
    "college/grad student",
    "customer service",
    "doctor/health care",
    "executive/managerial",
    "farmer",
    "homemaker",
    "K-12 student",
    "lawyer",
    "programmer",
    "retired",
    "sales/marketing",
    "scientist",
    "self-employed",
    "technician/engineer",
    "tradesman/craftsman",
    "unemployed",
    "writer",
)
"""ML-1M ``users.dat`` occupation codes 0..20 (from the ML-1M README; 0 = other/not specified)."""

VARIANTS = ("100k", "1m", "10m", "20m", "25m", "32m", "latest", "latest-small")
_LAYOUT = {
    "100k": "u",
    "1m": "dat",
    "10m": "dat",
    "20m": "csv",
    "25m": "csv",
    "32m": "csv",
    "latest": "csv",
    "latest-small": "csv",
}
_RATING_FIELDS = (
    Field("user_id", "int"),
    Field("item_id", "int"),
    Field("rating", "float"),
    Field("timestamp", "int"),
)
_DERIVED_1M = "derived/ratings_user_itemidx_rating.csv"
_ITEM_MAP_1M = "ncf/ncf_item_to_item_idx.tsv"


def read_movielens(path: str | Path, variant: str | None = None) -> Tables:
    """Read an unpacked MovieLens folder in its original GroupLens layout.

    Args:
        path: the folder holding the files (``ml-100k/``, ``ml-1m/``, ``ml-10M100K/`` ...).
        variant: one of :data:`VARIANTS` (``ml-`` prefix allowed); detected from the files
            present when ``None``.

    Returns:
        :class:`~recforge.data.tables.Tables` named ``ml-<variant>``; ``users`` is ``None``
        where the variant has no user file (10M and later).

    Raises:
        DatasetNotFoundError: the folder or a needed file is missing.
        DataFormatError: a file is malformed (names the file and line).

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "ratings.csv").write_text(
        ...     "userId,movieId,rating,timestamp\\n1,10,4.5,964982703\\n2,10,3.0,964982224\\n")
        >>> _ = (folder / "movies.csv").write_text(
        ...     'movieId,title,genres\\n10,"GoldenEye (1995)",Action|Adventure|Thriller\\n')
        >>> tables = read_movielens(folder)
        >>> tables.interactions["value"].tolist()
        [4.5, 3.0]
        >>> tables.items.loc[0, "genres"]
        ['Action', 'Adventure', 'Thriller']
    """
    directory = Path(path)
    if not directory.is_dir():
        raise DatasetNotFoundError(f"MovieLens folder {directory} not found")
    variant = _normalise_variant(variant) if variant is not None else detect_variant(directory)
    layout = _LAYOUT[variant]
    if layout == "u":
        tables = _read_100k(directory)
    elif layout == "dat":
        tables = _read_dat(directory, variant)
    else:
        tables = _read_csv_layout(directory)
    tables.name = f"ml-{variant}"
    return tables


def detect_variant(directory: str | Path) -> str:
    """Guess the MovieLens variant from the files in ``directory``.

    ``u.data`` -> ``100k``; ``ratings.dat`` (or the ML-1M derived ratings) with ``users.dat``
    -> ``1m``, without -> ``10m``; ``ratings.csv`` -> ``20m``/``25m``/``32m``/``latest-small``
    when the folder is named so, else ``latest``.
    """
    directory = Path(directory)
    if find_file(directory, "u.data"):
        return "100k"
    has_dat = find_file(directory, "ratings.dat") or find_file(directory, _DERIVED_1M)
    if has_dat:
        return "1m" if find_file(directory, "users.dat") else "10m"
    if find_file(directory, "ratings.csv"):
        folder = directory.name.lower()
        for candidate in ("20m", "25m", "32m", "latest-small"):
            if folder.endswith(candidate):
                return candidate
        return "latest"
    raise DatasetNotFoundError(
        f"{directory} holds no MovieLens ratings file (looked for u.data, ratings.dat, "
        f"ratings.csv, {_DERIVED_1M}.gz)"
    )


def _normalise_variant(variant: str) -> str:
    key = variant.lower().removeprefix("ml-")
    if key not in _LAYOUT:
        raise ValueError(f"unknown MovieLens variant {variant!r}; known: {', '.join(VARIANTS)}")
    return key


def _need(directory: Path, name: str) -> Path:
    found = find_file(directory, name)
    if found is None:
        raise DatasetNotFoundError(f"{directory / name} not found")
    return found


def _ratings_to_interactions(frame: pd.DataFrame, source: Path) -> pd.DataFrame:
    timestamps = frame["timestamp"].to_numpy() if "timestamp" in frame else None
    return make_interactions(
        frame["user_id"].to_numpy(),
        frame["item_id"].to_numpy(),
        event="rating",
        value=frame["rating"].to_numpy(),
        timestamp=timestamps,
        source=str(source),
    )


def _integers(path: Path, values: Sequence[str], name: str, first_line: int = 1) -> np.ndarray:
    """Parse a small column of integer strings; name the first bad line."""
    numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(
        dtype=np.float64
    )
    bad = ~np.isfinite(numbers) | (numbers != np.round(numbers))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataFormatError(
            path, f"'{name}' is not an integer: {values[row]!r}", line=row + first_line
        )
    return numbers.astype(np.int64)


def _split_genres(genres: pd.Series) -> list[list[str]]:
    return [
        [] if text in ("", "(no genres listed)") else text.split("|")
        for text in genres.fillna("").astype(str)
    ]


# --- ML-100K ------------------------------------------------------------------------------


def _read_100k(directory: Path) -> Tables:
    ratings_path = _need(directory, "u.data")
    ratings = read_delimited(ratings_path, _RATING_FIELDS, sep="\t")
    interactions = _ratings_to_interactions(ratings, ratings_path)
    items_path = find_file(directory, "u.item")
    items = _read_100k_items(items_path, _read_100k_genres(directory)) if items_path else None
    users_path = find_file(directory, "u.user")
    users = _read_100k_users(users_path) if users_path else None
    return Tables(interactions=interactions, items=items, users=users)


def _read_100k_genres(directory: Path) -> tuple[str, ...]:
    path = find_file(directory, "u.genre")
    if path is None:
        return GENRES_100K
    rows = split_lines(path, decode_with_fallback(path), "|", 2)
    index = _integers(path, [row[1] for row in rows], "genre index")
    if sorted(index.tolist()) != list(range(len(rows))):
        raise DataFormatError(path, "genre indices are not 0..n-1")
    names = [""] * len(rows)
    for position, row in zip(index.tolist(), rows, strict=True):
        names[position] = row[0]
    return tuple(names)


def _read_100k_items(path: Path, genre_names: Sequence[str]) -> pd.DataFrame:
    n_fields = 5 + len(genre_names)
    rows = split_lines(path, decode_with_fallback(path), "|", n_fields)
    columns = list(zip(*rows, strict=True)) if rows else [()] * n_fields
    flags = np.array([list(row[5:]) for row in rows], dtype=object).reshape(-1, len(genre_names))
    valid = (flags == "0") | (flags == "1")
    if not valid.all():
        row, column = (int(i[0]) for i in np.nonzero(~valid))
        raise DataFormatError(
            path, f"genre flag '{genre_names[column]}' is {flags[row, column]!r}, not 0/1", row + 1
        )
    on = flags == "1"
    names = np.asarray(genre_names, dtype=object)
    items = pd.DataFrame(
        {
            "item_id": _integers(path, columns[0], "movie id"),
            "title": pd.Series(columns[1], dtype=object),
            "release_date": pd.Series(columns[2], dtype=object).replace("", None),
            "imdb_url": pd.Series(columns[4], dtype=object).replace("", None),
        }
    )
    items["year"] = year_from_title(items["title"])
    items["genres"] = [names[mask].tolist() for mask in on]
    return items


def _read_100k_users(path: Path) -> pd.DataFrame:
    rows = split_lines(path, decode_with_fallback(path), "|", 5)
    columns = list(zip(*rows, strict=True)) if rows else [()] * 5
    return pd.DataFrame(
        {
            "user_id": _integers(path, columns[0], "user id"),
            "age": _integers(path, columns[1], "age"),
            "gender": pd.Series(columns[2], dtype=object),
            "occupation": pd.Series(columns[3], dtype=object),
            "zip_code": pd.Series(columns[4], dtype=object),
        }
    )


# --- ML-1M / ML-10M -----------------------------------------------------------------------


def _read_dat(directory: Path, variant: str) -> Tables:
    ratings_path = find_file(directory, "ratings.dat")
    extras: dict[str, object] = {}
    if ratings_path is not None:
        ratings = read_delimited(ratings_path, _RATING_FIELDS, sep="::")
        interactions = _ratings_to_interactions(ratings, ratings_path)
    else:
        interactions = _read_1m_derived(directory)
        extras["timestamps"] = "unavailable: ratings read from " + _DERIVED_1M
    items = read_movies_dat(_need(directory, "movies.dat"))
    users_path = find_file(directory, "users.dat")
    users = _read_dat_users(users_path) if users_path is not None else None
    return Tables(interactions=interactions, items=items, users=users, extras=extras)


def _read_1m_derived(directory: Path) -> pd.DataFrame:
    ratings_path = find_file(directory, _DERIVED_1M)
    map_path = find_file(directory, _ITEM_MAP_1M)
    if ratings_path is None or map_path is None:
        raise DatasetNotFoundError(
            f"{directory} has no ratings.dat, nor both {_DERIVED_1M}.gz and {_ITEM_MAP_1M}"
        )
    ratings = read_delimited(
        ratings_path,
        (Field("user_id", "int"), Field("item_idx", "int"), Field("rating", "float")),
        sep=",",
        header=("user_id", "item_idx", "rating"),
    )
    item_map = read_ncf_item_map(map_path)
    lookup = np.full(int(item_map["item_idx"].max()) + 2, -1, dtype=np.int64)
    lookup[item_map["item_idx"].to_numpy()] = item_map["movie_id"].to_numpy()
    item_idx = ratings["item_idx"].to_numpy()
    in_range = (item_idx >= 0) & (item_idx < len(lookup))
    movie_id = np.where(in_range, lookup[np.where(in_range, item_idx, 0)], -1)
    unknown = movie_id < 0
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise DataFormatError(
            ratings_path, f"item_idx {item_idx[row]} has no movie_id in {map_path}", line=row + 2
        )
    logger.warning(
        "%s has no ratings.dat: reading ratings from %s without timestamps "
        "(timestamp = <NA>; time-ordered splits are not possible)",
        directory,
        ratings_path,
    )
    return make_interactions(
        ratings["user_id"].to_numpy(),
        movie_id,
        event="rating",
        value=ratings["rating"].to_numpy(),
        timestamp=None,
        source=str(ratings_path),
    )


def read_movies_dat(path: Path) -> pd.DataFrame:
    """``movies.dat`` of ML-1M/10M (``MovieID::Title::Genres``) as an items frame."""
    rows = split_lines(path, decode_with_fallback(path), "::", 3)
    columns = list(zip(*rows, strict=True)) if rows else [()] * 3
    items = pd.DataFrame(
        {
            "item_id": _integers(path, columns[0], "MovieID"),
            "title": pd.Series(columns[1], dtype=object),
        }
    )
    items["year"] = year_from_title(items["title"])
    items["genres"] = _split_genres(pd.Series(columns[2], dtype=object))
    return items


def _read_dat_users(path: Path) -> pd.DataFrame:
    rows = split_lines(path, decode_with_fallback(path), "::", 5)
    columns = list(zip(*rows, strict=True)) if rows else [()] * 5
    codes = _integers(path, columns[3], "Occupation")
    if len(codes) and (codes.min() < 0 or codes.max() >= len(OCCUPATIONS_1M)):
        row = int(np.flatnonzero((codes < 0) | (codes >= len(OCCUPATIONS_1M)))[0])
        raise DataFormatError(path, f"unknown occupation code {codes[row]}", line=row + 1)
    return pd.DataFrame(
        {
            "user_id": _integers(path, columns[0], "UserID"),
            "gender": pd.Series(columns[1], dtype=object),
            "age": _integers(path, columns[2], "Age"),
            "occupation": np.asarray(OCCUPATIONS_1M, dtype=object)[codes],
            "occupation_code": codes,
            "zip_code": pd.Series(columns[4], dtype=object),
        }
    )


# --- ML-20M and later (CSV) ---------------------------------------------------------------


def _read_csv_layout(directory: Path) -> Tables:
    ratings_path = _need(directory, "ratings.csv")
    ratings = read_delimited(
        ratings_path,
        _RATING_FIELDS,
        sep=",",
        header=("userId", "movieId", "rating", "timestamp"),
    )
    interactions = _ratings_to_interactions(ratings, ratings_path)
    movies_path = find_file(directory, "movies.csv")
    items = _read_movies_csv(movies_path) if movies_path is not None else None
    links_path = find_file(directory, "links.csv")
    if items is not None and links_path is not None:
        items = items.merge(_read_links_csv(links_path), on="item_id", how="left")
    return Tables(interactions=interactions, items=items, users=None)


def _read_quoted_csv(path: Path, expected: Sequence[str], dtypes: dict[str, str]) -> pd.DataFrame:
    try:
        with reading(path):
            frame = pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=[""])
    except pd.errors.ParserError as error:
        raise DataFormatError(path, f"cannot parse CSV: {error}") from error
    except ValueError as error:
        raise DataFormatError(path, f"bad value: {error}") from error
    missing = [name for name in expected if name not in frame.columns]
    if missing:
        raise DataFormatError(
            path, f"missing column(s) {missing}; found {list(frame.columns)}", line=1
        )
    return frame


def _read_movies_csv(path: Path) -> pd.DataFrame:
    frame = _read_quoted_csv(
        path, ("movieId", "title", "genres"), {"movieId": "Int64", "title": "str", "genres": "str"}
    )
    if frame["movieId"].isna().any():
        # quoted titles never span lines in GroupLens files, so row + 2 is the line
        row = int(np.flatnonzero(frame["movieId"].isna().to_numpy())[0])
        raise DataFormatError(path, "missing movieId", line=row + 2)
    items = pd.DataFrame(
        {
            "item_id": frame["movieId"].to_numpy(dtype=np.int64),
            "title": frame["title"].fillna("").to_numpy(dtype=object),
        }
    )
    items["year"] = year_from_title(items["title"])
    items["genres"] = _split_genres(frame["genres"])
    return items


def _read_links_csv(path: Path) -> pd.DataFrame:
    frame = _read_quoted_csv(
        path,
        ("movieId", "imdbId", "tmdbId"),
        {"movieId": "Int64", "imdbId": "str", "tmdbId": "Int64"},
    )
    return pd.DataFrame(
        {
            "item_id": frame["movieId"].astype("int64"),
            "imdb_id": frame["imdbId"],
            "tmdb_id": frame["tmdbId"],
        }
    )
