"""Amazon product reviews (McAuley et al., UCSD): 2014 and 2018 releases, and S3-Rec sequences.

Reviews, both releases: JSON lines (``reviews_<Category>[_5].json.gz`` in 2014,
``<Category>[_5].json.gz`` in 2018) with ``reviewerID``, ``asin``, ``overall`` (1-5),
``unixReviewTime``; 2018 adds ``verified`` and ``vote`` (a string such as ``"1,234"``).

Metadata: ``meta_<Category>.json.gz``. In 2014 every line is a *Python dict literal* (single
quotes), read with :func:`ast.literal_eval`, with ``title``, ``categories`` (list of category
paths), ``brand``, ``price`` (number) and ``related`` (``also_bought`` ...). In 2018 every line
is strict JSON with ``title``, ``category`` (one path), ``brand``, ``price`` (text such as
``"$7.99"``), ``also_buy``/``also_view``. Both become one items frame: ``item_id`` (asin),
``title``, ``brand``, ``price`` (float, NaN if none), ``categories`` (every category name once,
in order), ``category_paths`` (list of paths as published) and ``related`` (dict of asin lists).

S3-Rec sequences (Zhou et al., CIKM 2020, github aHuiWang/CIKM2020-S3Rec ``data/``):
``<Category>.txt`` lines ``user item item ...`` in time order, and
``<Category>_item2attributes.json`` mapping item -> attribute ids (brand + categories).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recforge.core.errors import DataFormatError
from recforge.data.sources._common import open_text, read_json_records, reading, require_file
from recforge.data.tables import Tables, make_interactions

_REVIEW_KEYS = ("reviewerID", "asin", "overall", "unixReviewTime", "verified", "vote")
_REQUIRED_REVIEW_KEYS = ("reviewerID", "asin", "overall", "unixReviewTime")
_PRICE = re.compile(r"\d+(?:\.\d+)?")


def read_amazon_reviews(
    path: str | Path, metadata_path: str | Path | None = None, *, chunksize: int = 200_000
) -> Tables:
    """Read an Amazon review file (2014 or 2018 release) into canonical tables.

    Args:
        path: ``reviews_<Category>.json(.gz)`` (2014) or ``<Category>.json(.gz)`` (2018).
        metadata_path: optional ``meta_<Category>.json(.gz)`` for the items frame.
        chunksize: lines parsed per pandas chunk (review texts are dropped chunk by chunk).

    Returns:
        Tables with event ``rating``, value ``overall``, timestamp ``unixReviewTime``;
        ``extras["review_details"]`` is a frame aligned with the interactions holding
        ``verified`` (boolean) and ``vote`` (Int64) where the file has them (2018).

    Raises:
        DataFormatError: invalid JSON, a missing key or a non-numeric rating/time (with line).

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "reviews_Beauty_5.json"
        >>> _ = path.write_text('{"reviewerID": "A1", "asin": "B0", "overall": 5.0, '
        ...                     '"unixReviewTime": 1391040000, "reviewText": "nice"}\\n')
        >>> read_amazon_reviews(path).interactions.values.tolist()
        [['A1', 'B0', 'rating', 5.0, 1391040000]]
    """
    path = Path(path)
    frame = read_json_records(
        path,
        _REVIEW_KEYS,
        _REQUIRED_REVIEW_KEYS,
        numeric=("overall", "unixReviewTime"),
        chunksize=chunksize,
    )
    interactions = make_interactions(
        frame["reviewerID"].astype(str).to_numpy(dtype=object),
        frame["asin"].astype(str).to_numpy(dtype=object),
        event="rating",
        value=frame["overall"].to_numpy(),
        timestamp=frame["unixReviewTime"].to_numpy().astype(np.int64),
        source=str(path),
    )
    details = pd.DataFrame(index=interactions.index)
    if frame["verified"].notna().any():
        details["verified"] = frame["verified"].astype("boolean")
    if frame["vote"].notna().any():
        votes = frame["vote"].astype("string").str.replace(",", "", regex=False)
        details["vote"] = pd.to_numeric(votes, errors="coerce").astype("Int64")
    items = read_amazon_metadata(metadata_path) if metadata_path is not None else None
    return Tables(
        interactions=interactions,
        items=items,
        users=None,
        name=_dataset_name(path),
        extras={"review_details": details},
    )


def _dataset_name(path: Path) -> str:
    stem = path.name
    for suffix in (".gz", ".json"):
        stem = stem.removesuffix(suffix)
    return "amazon-" + stem.removeprefix("reviews_").lower()


def _parse_metadata_line(line: str) -> Any:
    """Strict JSON (2018) first, Python literal (2014) otherwise."""
    try:
        return json.loads(line)
    except ValueError:
        return ast.literal_eval(line)


def read_amazon_metadata(path: str | Path) -> pd.DataFrame:
    """Read ``meta_<Category>.json(.gz)`` of the 2014 (Python literals) or 2018 (JSON) release.

    Returns:
        Items frame: ``item_id``, ``title``, ``brand``, ``price``, ``categories``,
        ``category_paths``, ``related``; absent fields are ``None``/NaN/empty lists.

    Raises:
        DataFormatError: a line that is neither JSON nor a Python dict literal, or lacks
            ``asin`` (with its line number).

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "meta_Beauty.json"
        >>> _ = path.write_text("{'asin': 'B0', 'title': 'Soap', 'price': 3.5, "
        ...                     "'categories': [['Beauty', 'Bath'], ['Beauty', 'Soap']]}\\n")
        >>> item = read_amazon_metadata(path).iloc[0]
        >>> item["title"], float(item["price"]), item["categories"]
        ('Soap', 3.5, ['Beauty', 'Bath', 'Soap'])
    """
    path = Path(path)
    require_file(path)
    rows: list[dict[str, Any]] = []
    with reading(path), open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = _parse_metadata_line(line)
            except (ValueError, SyntaxError, MemoryError, RecursionError) as error:
                raise DataFormatError(
                    path, f"neither JSON nor a Python dict literal ({error})", line_number
                ) from error
            if not isinstance(record, dict) or not record.get("asin"):
                raise DataFormatError(path, "record has no 'asin'", line_number)
            rows.append(_metadata_row(record))
    columns = ("item_id", "title", "brand", "price", "categories", "category_paths", "related")
    return pd.DataFrame(rows, columns=list(columns))


def _metadata_row(record: dict[str, Any]) -> dict[str, Any]:
    if "categories" in record:  # 2014: list of paths
        paths = [list(map(str, p)) for p in record.get("categories") or [] if isinstance(p, list)]
    else:  # 2018: a single path
        category = record.get("category") or []
        paths = [list(map(str, category))] if category else []
    if "related" in record:
        related = record.get("related") or {}
    else:
        related = {k: record[k] for k in ("also_buy", "also_view") if record.get(k)}
    return {
        "item_id": str(record["asin"]),
        "title": record.get("title") or None,
        "brand": record.get("brand") or None,
        "price": _price(record.get("price")),
        "categories": _unique(name for p in paths for name in p),
        "category_paths": paths,
        "related": related,
    }


def _price(raw: Any) -> float:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, str):
        match = _PRICE.search(raw.replace(",", ""))
        # 2018 prices are text ("$7.99", "$3.50 - $9.99", sometimes HTML): the first amount
        if match and len(raw) < 40:
            return float(match.group())
    return float("nan")


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def read_sequence_file(
    path: str | Path, attributes_path: str | Path | None = None, *, name: str | None = None
) -> Tables:
    """Read an S3-Rec style sequence file: one ``user item item ...`` line per user.

    Items on a line are in time order, but the files carry no times, so ``timestamp`` holds
    the item's 0-based **position** in the user's sequence (``extras["timestamp_is_position"]``
    is ``True``): time-ordered splits (last item = test) work, durations do not. Each item is
    an event ``purchase`` with value 1. Ids stay int64 when every token is an integer, else str.

    Args:
        path: the sequence file (``Beauty.txt`` or ``Beauty.txt.gz``).
        attributes_path: optional ``item2attributes.json(.gz)``, a JSON object
            ``{"item_id": [attribute_id, ...]}``, put into ``items["attributes"]``.
        name: the tables' name; defaults to the file stem.

    Raises:
        DataFormatError: a line with a user but no items, a blank line inside the file,
            truncated compression, malformed attribute JSON.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "Toy.txt"
        >>> _ = path.write_text("1 5 6 5\\n2 6\\n")
        >>> frame = read_sequence_file(path).interactions
        >>> frame[["user_id", "item_id", "timestamp"]].values.tolist()
        [[1, 5, 0], [1, 6, 1], [1, 5, 2], [2, 6, 0]]
    """
    path = Path(path)
    require_file(path)
    users: list[str] = []
    items: list[str] = []
    lengths: list[int] = []
    pending_blank: int | None = None
    with reading(path), open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            tokens = line.split()
            if not tokens:
                pending_blank = pending_blank or line_number
                continue
            if pending_blank is not None:
                raise DataFormatError(path, "blank line", pending_blank)
            if len(tokens) < 2:
                raise DataFormatError(path, f"user {tokens[0]!r} has no items", line_number)
            users.append(tokens[0])
            items.extend(tokens[1:])
            lengths.append(len(tokens) - 1)
    counts = np.asarray(lengths, dtype=np.int64)
    user_ids = np.repeat(_ids(users), counts)
    item_ids = _ids(items)
    starts = np.cumsum(counts) - counts
    positions = np.arange(len(items), dtype=np.int64) - np.repeat(starts, counts)
    interactions = make_interactions(
        user_ids,
        item_ids,
        event="purchase",
        value=1.0,
        timestamp=positions,
        source=str(path),
    )
    items_frame = pd.DataFrame({"item_id": np.sort(pd.unique(item_ids))})
    if attributes_path is not None:
        items_frame = _with_attributes(items_frame, Path(attributes_path))
    items_frame.insert(1, "title", None)  # S3-Rec publishes no titles
    stem = path.name.removesuffix(".gz").removesuffix(".txt")
    return Tables(
        interactions=interactions,
        items=items_frame,
        users=None,
        name=name or stem,
        extras={"timestamp_is_position": True},
    )


def _ids(tokens: list[str]) -> np.ndarray:
    """int64 when every token is an integer, else the strings."""
    as_text = np.asarray(tokens, dtype=object)
    numbers = pd.to_numeric(pd.Series(as_text), errors="coerce")
    if len(tokens) and numbers.notna().all() and numbers.dtype == np.int64:
        return numbers.to_numpy()
    return as_text


def _with_attributes(items: pd.DataFrame, path: Path) -> pd.DataFrame:
    require_file(path)
    with reading(path), open_text(path) as handle:
        try:
            mapping = json.load(handle)
        except json.JSONDecodeError as error:
            raise DataFormatError(path, f"invalid JSON: {error.msg}", error.lineno) from error
    if not isinstance(mapping, dict):
        raise DataFormatError(path, "expected a JSON object item -> list of attribute ids")
    for key, value in mapping.items():
        if not isinstance(value, list):
            raise DataFormatError(path, f"item {key!r}: attributes are not a list")
    keys = list(mapping)
    attributes = pd.DataFrame(
        {"item_id": _ids(keys), "attributes": [list(mapping[key]) for key in keys]}
    )
    if items["item_id"].dtype != attributes["item_id"].dtype:
        attributes["item_id"] = attributes["item_id"].astype(items["item_id"].dtype)
    known = items.merge(attributes, on="item_id", how="left")
    only_attributes = attributes[~attributes["item_id"].isin(items["item_id"])]
    merged = pd.concat([known, only_attributes], ignore_index=True)
    merged["attributes"] = [a if isinstance(a, list) else [] for a in merged["attributes"]]
    return merged.sort_values("item_id", kind="stable", ignore_index=True)
