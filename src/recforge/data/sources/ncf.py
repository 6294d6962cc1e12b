"""The Neural Collaborative Filtering benchmark files (He et al., WWW 2017).

As published in ``Data/`` of github.com/hexiangnan/neural_collaborative_filtering:

* ``<name>.train.rating`` and ``<name>.test.rating``: TAB ``user item rating [timestamp]``,
  0-based NCF ids, one held-out (latest) rating per user in the test file;
* ``<name>.test.negative``: TAB, ``(user,item)`` of the test pair, then the sampled negatives
  (99 for ``ml-1m`` and ``pinterest-20``).

Each file may be gzip'd (``.gz``). ``ncf_item_to_item_idx.tsv`` (only in the project's ML-1M
copy) maps NCF item ids back to MovieLens MovieIDs, so titles can be shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recforge.core.errors import DataFormatError, DatasetNotFoundError
from recforge.data.sources._common import Field, find_file, read_delimited, reading
from recforge.data.tables import make_interactions

ITEM_MAP_FILE = "ncf_item_to_item_idx.tsv"
_RATING_FIELDS = (
    Field("user_id", "int"),
    Field("item_id", "int"),
    Field("rating", "float"),
    Field("timestamp", "int", required=False),
)


@dataclass(frozen=True)
class NCFData:
    """The NCF leave-one-out benchmark: training ratings, one test item per user, negatives.

    ``train``/``test`` are canonical interaction tables whose ``user_id``/``item_id`` are the
    NCF 0-based ids (event ``rating``, value = rating; timestamp ``<NA>`` where the file has
    none). Row ``u`` of ``test_negatives`` belongs to row ``u`` of ``test``.
    """

    train: pd.DataFrame
    test: pd.DataFrame
    test_negatives: np.ndarray  # (n_test_users, n_negatives) int64 NCF item ids, 99 in the paper
    n_users: int  # 1 + the largest user id in train/test
    n_items: int  # 1 + the largest item id in train/test/negatives


def read_ncf(directory: str | Path, name: str = "ml-1m") -> NCFData:
    """Read ``<name>.train.rating``, ``<name>.test.rating`` and ``<name>.test.negative``.

    Args:
        directory: the folder holding the files (each may end in ``.gz``).
        name: the dataset prefix, ``ml-1m`` or ``pinterest-20`` in the paper.

    Raises:
        DatasetNotFoundError: a file is missing.
        DataFormatError: a malformed line; a negative line whose ``(user,item)`` differs from
            the test file's row at the same position; lines with differing negative counts.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "ml-1m.train.rating").write_text("0\\t1\\t5\\t10\\n1\\t0\\t3\\t11\\n")
        >>> _ = (folder / "ml-1m.test.rating").write_text("0\\t2\\t4\\t12\\n1\\t1\\t2\\t13\\n")
        >>> _ = (folder / "ml-1m.test.negative").write_text("(0,2)\\t0\\t3\\n(1,1)\\t2\\t3\\n")
        >>> data = read_ncf(folder)
        >>> data.n_users, data.n_items, data.test_negatives.tolist()
        (2, 4, [[0, 3], [2, 3]])
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise DatasetNotFoundError(f"NCF folder {folder} not found")
    train_path = _need(folder, f"{name}.train.rating")
    test_path = _need(folder, f"{name}.test.rating")
    negative_path = _need(folder, f"{name}.test.negative")
    train = _read_rating_file(train_path)
    test = _read_rating_file(test_path)
    negatives = _read_negatives(negative_path, test)
    n_users = 1 + int(max(_max(train["user_id"]), _max(test["user_id"])))
    n_items = 1 + int(
        max(
            _max(train["item_id"]),
            _max(test["item_id"]),
            int(negatives.max()) if negatives.size else -1,
        )
    )
    return NCFData(
        train=train, test=test, test_negatives=negatives, n_users=n_users, n_items=n_items
    )


def _max(column: pd.Series) -> int:
    return int(column.max()) if len(column) else -1


def _need(folder: Path, file_name: str) -> Path:
    found = find_file(folder, file_name)
    if found is None:
        raise DatasetNotFoundError(f"{folder / file_name} (or .gz) not found")
    return found


def _read_rating_file(path: Path) -> pd.DataFrame:
    frame = read_delimited(path, _RATING_FIELDS, sep="\t")
    negative = (frame["user_id"].to_numpy() < 0) | (frame["item_id"].to_numpy() < 0)
    if negative.any():
        row = int(np.flatnonzero(negative)[0])
        raise DataFormatError(path, "negative user or item id", line=row + 1)
    return make_interactions(
        frame["user_id"].to_numpy(),
        frame["item_id"].to_numpy(),
        event="rating",
        value=frame["rating"].to_numpy(),
        timestamp=frame["timestamp"].to_numpy() if "timestamp" in frame else None,
        source=str(path),
    )


