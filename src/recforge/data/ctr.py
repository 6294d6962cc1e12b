"""Labelled click-through-rate (CTR) row tables for the ranking benchmarks.

A ranking benchmark needs labelled rows split into train/valid/test, the attributes of users
and items, and, for models that read the user's behaviour sequence (DIN, DIEN), the positive
behaviours a row's history is built from. :func:`ctr_tables` builds them from the datasets
under ``$RECFORGE_DATA``:

=================  =========================================================================
name               protocol
=================  =========================================================================
``amazon-beauty``  next-behaviour protocol (below) on S3-Rec's Amazon Beauty sequences
``ml-100k``        next-behaviour protocol on MovieLens-100K clicks (rating >= 4)
``ml-1m-cross``    feature-cross protocol on MovieLens-1M (AutoInt; Wang et al., DCN-V2,
                   WWW 2021; RecBole): every rating but the neutral 3s is a row, label =
                   rating >= 4, random 8:1:1 split
``criteo-sample``  Criteo's label + 13 integer + 26 categorical columns, random 8:1:1 split
``criteo``         the same protocol on a Criteo file the caller names (``path=``: the
                   Kaggle ``train.txt``, 45,840,617 rows), categorical columns read as
                   pandas ``category`` (object strings would cost ~60 bytes a cell)
=================  =========================================================================

**Next-behaviour protocol** (DIN, Zhou et al., KDD 2018, Sec. 6.1, with a validation step).
For each user's behaviours ``b_1..b_n`` in time order, predict ``b_t`` from ``b_<t``:
training rows ``t = 2..n-2``, the validation row ``t = n-1``, the test row ``t = n`` (the
last behaviour). Each positive row is paired with one negative row: same user and
timestamp, an item drawn uniformly from the catalogue that the user never interacted with,
label 0. ``timestamp`` is the behaviour's 0-based position in the user's sequence, so the
history of a row (the user's ``events`` strictly before its timestamp) is exactly
``b_1..b_{t-1}``. Users with fewer than 4 behaviours would have no training row: they get
no rows (their behaviours stay in ``events``) and the description counts them.

Conventions of every table: ``label`` is int8 0/1, ``timestamp`` an int64 ordering key; a
missing categorical value is ``None``; a multi-valued cell is a tuple.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recforge.core.errors import DatasetNotFoundError
from recforge.core.paths import DATA_ENV, data_root
from recforge.data.catalog import dataset_folder, load_dataset
from recforge.data.ctr_rows import (
    MIN_BEHAVIOURS,
    ROW_COLUMNS,
    next_behaviour_rows,
    random_split,
)
from recforge.data.sources._common import find_file
from recforge.data.sources.criteo import CATEGORICAL_COLUMNS, INTEGER_COLUMNS, read_criteo
from recforge.data.tables import Tables

_ML100K_SPARSE: tuple[str, ...] = ("user_id", "item_id", "category", "gender", "age")
_ML100K_SPARSE += ("occupation", "zip_prefix", "decade")
_ML1M_SPARSE = ("user_id", "item_id", "gender", "age", "occupation", "zip_code", "release_year")
AGE_GROUPS = (1, 18, 25, 35, 45, 50, 56)
"""ML-1M's age codes (``users.dat``: under 18, 18-24, 25-34, 35-44, 45-49, 50-55, 56+)."""


