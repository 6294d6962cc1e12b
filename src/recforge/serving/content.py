"""Item content vectors for the catalogue in the event store: what serves cold start.

Every item's text (title, description, categories, tags, brand; see
``features.profiles.item_text``) becomes a vector by the encoder the settings name
(``content_encoder``: TF-IDF + SVD by default, Doc2Vec or MiniLM; ``representation.text``).
Items added or changed through the API after start-up are encoded with the fitted encoder
and put into the index at once, so an item with metadata but no interactions can be
recommended and has similar items from its first second.

Dimension letters: N items in the index, D content dimensions.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable

import numpy as np
import pandas as pd

from recforge.features.profiles import item_text
from recforge.representation.text import TextEncoder, TextEncoderError, text_encoder
from recforge.serving.index import VectorIndex

logger = logging.getLogger(__name__)


def _categories(items: pd.DataFrame) -> list[list[str]]:
    """The ``categories`` list of every row (empty where missing)."""
    if "categories" not in items.columns:
        return [[] for _ in range(len(items))]
    return [
        [str(v) for v in value] if isinstance(value, list | tuple | np.ndarray) else []
        for value in items["categories"].tolist()
    ]


class ContentIndex:
    """Content vectors of the store's items, searchable by inner product (cosine: the
    vectors are L2-normalised).

    Args:
        dim: content vector size (tfidf and doc2vec; MiniLM's is 384).
        seed: seeds the encoder (tfidf's SVD, doc2vec).
        encoder: ``"tfidf"``, ``"doc2vec"`` or ``"minilm"`` (``representation.text``).
        exact_limit: see :class:`VectorIndex`.
    """

    def __init__(
        self,
        *,
        dim: int = 64,
        seed: int = 0,
        encoder: str = "tfidf",
        exact_limit: int = 1_000_000,
    ) -> None:
        self.dim = dim
        self.seed = seed
        self.encoder_name = encoder
        self.exact_limit = exact_limit
        self.encoder: TextEncoder | None = None
        self.index: VectorIndex | None = None
        self.item_ids: list[str] = []
        self.rows: dict[str, int] = {}
        self.by_category: dict[str, set[int]] = defaultdict(set)
        self._lock = threading.Lock()
        #: bumped on every change, so callers can cache what they derive from the index
        self.version = 0
        #: item_id -> title (None where unknown), for labelling answers without a query
        self.titles: dict[str, str | None] = {}
        #: newest ``updated_at`` among the items seen so far
        self.updated_until = 0.0

    def __len__(self) -> int:
        return len(self.item_ids)

    def fit(self, items: pd.DataFrame) -> ContentIndex:
        """Fit the encoder on ``items`` (the store's items table) and index them all."""
        self._note(items)
        texts = item_text(items).tolist() if len(items) else []
        if not any(text.strip() for text in texts):
            logger.info("no item text in the store yet: content similarity is off")
            return self
        try:
            options = {} if self.encoder_name == "minilm" else {"dim": self.dim, "seed": self.seed}
            self.encoder = text_encoder(self.encoder_name, **options).fit(texts)
        except TextEncoderError as error:
            logger.warning("item text unusable for content vectors (%s): similarity is off", error)
            return self
        vectors = self.encoder.transform(texts)
        with self._lock:
            self.version += 1
            self.index = VectorIndex(vectors, exact_limit=self.exact_limit)
            self.item_ids = [str(i) for i in items["item_id"]]
            self.rows = {item_id: row for row, item_id in enumerate(self.item_ids)}
            self.by_category = defaultdict(set)
            for row, categories in enumerate(_categories(items)):
                for category in categories:
                    self.by_category[category].add(row)
        logger.info("content index: %d items, %d dimensions", len(self.item_ids), vectors.shape[1])
        return self

    def _note(self, items: pd.DataFrame) -> None:
        """Remember titles and the newest ``updated_at`` seen (what to ask the store next)."""
        if not len(items):
            return
        if "title" in items.columns:
            for item_id, title in zip(items["item_id"], items["title"], strict=True):
                self.titles[str(item_id)] = title if isinstance(title, str) else None
        if "updated_at" in items.columns:
            self.updated_until = max(self.updated_until, float(items["updated_at"].max()))

    def upsert(self, items: pd.DataFrame) -> None:
        """Encode new or changed items and make them searchable now."""
        self._note(items)
        if self.encoder is None or self.index is None or not len(items):
            if len(items):
                logger.info("content index not fitted yet; %d items wait for a refit", len(items))
            return
        vectors = self.encoder.transform(item_text(items).tolist())
        with self._lock:
            self.version += 1
            rows_in = zip(items["item_id"].tolist(), _categories(items), vectors, strict=True)
            for raw_id, categories, vector in rows_in:
                item_id = str(raw_id)
                row = self.rows.get(item_id)
                if row is None:
                    row = int(self.index.add(vector[None, :])[0])
                    self.item_ids.append(item_id)
                    self.rows[item_id] = row
                else:
                    self.index.replace(row, vector)
                    for rows in self.by_category.values():
                        rows.discard(row)
                for category in categories:
                    self.by_category[category].add(row)

    @property
    def vectors(self) -> np.ndarray:
        """``(N, D)`` content vectors, row = position in ``item_ids``."""
        if self.index is None:
            dim = self.dim if self.encoder is None else self.encoder.dim_
            return np.zeros((0, dim), np.float32)
        return self.index.vectors

    def vector(self, item_id: str) -> np.ndarray | None:
        row = self.rows.get(item_id)
        return None if row is None else self.vectors[row]

    def profile_vector(
        self, item_ids: Iterable[str], weights: Iterable[float]
    ) -> np.ndarray | None:
        """Weighted mean of the content vectors of ``item_ids`` (unknown ids skipped),
        L2-normalised; None when none is known."""
        rows, row_weights = [], []
        for item_id, weight in zip(item_ids, weights, strict=True):
            row = self.rows.get(item_id)
            if row is not None:
                rows.append(row)
                row_weights.append(weight)
        if not rows:
            return None
        mean = np.average(self.vectors[rows], axis=0, weights=np.asarray(row_weights))
        norm = float(np.linalg.norm(mean))
        return None if norm == 0 else (mean / norm).astype(np.float32)

    def search(
        self,
        query: np.ndarray,
        k: int,
        *,
        exclude: Iterable[str] = (),
        allowed: Iterable[str] | None = None,
        category: str | None = None,
    ) -> list[tuple[str, float]]:
        """Best ``k`` items ``[(item_id, cosine)]`` for a content ``query``."""
        if self.index is None:
            return []
        exclude_rows = [self.rows[i] for i in exclude if i in self.rows]
        allowed_rows: list[int] | None = None
        if allowed is not None:
            allowed_rows = [self.rows[i] for i in allowed if i in self.rows]
        if category is not None:
            in_category = self.by_category.get(category, set())
            allowed_rows = sorted(
                in_category if allowed_rows is None else in_category.intersection(allowed_rows)
            )
        if allowed_rows is not None and not allowed_rows:
            return []
        rows, scores = self.index.search(query, k, exclude=exclude_rows, allowed=allowed_rows)
        return [(self.item_ids[r], float(s)) for r, s in zip(rows, scores, strict=True)]

    def in_category(self, item_id: str, category: str) -> bool:
        row = self.rows.get(item_id)
        return row is not None and row in self.by_category.get(category, ())

    def category_items(self, category: str) -> list[str]:
        return [self.item_ids[row] for row in sorted(self.by_category.get(category, set()))]


__all__ = ["ContentIndex"]
