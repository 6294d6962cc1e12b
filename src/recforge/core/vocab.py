"""Raw ids <-> contiguous indices."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recforge.core.errors import UnknownIdError


class IdVocab:
    """Maps raw ids (ints or strings) to contiguous indices ``0..n-1`` and back.

    ``fit`` keeps ids in order of first appearance unless ``sort=True``.

    >>> vocab = IdVocab(kind="item").fit(["b", "a", "b", "c"])
    >>> vocab.transform(["a", "c"]).tolist()
    [1, 2]
    >>> vocab.inverse_transform([0]).tolist()
    ['b']
    >>> vocab.transform(["z"])
    Traceback (most recent call last):
    ...
    recforge.core.errors.UnknownIdError: unknown item id 'z'
    """

    def __init__(self, kind: str = "item", sort: bool = False) -> None:
        self.kind = kind
        self.sort = sort

    def fit(self, raw_ids: Sequence[Any] | np.ndarray | pd.Series) -> IdVocab:
        uniques = pd.unique(pd.Series(np.asarray(raw_ids)))
        if self.sort:
            uniques = np.sort(np.asarray(uniques))
        self.ids_ = np.asarray(uniques)
        self.index_ = pd.Index(self.ids_)
        return self

    def __len__(self) -> int:
        return len(self.ids_)

    def __contains__(self, raw_id: object) -> bool:
        return raw_id in self.index_

    def transform(self, raw_ids: Sequence[Any] | np.ndarray | pd.Series) -> np.ndarray:
        """Indices of ``raw_ids``; an id not seen in ``fit`` raises :class:`UnknownIdError`."""
        raw = np.asarray(raw_ids)
        idx = self.index_.get_indexer(raw)
        if (idx < 0).any():
            raise UnknownIdError(self.kind, raw[int(np.flatnonzero(idx < 0)[0])].item())
        return idx.astype(np.int64)

    def lookup(self, raw_id: Any) -> int:
        """Index of one raw id; tries the id as given, then as int and as str (CLI input)."""
        for candidate in _candidates(raw_id):
            position = self.index_.get_indexer([candidate])[0]
            if position >= 0:
                return int(position)
        raise UnknownIdError(self.kind, raw_id)

    def inverse_transform(self, idx: Sequence[int] | np.ndarray) -> np.ndarray:
        return self.ids_[np.asarray(idx, dtype=np.int64)]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "ids": [_jsonable(x) for x in self.ids_]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IdVocab:
        vocab = cls(kind=data["kind"])
        return vocab.fit(data["ids"])

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: str | Path) -> IdVocab:
        return cls.from_dict(json.loads(Path(path).read_text()))


def _jsonable(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _candidates(raw_id: Any) -> list[Any]:
    out = [raw_id]
    if isinstance(raw_id, str):
        with contextlib.suppress(ValueError):
            out.append(int(raw_id))
    else:
        out.append(str(raw_id))
    return out