@dataclass(frozen=True)
class CTRTables:
    """Labelled rows of one CTR dataset, with what a feature pipeline needs to encode them.

    Args:
        name: the dataset's name (``ml-100k``).
        train / valid / test: rows ``user_id, item_id, timestamp, label`` (+ context columns).
        events: ``user_id, item_id, timestamp``: the positive behaviours histories are built
            from (a row's history = its user's events strictly before its timestamp);
            ``None`` when the protocol has no histories.
        users: ``user_id`` + user attribute columns, or ``None``.
        items: ``item_id`` + item attribute columns (multi-valued cells as tuples), or ``None``.
        sparse: single-valued categorical columns to use as sparse fields.
        multi: multi-valued columns -> most values kept per row (``max_len``).
        dense: numeric columns.
        history: sparse item-level fields given per past behaviour; ``()`` for none.
        description: one paragraph: the protocol and the counts.
    """

    name: str
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    events: pd.DataFrame | None
    users: pd.DataFrame | None
    items: pd.DataFrame | None
    sparse: tuple[str, ...]
    multi: dict[str, int]
    dense: tuple[str, ...]
    history: tuple[str, ...]
    description: str

    def __post_init__(self) -> None:
        for split in ("train", "valid", "test"):
            frame: pd.DataFrame = getattr(self, split)
            missing = [c for c in ROW_COLUMNS if c not in frame.columns]
            if missing:
                raise ValueError(f"{self.name} {split}: missing column(s) {missing}")
            if frame["label"].dtype != np.int8 or not frame["label"].isin((0, 1)).all():
                raise ValueError(f"{self.name} {split}: label must be int8 0/1")
        where = {name: "rows" for name in self.train.columns}
        for table, attributes in (("users", self.users), ("items", self.items)):
            if attributes is not None:
                where.update({name: table for name in attributes.columns if name not in where})
        for name in (*self.sparse, *self.multi, *self.dense):
            if name not in where:
                raise ValueError(f"{self.name}: declared column {name!r} is in no table")
        for name in self.history:
            if name not in self.sparse or (name != "item_id" and where[name] != "items"):
                raise ValueError(f"{self.name}: history field {name!r} is not an item sparse field")
        if (self.events is None) != (not self.history):
            raise ValueError(f"{self.name}: events are needed exactly when history is given")


def ctr_tables(
    name: str,
    *,
    seed: int = 0,
    root: str | Path | None = None,
    path: str | Path | None = None,
) -> CTRTables:
    """Build the CTR tables of ``name`` from its files under ``root`` (default ``$RECFORGE_DATA``).

    Args:
        name: ``amazon-beauty``, ``ml-100k``, ``ml-1m-cross``, ``criteo-sample`` or ``criteo``.
        seed: seeds the sampled negatives (next-behaviour protocol) or the random split.
        root: the data root; ``$RECFORGE_DATA`` when ``None``.
        path: ``criteo`` only (and required there): the Criteo file, in a layout
            :func:`~recforge.data.sources.criteo.read_criteo` reads (the Kaggle
            ``train.txt``: TAB-separated, no header; may be compressed).

    Raises:
        DatasetNotFoundError: an unknown name (the message lists the known ones), or a
            missing folder or file (the message names the path and ``RECFORGE_DATA``);
            ``criteo`` without ``path``.
        DataFormatError: a malformed file (names the file and line).
        ValueError: ``path`` given for a dataset read from ``root``.
    """
    if name not in _BUILDERS:
        raise DatasetNotFoundError(f"unknown CTR dataset {name!r}; known: {', '.join(_BUILDERS)}")
    if name == "criteo":
        if path is None:
            raise DatasetNotFoundError(
                "ctr_tables('criteo') reads the file given as path= (the Kaggle Display "
                "Advertising Challenge train.txt); none was given"
            )
        frame = read_criteo(path, categorical=True)
        return criteo_ctr_tables(frame, seed=seed, name="criteo")
    if path is not None:
        raise ValueError(f"path= is only for 'criteo'; {name!r} is read from root / $RECFORGE_DATA")
    dataset, build = _BUILDERS[name]
    try:
        if build is None:
            return _criteo_sample(root, seed)
        return build(load_dataset(dataset, root=root), seed=seed)
    except DatasetNotFoundError as error:
        base = Path(root) if root is not None else data_root()
        source = "root=" if root is not None else f"${DATA_ENV}"
        raise DatasetNotFoundError(
            f"{error} [ctr_tables({name!r}) reads {base} ({source}); see that dataset's README]"
        ) from error


