"""Content-based recommender: items are their text vectors, a user is the weighted mean of
the vectors of the items they interacted with, and an item scores the cosine between the two
(the classic content-based filtering of Pazzani & Billsus, "Content-Based Recommendation
Systems", The Adaptive Web 2007, with learned text vectors in place of keyword profiles).

An item's text is its title, description, categories/genres, tags and brand
(``features.profiles.item_text``), encoded by the encoder the config names (``tfidf``,
``doc2vec`` or ``minilm``; ``representation.text.text_encoder``). No interaction is needed to
score an item, which is the point: items that never appear in training (cold start) are
scored like any other. By default the encoder is fitted on the texts of the items seen in
training only, so a held-out item's text is encoded exactly as a new item's would be.

Items without text (empty or missing title and metadata), or whose words the encoder does not
know, have no content vector: they are left out of user vectors and score
:data:`NO_TEXT_SCORE`, below every cosine, so they rank last; their number is logged as a
warning at ``fit``.

``fit(train, items=...)``: ``items`` is the metadata table whose row ``i`` describes item
index ``i`` (``Prepared.items``); the experiment passes it to models that declare
``uses_item_text``.

Dimension letters: B users, U users, I items, D text dimensions.
"""

from __future__ import annotations

import inspect
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from torch import Tensor

from recforge.core.errors import DataFormatError, RecforgeError
from recforge.core.sequences import Sequences
from recforge.features.profiles import item_text
from recforge.models._sparse import check_user_idx, interaction_matrix
from recforge.models.base import FittedRecommender
from recforge.representation.text import (
    check_encoder_options,
    encoder_class,
    normalize_rows,
    text_encoder,
)

logger = logging.getLogger(__name__)

#: score of an item without a content vector: below every cosine, still finite
NO_TEXT_SCORE = -2.0
#: single-text columns of an items table, and list-of-text columns
TEXT_COLUMNS = ("title", "description", "brand")
LIST_COLUMNS = ("category", "categories", "genres", "tags")


@dataclass(frozen=True)
class ContentConfig:
    """Args:
    encoder: ``"tfidf"``, ``"doc2vec"`` or ``"minilm"``.
    dim: vector size for the encoders that learn one (tfidf, doc2vec; MiniLM's is 384).
    encoder_options: further keyword arguments of the encoder (``{"mode": "dm"}`` ...).
    user_weighting: ``"count"`` (each training interaction weighs its value in the training
        matrix: 1 for implicit data) or ``"recency"`` (the latest item weighs 1, the one
        ``recency_half_life`` items earlier 1/2; needs time-ordered histories).
    recency_half_life: see ``user_weighting``, in items.
    fit_on: fit the encoder on the texts of ``"train_items"`` (items with a training
        interaction) or of ``"all_items"``.
    seed: seeds the encoder (tfidf's SVD, doc2vec).
    """

    encoder: str = "tfidf"
    dim: int = 64
    encoder_options: dict[str, Any] = field(default_factory=dict)
    user_weighting: Literal["count", "recency"] = "count"
    recency_half_life: float = 20.0
    fit_on: Literal["train_items", "all_items"] = "train_items"
    seed: int = 0

    def __post_init__(self) -> None:
        check_encoder_options(self.encoder, self.encoder_options)  # names a bad one
        if self.dim < 1:
            raise ValueError(f"dim must be >= 1, got {self.dim}")
        if self.user_weighting not in ("count", "recency"):
            raise ValueError(
                f"user_weighting must be 'count' or 'recency', got {self.user_weighting!r}"
            )
        if not self.recency_half_life > 0:
            raise ValueError(f"recency_half_life must be > 0, got {self.recency_half_life}")
        if self.fit_on not in ("train_items", "all_items"):
            raise ValueError(f"fit_on must be 'train_items' or 'all_items', got {self.fit_on!r}")

    def encoder_kwargs(self) -> dict[str, Any]:
        """``dim`` and ``seed`` where the encoder takes them, then ``encoder_options``."""
        accepted = inspect.signature(encoder_class(self.encoder)).parameters
        common = {name: getattr(self, name) for name in ("dim", "seed") if name in accepted}
        return {**common, **self.encoder_options}


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def check_item_text(items: pd.DataFrame) -> None:
    """Raise :class:`DataFormatError` naming the column, row and item of the first value
    that is not text: text columns hold strings or missing values, list columns strings or
    lists of strings.

    >>> check_item_text(pd.DataFrame({"item_id": [7], "title": [1995]}))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    recforge.core.errors.DataFormatError: <items>: column 'title', row 0 (item_id 7): ... int 1995
    """

    def fail(column: str, row: int, value: Any) -> DataFormatError:
        item = f" (item_id {items['item_id'].iloc[row]})" if "item_id" in items.columns else ""
        return DataFormatError(
            "<items>",
            f"column {column!r}, row {row}{item}: expected text, got "
            f"{type(value).__name__} {str(value)[:40]}",
        )

    for column in TEXT_COLUMNS:
        if column in items.columns:
            for row, value in enumerate(items[column].tolist()):
                if not (_is_missing(value) or isinstance(value, str)):
                    raise fail(column, row, value)
    for column in LIST_COLUMNS:
        if column in items.columns:
            for row, value in enumerate(items[column].tolist()):
                values = list(value) if isinstance(value, list | tuple | np.ndarray) else [value]
                for element in values:
                    if not (_is_missing(element) or isinstance(element, str)):
                        raise fail(column, row, element)