def _count_negatives(path: Path) -> int:
    with reading(path):
        first = pd.read_csv(path, sep="\t", header=None, nrows=1, dtype=str, quoting=3)
    return first.shape[1] - 1


def _read_negatives(path: Path, test: pd.DataFrame) -> np.ndarray:
    try:
        n_negatives = _count_negatives(path)
    except pd.errors.EmptyDataError:
        n_negatives = 0
    fields = [Field("pair", "str")] + [Field(f"negative_{k}", "int") for k in range(n_negatives)]
    frame = read_delimited(path, fields, sep="\t")
    pairs = frame["pair"].str.extract(r"^\((\d+),(\d+)\)$")
    malformed = pairs[0].isna().to_numpy()
    if malformed.any():
        row = int(np.flatnonzero(malformed)[0])
        raise DataFormatError(
            path, f"first field {frame['pair'].iloc[row]!r} is not '(user,item)'", line=row + 1
        )
    users = pairs[0].astype(np.int64).to_numpy()
    items = pairs[1].astype(np.int64).to_numpy()
    n_common = min(len(frame), len(test))
    mismatch = (users[:n_common] != test["user_id"].to_numpy()[:n_common]) | (
        items[:n_common] != test["item_id"].to_numpy()[:n_common]
    )
    if mismatch.any():
        row = int(np.flatnonzero(mismatch)[0])
        raise DataFormatError(
            path,
            f"pair ({users[row]},{items[row]}) does not match test row "
            f"({test['user_id'].iloc[row]},{test['item_id'].iloc[row]})",
            line=row + 1,
        )
    if len(frame) != len(test):
        raise DataFormatError(path, f"{len(frame)} lines but the test file has {len(test)} rows")
    negatives = frame.iloc[:, 1:].to_numpy(dtype=np.int64).reshape(len(frame), n_negatives)
    if (negatives < 0).any():
        row = int(np.flatnonzero((negatives < 0).any(axis=1))[0])
        raise DataFormatError(path, "negative item id", line=row + 1)
    return negatives


def read_ncf_item_map(path: str | Path) -> pd.DataFrame:
    """Read ``ncf_item_to_item_idx.tsv``: columns ``ncf_item``, ``item_idx``, ``movie_id`` (int64).

    Extra columns of the file (how each id was resolved) are kept as they are.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"{path} not found")
    try:
        with reading(path):
            frame = pd.read_csv(path, sep="\t", dtype={"ncf_item": "Int64", "item_idx": "Int64"})
    except (pd.errors.ParserError, ValueError) as error:
        raise DataFormatError(path, f"cannot parse: {error}") from error
    needed = ("ncf_item", "item_idx", "movie_id")
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataFormatError(
            path, f"missing column(s) {missing}; found {list(frame.columns)}", line=1
        )
    for column in needed:
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().any():
            row = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise DataFormatError(path, f"'{column}' is missing or not an integer", line=row + 2)
        frame[column] = values.astype(np.int64)
    return frame


def ncf_movie_ids(directory: str | Path) -> np.ndarray:
    """MovieLens MovieID of every NCF item id, from ``ncf_item_to_item_idx.tsv``.

    Args:
        directory: the folder holding the map (the NCF folder or its parent ``ml-1m``).

    Returns:
        int64 array ``movie_id[ncf_item]`` of length ``n_items``.

    Raises:
        DatasetNotFoundError: no map file (only the project's ML-1M copy has one).
        DataFormatError: the NCF ids are not exactly ``0..n-1``.
    """
    folder = Path(directory)
    path = find_file(folder, ITEM_MAP_FILE) or find_file(folder / "ncf", ITEM_MAP_FILE)
    if path is None:
        raise DatasetNotFoundError(f"{folder / ITEM_MAP_FILE} not found")
    frame = read_ncf_item_map(path)
    ncf_item = frame["ncf_item"].to_numpy()
    if not np.array_equal(np.sort(ncf_item), np.arange(len(ncf_item))):
        raise DataFormatError(path, "ncf_item is not a permutation of 0..n-1")
    movie_ids = np.empty(len(ncf_item), dtype=np.int64)
    movie_ids[ncf_item] = frame["movie_id"].to_numpy()
    return movie_ids