def _counts(*splits: pd.DataFrame) -> str:
    names = ("train", "valid", "test")
    return "; ".join(
        f"{name} {len(frame):,} rows ({int(frame['label'].sum()):,} positive, "
        f"{_plural(frame['user_id'].nunique(), 'user')})"
        for name, frame in zip(names, splits, strict=True)
    )


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _tuples(cells: pd.Series) -> list[tuple[object, ...]]:
    """Cells as tuples of distinct values in first-seen order (missing -> empty tuple)."""
    return [tuple(dict.fromkeys(c)) if isinstance(c, list | tuple) else () for c in cells]


# --- Amazon Beauty ---------------------------------------------------------------------------


def amazon_ctr_tables(tables: Tables, *, seed: int = 0, name: str = "amazon-beauty") -> CTRTables:
    """The next-behaviour protocol on an S3-Rec sequence dataset (Amazon Beauty).

    ``tables`` is what :func:`~recforge.data.sources.read_sequence_file` returns with the
    attribute file: timestamps are positions in the sequence, ``items["attributes"]`` lists
    attribute ids. S3-Rec writes an item's brand first, then every level but the top one of
    each category path in order (``data/data_process.py`` of the S3-Rec repository), so the
    **last** attribute id is the finest level of the item's last category path: that is the
    item's ``category``, DIN's rule (it takes the last level of the last path). ``attributes``
    keeps every distinct attribute id (brand and categories); ``max_len`` is the longest list.
    Sparse fields: ``user_id, item_id, category``; history: ``item_id, category``.
    """
    if tables.items is None or "attributes" not in tables.items.columns:
        raise ValueError(f"{name}: the items need an 'attributes' column (item2attributes file)")
    interactions = tables.interactions
    attributes = _tuples(tables.items["attributes"])
    items = pd.DataFrame(
        {
            "item_id": tables.items["item_id"].to_numpy(),
            "category": pd.Series([a[-1] if a else None for a in attributes], dtype=object),
            "attributes": pd.Series(attributes, dtype=object),
        }
    )
    max_len = max((len(a) for a in attributes), default=0) or 1
    catalogue = pd.unique(
        np.concatenate([items["item_id"].to_numpy(), interactions["item_id"].to_numpy()])
    )
    rows = next_behaviour_rows(
        interactions[["user_id", "item_id", "timestamp"]], catalogue, np.random.default_rng(seed)
    )
    description = (
        f"{name}: Amazon Beauty 5-core as preprocessed by S3-Rec, "
        f"{interactions['user_id'].nunique():,} users, {len(catalogue):,} items, "
        f"{len(interactions):,} behaviours (no times: timestamp = position in the sequence). "
        f"Next-behaviour protocol (DIN): predict b_t from b_<t, train t = 2..n-2, valid t = n-1, "
        f"test t = n, each positive paired with one uniformly sampled item the user never "
        f"interacted with (seed {seed}); {_counts(rows.train, rows.valid, rows.test)}; "
        f"{_plural(len(rows.short_users), 'user')} with fewer than {MIN_BEHAVIOURS} "
        f"behaviours: no rows ({rows.n_short_behaviours:,} behaviours). Items: category = "
        f"last attribute id (finest level of the last category path), "
        f"{items['category'].nunique():,} categories; attributes = all distinct attribute "
        f"ids (brand + categories), max_len {max_len}."
    )
    return CTRTables(
        name=name,
        train=rows.train,
        valid=rows.valid,
        test=rows.test,
        events=rows.events,
        users=None,
        items=items,
        sparse=("user_id", "item_id", "category"),
        multi={"attributes": max_len},
        dense=(),
        history=("item_id", "category"),
        description=description,
    )


# --- MovieLens ---------------------------------------------------------------------------------