def item_texts(items: pd.DataFrame, n_items: int) -> list[str]:
    """One text per item index (``""`` where nothing is known), after
    :func:`check_item_text`."""
    if not isinstance(items, pd.DataFrame):
        raise TypeError(f"items must be a pandas DataFrame, got {type(items).__name__}")
    if len(items) != n_items:
        raise ValueError(f"items has {len(items)} rows, expected one per item ({n_items})")
    check_item_text(items)
    return item_text(items.reset_index(drop=True)).tolist()


def recency_weights(sequences: Sequences, n_items: int, half_life: float) -> sp.csr_matrix:
    """Users x items weights ``0.5 ** (steps from the latest item / half_life)``, summed
    over repeats: ``(U, I)`` CSR."""
    lengths = np.diff(sequences.indptr)  # (U,)
    users = np.repeat(np.arange(len(lengths)), lengths)
    from_end = np.repeat(sequences.indptr[1:], lengths) - 1 - np.arange(len(users))
    weights = np.power(0.5, from_end / half_life).astype(np.float32)
    shape = (len(lengths), n_items)
    return sp.csr_matrix((weights, (users, sequences.item_idx)), shape=shape)


class ContentRecommender(FittedRecommender):
    """Cosine between a user's mean item text vector and every item's text vector.

    >>> items = pd.DataFrame({"title": ["wool sweater", "wool hat", "gas stove", "camp stove"]})
    >>> train = sp.csr_matrix([[1, 0, 0, 0], [0, 0, 1, 0]])
    >>> model = ContentRecommender(ContentConfig(fit_on="all_items"), 2, 4)
    >>> scores = model.fit(train, items=items).score_all(torch.tensor([0, 1]))
    >>> scores.argsort(descending=True)[:, :2].tolist()  # own item, then its text neighbour
    [[0, 1], [2, 3]]
    """

    config_class = ContentConfig
    state_names = ("item_vectors_", "user_vectors_", "has_vector_")
    uses_item_text = True
    uses_sequences = True  # read for user_weighting = "recency"

    item_vectors_: Tensor  # (I, D) float32, unit rows; zero rows for items without a vector
    user_vectors_: Tensor  # (U, D) float32, unit rows; zero for users without a known item
    has_vector_: Tensor  # (I,) bool

    def __init__(self, config: ContentConfig, n_users: int, n_items: int) -> None:
        super().__init__(config, n_users, n_items)

    def fit(
        self,
        train: sp.csr_matrix,
        items: pd.DataFrame | None = None,
        sequences: Sequences | None = None,
    ) -> ContentRecommender:
        """Encode every item's text, then average each user's training items.

        Args:
            train: users x items training interactions.
            items: item metadata, row ``i`` = item index ``i`` (``Prepared.items``).
            sequences: time-ordered training histories (``Prepared.train_sequences``), read
                when ``user_weighting = "recency"``.

        Raises:
            RecforgeError: no items table, or no item text to fit the encoder on.
            DataFormatError: a text column holds something other than text (names it).
        """
        config = self.config
        matrix = interaction_matrix(train, self.n_users, self.n_items, binary=False)
        if items is None:
            raise RecforgeError(
                "the content model needs item texts: fit(train, items=Prepared.items); "
                "this dataset has no items table"
            )
        texts = item_texts(items, self.n_items)
        has_text = np.array([bool(text.strip()) for text in texts])
        fit_rows = has_text.copy()
        if config.fit_on == "train_items":
            fit_rows &= np.diff(matrix.tocsc().indptr) > 0
        if not fit_rows.any():
            raise RecforgeError(f"no item text to fit the {config.encoder!r} encoder on")
        encoder = text_encoder(config.encoder, **config.encoder_kwargs())
        encoder.fit([texts[row] for row in np.flatnonzero(fit_rows)])
        vectors = normalize_rows(encoder.transform(texts))  # (I, D)
        has_vector = np.linalg.norm(vectors, axis=1) > 0
        if not has_vector.all():
            logger.warning(
                "content: %d of %d items have no content vector (%d without text, %d whose "
                "words the encoder does not know); they score %.1f and rank last",
                int((~has_vector).sum()),
                self.n_items,
                int((~has_text).sum()),
                int((has_text & ~has_vector).sum()),
                NO_TEXT_SCORE,
            )
        self.item_vectors_ = torch.from_numpy(vectors)
        self.has_vector_ = torch.from_numpy(has_vector)
        self.user_vectors_ = self.fold_in(self._user_weights(matrix, sequences))
        return self

    def _user_weights(self, matrix: sp.csr_matrix, sequences: Sequences | None) -> sp.csr_matrix:
        if self.config.user_weighting == "count":
            return matrix
        if sequences is None:
            raise RecforgeError(
                "user_weighting = 'recency' needs time-ordered histories "
                "(fit(train, sequences=Prepared.train_sequences))"
            )
        if len(sequences) != self.n_users:
            raise ValueError(f"sequences cover {len(sequences)} users, expected {self.n_users}")
        return recency_weights(sequences, self.n_items, self.config.recency_half_life)

    def set_histories(self, sequences: Sequences) -> None:
        """User vectors from these histories from now on (the test protocol of a
        leave-one-out split feeds the validation item); item vectors stay."""
        self.check_fitted()
        if len(sequences) != self.n_users:
            raise ValueError(f"sequences cover {len(sequences)} users, expected {self.n_users}")
        if self.config.user_weighting == "recency":
            weights = recency_weights(sequences, self.n_items, self.config.recency_half_life)
        else:
            weights = sequences.to_csr(self.n_items)
        self.user_vectors_ = self.fold_in(weights)

    def fold_in(self, weights: sp.csr_matrix) -> Tensor:
        """User vectors ``(B, D)`` from a users x items weight matrix ``(B, I)`` (a live
        history, say): the weighted mean of the items' vectors, L2-normalised; items without
        a vector are skipped, a user with none gets a zero vector."""
        weights = sp.csr_matrix(weights, dtype=np.float32)
        if weights.shape[1] != self.n_items:
            raise ValueError(f"weights have {weights.shape[1]} columns, expected {self.n_items}")
        keep = sp.diags(self.has_vector_.numpy().astype(np.float32))
        summed = (weights @ keep) @ self.item_vectors_.numpy()  # (B, D)
        return torch.from_numpy(normalize_rows(np.asarray(summed)))

    def score_all(self, user_idx: Tensor) -> Tensor:
        """Cosines ``(B, I)``; items without a content vector score :data:`NO_TEXT_SCORE`."""
        self.check_fitted()
        user_idx = check_user_idx(user_idx, self.n_users)
        scores = self.user_vectors_[user_idx].float() @ self.item_vectors_.float().T  # (B, I)
        return scores.masked_fill(~self.has_vector_.bool(), NO_TEXT_SCORE)


__all__ = [
    "NO_TEXT_SCORE",
    "ContentConfig",
    "ContentRecommender",
    "check_item_text",
    "item_texts",
    "recency_weights",
]
