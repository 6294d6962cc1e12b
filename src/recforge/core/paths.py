"""Where recforge finds datasets and writes runs."""

from __future__ import annotations

import os
from pathlib import Path

from recforge.core.errors import DatasetNotFoundError

DATA_ENV = "RECFORGE_DATA"


def data_root() -> Path:
    """Directory holding public datasets: ``$RECFORGE_DATA`` or ``~/.cache/recforge/datasets``."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "recforge" / "datasets"


def dataset_dir(name: str) -> Path:
    """The folder of one dataset under :func:`data_root`, which must exist."""
    path = data_root() / name
    if not path.is_dir():
        raise DatasetNotFoundError(
            f"dataset folder {path} not found; set {DATA_ENV} or run "
            f"'recforge datasets download {name}'"
        )
    return path