def age_group(age: np.ndarray | pd.Series) -> np.ndarray:
    """ML-1M's age code of an age in years (:data:`AGE_GROUPS`).

    >>> age_group(np.array([7, 18, 24, 33, 49, 55, 73])).tolist()
    [1, 18, 18, 25, 45, 50, 56]
    """
    edges = np.asarray(AGE_GROUPS[1:])
    codes = np.asarray(AGE_GROUPS)
    return codes[np.searchsorted(edges, np.asarray(age, dtype=np.int64), side="right")]


def _genre_items(items: pd.DataFrame) -> tuple[list[tuple[object, ...]], int]:
    genres = _tuples(items["genres"])
    return genres, max((len(g) for g in genres), default=0) or 1


def movielens_ctr_tables(tables: Tables, *, seed: int = 0, name: str = "ml-100k") -> CTRTables:
    """The next-behaviour protocol on MovieLens clicks (a rating >= 4 is a click).

    A user's clicks are ordered by time, ties in the order of the ratings file; ``timestamp``
    is the click's position. Negatives are movies the user never rated at all. Users: gender,
    ``age`` as ML-1M's age group (a sparse field: 7 groups, so ML-100K and ML-1M read alike),
    occupation, ``zip_prefix`` (first character of the zip code, a coarse region). Items:
    ``genres`` (multi), ``category`` = the first genre (the history's item category; ``None``
    for a movie without one), ``decade`` of release (``"1990s"``; ``None`` when unknown).
    """
    interactions = tables.interactions
    if tables.items is None or tables.users is None:
        raise ValueError(f"{name}: needs the movie and user files (u.item, u.user)")
    if interactions["timestamp"].isna().any():
        raise ValueError(f"{name}: the next-behaviour protocol needs rating timestamps")
    clicks = interactions[interactions["value"].to_numpy() >= 4]
    genres, max_len = _genre_items(tables.items)
    years = tables.items["year"]
    items = pd.DataFrame(
        {
            "item_id": tables.items["item_id"].to_numpy(),
            "category": pd.Series([g[0] if g else None for g in genres], dtype=object),
            "genres": pd.Series(genres, dtype=object),
            "decade": pd.Series(
                [None if pd.isna(y) else f"{int(y) // 10 * 10}s" for y in years], dtype=object
            ),
        }
    )
    users = tables.users
    zips = users["zip_code"].astype("string").str.strip().str[:1]
    users = pd.DataFrame(
        {
            "user_id": users["user_id"].to_numpy(),
            "gender": users["gender"].to_numpy(dtype=object),
            "age": age_group(users["age"]),
            "occupation": users["occupation"].to_numpy(dtype=object),
            "zip_prefix": pd.Series(
                [None if pd.isna(z) or z == "" else z for z in zips], dtype=object
            ),
        }
    )
    catalogue = pd.unique(
        np.concatenate([items["item_id"].to_numpy(), interactions["item_id"].to_numpy()])
    )
    rows = next_behaviour_rows(
        clicks[["user_id", "item_id", "timestamp"]],
        catalogue,
        np.random.default_rng(seed),
        seen=interactions[["user_id", "item_id"]],
    )
    n_users = interactions["user_id"].nunique()
    n_clickers = clicks["user_id"].nunique()
    description = (
        f"{name}: MovieLens {len(interactions):,} ratings of {len(catalogue):,} movies by "
        f"{n_users:,} users; a rating >= 4 is a click: {len(clicks):,} clicks on "
        f"{clicks['item_id'].nunique():,} movies. Next-behaviour protocol (DIN) over each "
        f"user's clicks in time order (ties in file order; timestamp = position): train "
        f"t = 2..n-2, valid t = n-1, test t = n, each positive paired with one uniformly "
        f"sampled movie the user never rated (seed {seed}); "
        f"{_counts(rows.train, rows.valid, rows.test)}. "
        f"{_plural(len(rows.short_users), 'user')} with fewer than {MIN_BEHAVIOURS} clicks: no "
        f"rows (their {rows.n_short_behaviours:,} clicks stay in events), and "
        f"{_plural(n_users - n_clickers, 'user')} without any click. Users: gender, age group "
        f"(ML-1M codes), occupation, zip prefix; items: genres (max_len {max_len}), "
        f"category = first genre, decade."
    )
    return CTRTables(
        name=name,
        train=rows.train,
        valid=rows.valid,
        test=rows.test,
        events=rows.events,
        users=users,
        items=items,
        sparse=_ML100K_SPARSE,
        multi={"genres": max_len},
        dense=(),
        history=("item_id", "category"),
        description=description,
    )


