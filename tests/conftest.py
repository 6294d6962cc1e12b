"""Shared fixtures: small planted-signal data and the real-data switch."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from recforge.core.errors import DataFormatError
from recforge.data.tables import INTERACTION_COLUMNS

torch.set_num_threads(1)


def real_data(name: str) -> Path:
    """Folder of a real dataset under $RECFORGE_DATA, or skip the test."""
    root = os.environ.get("RECFORGE_DATA")
    if not root or not (Path(root) / name).is_dir():
        pytest.skip(f"real dataset {name} not available (set RECFORGE_DATA)")
    return Path(root) / name


@pytest.fixture
def planted() -> sp.csr_matrix:
    """60 users x 40 items in two taste groups: users 0-29 like items 0-19, users 30-59 like
    items 20-39; each user has 8 of their group's items (a model must learn the groups)."""
    rng = np.random.default_rng(0)
    rows, cols = [], []
    for user in range(60):
        group = 0 if user < 30 else 20
        items = rng.choice(20, size=8, replace=False) + group
        rows += [user] * 8
        cols += items.tolist()
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(60, 40))


# --- helpers for reader tests: files in the publishers' formats -----------------------------


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
