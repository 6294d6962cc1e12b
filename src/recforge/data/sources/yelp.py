"""Yelp Open Dataset reader (https://www.yelp.com/dataset, JSON-lines files).

* ``yelp_academic_dataset_review.json``: ``review_id``, ``user_id``, ``business_id``,
  ``stars``, ``useful``/``funny``/``cool``, ``text``, ``date`` (``YYYY-MM-DD HH:MM:SS``);
* ``yelp_academic_dataset_business.json``: ``business_id``, ``name``, ``categories`` (one
  comma-separated string or null), ``city``, ``state``, ``stars``, ``review_count`` ...;
* ``yelp_academic_dataset_user.json``: ``user_id``, ``name``, ``review_count``,
  ``yelping_since``, ``average_stars``, ``fans`` ... (``friends`` is dropped: it is huge).

Any file may be gzip'd. Yelp publishes local times without a zone; they are read as UTC.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recforge.core.errors import DataFormatError, DatasetNotFoundError
from recforge.data.sources._common import find_file, line_of_record, read_json_records
from recforge.data.tables import Tables, make_interactions

REVIEW_FILE = "yelp_academic_dataset_review.json"
BUSINESS_FILE = "yelp_academic_dataset_business.json"
USER_FILE = "yelp_academic_dataset_user.json"
_BUSINESS_KEYS = (
    "business_id",
    "name",
    "categories",
    "city",
    "state",
    "latitude",
    "longitude",
    "stars",
    "review_count",
    "is_open",
)
_USER_KEYS = ("user_id", "name", "review_count", "yelping_since", "average_stars", "fans")


def read_yelp(directory: str | Path, *, chunksize: int = 200_000) -> Tables:
    """Read the Yelp Open Dataset's reviews, businesses (items) and users.

    Args:
        directory: the folder holding the ``yelp_academic_dataset_*.json(.gz)`` files; the
            business and user files are optional.
        chunksize: lines parsed per pandas chunk (review texts are dropped chunk by chunk).

    Returns:
        Tables named ``yelp``: events ``rating`` with ``value`` = stars and ``timestamp`` = the
        review date in unix seconds; items have ``item_id`` (business_id), ``title`` (name),
        ``categories`` (list of str) and the place columns; ``extras["review_details"]`` is
        aligned with the interactions (``review_id``, ``useful``, ``funny``, ``cool``).

    Raises:
        DatasetNotFoundError: no review file.
        DataFormatError: invalid JSON, a missing key, a bad date or rating (with line).

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / REVIEW_FILE).write_text(
        ...     '{"review_id": "r1", "user_id": "u1", "business_id": "b1", "stars": 4, '
        ...     '"date": "2018-07-07 22:09:11", "text": "ok"}\\n')
        >>> read_yelp(folder).interactions.values.tolist()
        [['u1', 'b1', 'rating', 4.0, 1531001351]]
    """
    folder = Path(directory)
    review_path = find_file(folder, REVIEW_FILE)
    if review_path is None:
        raise DatasetNotFoundError(f"{folder / REVIEW_FILE} (or .gz) not found")
    reviews = read_json_records(
        review_path,
        ("review_id", "user_id", "business_id", "stars", "date", "useful", "funny", "cool"),
        ("user_id", "business_id", "stars", "date"),
        numeric=("stars",),
        chunksize=chunksize,
    )
    interactions = make_interactions(
        reviews["user_id"].astype(str).to_numpy(dtype=object),
        reviews["business_id"].astype(str).to_numpy(dtype=object),
        event="rating",
        value=reviews["stars"].to_numpy(),
        timestamp=_unix_seconds(review_path, reviews["date"]),
        source=str(review_path),
    )
    details = pd.DataFrame(
        {
            "review_id": reviews["review_id"].to_numpy(dtype=object),
            **{
                name: pd.to_numeric(reviews[name], errors="coerce").astype("Int64")
                for name in ("useful", "funny", "cool")
            },
        },
        index=interactions.index,
    )
    business_path = find_file(folder, BUSINESS_FILE)
    user_path = find_file(folder, USER_FILE)
    return Tables(
        interactions=interactions,
        items=_read_businesses(business_path) if business_path else None,
        users=_read_users(user_path) if user_path else None,
        name="yelp",
        extras={"review_details": details},
    )


def _unix_seconds(path: Path, dates: pd.Series) -> np.ndarray:
    parsed = pd.to_datetime(dates, format="%Y-%m-%d %H:%M:%S", errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataFormatError(
            path,
            f"date {dates.iloc[row]!r} is not 'YYYY-MM-DD HH:MM:SS'",
            line=line_of_record(path, row),
        )
    return (parsed.astype("datetime64[s]").astype(np.int64)).to_numpy()


def _read_businesses(path: Path) -> pd.DataFrame:
    frame = read_json_records(path, _BUSINESS_KEYS, ("business_id",))
    items = frame.rename(columns={"business_id": "item_id", "name": "title"})
    items["categories"] = [
        [name.strip() for name in text.split(",") if name.strip()] if isinstance(text, str) else []
        for text in frame["categories"]
    ]
    for column in ("latitude", "longitude", "stars"):
        items[column] = pd.to_numeric(items[column], errors="coerce").astype(np.float64)
    for column in ("review_count", "is_open"):
        items[column] = pd.to_numeric(items[column], errors="coerce").astype("Int64")
    return items


def _read_users(path: Path) -> pd.DataFrame:
    users = read_json_records(path, _USER_KEYS, ("user_id",))
    for column in ("review_count", "fans"):
        users[column] = pd.to_numeric(users[column], errors="coerce").astype("Int64")
    users["average_stars"] = pd.to_numeric(users["average_stars"], errors="coerce")
    return users