def movielens_cross_tables(
    tables: Tables, *, seed: int = 0, name: str = "ml-1m-cross", drop_neutral: bool = True
) -> CTRTables:
    """The feature-cross protocol on MovieLens-1M as the DCN-V2 paper and RecBole run it.

    Every rating is a row with label = rating >= 4; rows are split at random 8:1:1. With
    ``drop_neutral`` (the default) the neutral ratings (3) are removed first: AutoInt's
    preprocessing (Song et al. 2019, Sec. 5.1.1), which the DCN-V2 paper follows. The
    published numbers need it: one-hot logistic regression on ids and demographics gets test
    AUC 0.872 with it (RecBole's LR row: 0.8699) and 0.791 on every rating. Fields,
    as RecBole's ``ml-1m`` atomic files give them: ``user_id``, ``item_id``, ``gender``,
    ``age`` (ML-1M's code), ``occupation``, ``zip_code`` (as written), ``release_year``
    (from the title) and ``genres`` (multi). No histories. ``timestamp`` is the rating's
    time where the ratings file has one, else its position in the file (the project's ML-1M
    copy has no ``ratings.dat``: :func:`~recforge.data.sources.read_movielens` reads
    ``derived/ratings_user_itemidx_rating.csv.gz`` and maps ``item_idx`` to MovieIDs through
    ``ncf/ncf_item_to_item_idx.tsv``).
    """
    interactions = tables.interactions
    if tables.items is None or tables.users is None:
        raise ValueError(f"{name}: needs movies.dat and users.dat")
    n_ratings = len(interactions)
    if drop_neutral:
        interactions = interactions[interactions["value"].to_numpy() != 3]
    has_time = not interactions["timestamp"].isna().any()
    timestamps = (
        interactions["timestamp"].to_numpy(dtype=np.int64)
        if has_time
        else np.arange(len(interactions), dtype=np.int64)
    )
    frame = pd.DataFrame(
        {
            "user_id": interactions["user_id"].to_numpy(),
            "item_id": interactions["item_id"].to_numpy(),
            "timestamp": timestamps,
            "label": (interactions["value"].to_numpy() >= 4).astype(np.int8),
        }
    )
    train, valid, test = random_split(frame, np.random.default_rng(seed))
    genres, max_len = _genre_items(tables.items)
    years = tables.items["year"]
    items = pd.DataFrame(
        {
            "item_id": tables.items["item_id"].to_numpy(),
            "genres": pd.Series(genres, dtype=object),
            "release_year": pd.Series(
                [None if pd.isna(y) else int(y) for y in years], dtype=object
            ),
        }
    )
    users = tables.users[["user_id", "gender", "age", "occupation", "zip_code"]].copy()
    description = (
        f"{name}: MovieLens-1M feature-cross protocol (AutoInt, DCN-V2 paper, RecBole): "
        f"{len(frame):,} ratings by {frame['user_id'].nunique():,} users of "
        f"{frame['item_id'].nunique():,} movies, every rating a row"
        + (f" ({n_ratings - len(frame):,} neutral ratings of 3 removed)" if drop_neutral else "")
        + ", label = rating >= 4 "
        f"({int(frame['label'].sum()):,} positive, {frame['label'].mean():.1%}), random 8:1:1 "
        f"split (seed {seed}): {_counts(train, valid, test)}. Fields: user_id, item_id, "
        f"gender, age, occupation, zip_code, release_year, genres (max_len {max_len}); no "
        f"histories. timestamp = "
        + ("rating time." if has_time else "position in the ratings file (no times here).")
    )
    return CTRTables(
        name=name,
        train=train,
        valid=valid,
        test=test,
        events=None,
        users=users,
        items=items,
        sparse=_ML1M_SPARSE,
        multi={"genres": max_len},
        dense=(),
        history=(),
        description=description,
    )


# --- Criteo --------------------------------------------------------------------------------------


def criteo_ctr_tables(
    frame: pd.DataFrame, *, seed: int = 0, name: str = "criteo-sample"
) -> CTRTables:
    """Criteo rows (as :func:`~recforge.data.sources.criteo.read_criteo` returns them) split
    at random 8:1:1.

    Fields as in the DCN papers: sparse ``C1``..``C26``, dense ``I1``..``I13`` (counts,
    heavy-tailed: the usual transform is ``log(1 + x)`` for ``x > 0``, done by the numeric
    encoder, not here). Criteo is anonymised: no user or item identity. Rows still get the
    ``user_id`` and ``item_id`` every CTR table has, constant 0 (one user: GAUC is AUC), and
    they are declared sparse so a feature schema finds its user and item fields; a constant
    field costs one embedding and carries no information. ``timestamp`` is the row's position
    in the file (the Kaggle training file is in time order).
    """
    rows = frame.reset_index(drop=True)
    rows.insert(0, "user_id", np.zeros(len(rows), dtype=np.int64))
    rows.insert(1, "item_id", np.zeros(len(rows), dtype=np.int64))
    rows.insert(2, "timestamp", np.arange(len(rows), dtype=np.int64))
    rows["label"] = rows["label"].astype(np.int8)
    train, valid, test = random_split(rows, np.random.default_rng(seed))
    n_positive = int(rows["label"].sum())
    description = (
        f"{name}: Criteo display-advertising rows (label, I1..I13, C1..C26), {len(rows):,} "
        f"rows, {n_positive:,} clicks ({n_positive / max(len(rows), 1):.1%}), random 8:1:1 "
        f"split (seed {seed}): {_counts(train, valid, test)}. Sparse C1..C26 and "
        f"constant user_id/item_id (no identities in Criteo), dense I1..I13 (log-transform "
        f"them in the encoder); no histories; timestamp = position in the file."
    )
    return CTRTables(
        name=name,
        train=train,
        valid=valid,
        test=test,
        events=None,
        users=None,
        items=None,
        sparse=("user_id", "item_id", *CATEGORICAL_COLUMNS),
        multi={},
        dense=INTEGER_COLUMNS,
        history=(),
        description=description,
    )


# --- dispatch ----------------------------------------------------------------------------------


def _criteo_sample(root: str | Path | None, seed: int) -> CTRTables:
    folder = dataset_folder("criteo-sample", root)
    path = find_file(folder, "criteo_sample.txt")
    if path is None:
        raise DatasetNotFoundError(f"{folder / 'criteo_sample.txt'} (or .gz) not found")
    return criteo_ctr_tables(read_criteo(path), seed=seed, name="criteo-sample")


_BUILDERS: dict[str, tuple[str, Callable[..., CTRTables] | None]] = {
    "amazon-beauty": ("amazon-beauty", amazon_ctr_tables),
    "ml-100k": ("ml-100k", movielens_ctr_tables),
    "ml-1m-cross": ("ml-1m", movielens_cross_tables),
    "criteo-sample": ("criteo-sample", None),
    "criteo": ("", None),
}
"""CTR dataset name -> (catalogue dataset, builder from its Tables; None: a Criteo file,
``criteo-sample``'s under the data root, ``criteo``'s from ``path=``)."""

CTR_DATASETS = tuple(_BUILDERS)
"""Names :func:`ctr_tables` knows."""
