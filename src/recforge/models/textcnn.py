"""Text-CNN recommender: a Kim (2014)-style convolutional text encoder as the item tower,
trained end to end, so items with text but no interactions can be recommended (cold start).

Kim, "Convolutional Neural Networks for Sentence Classification", EMNLP 2014, Sec. 2: word
embeddings of the text, parallel 1-d convolutions of several widths with ReLU, max-over-time
pooling of each feature map, dropout on the pooled vector, then a linear layer (here a
projection to the factor space instead of class logits). The recommender scores

    ŷ_ui = p_u · q_i,   q_i = W · dropout([max_t relu(c_w * e_i)_t]_w) + b  (+ m_i · v_i)

with ``p_u`` a user embedding, ``e_i`` the item's word embeddings and, when
``id_embedding`` is on, ``v_i`` a per-item id embedding gated by ``m_i``:

* ``m_i = 0`` for items without training interactions (cold items), so they are scored by
  their text alone; their id rows are never used.
* During training each sample's id embedding is dropped with probability ``id_dropout``
  (unscaled, as DropoutNet drops preference inputs; Volkovs et al., NeurIPS 2017), so the
  text tower has to carry the signal on its own and a cold item's text vector lives in the
  same space as a warm item's full vector.

The item token rows are a buffer ``item_tokens (I, L)`` built by
:meth:`TextCNN.from_texts`, with ``vocab_size`` and ``max_tokens`` in the config: a checkpoint
rebuilds ``TextCNN(config, n_users, n_items)`` and loads the tokens with the weights. Items
without text have a padding-only row; their text vector is the tower's output for the empty
text, one learned vector shared by every text-less item (a warm one also has its id
embedding). Texts longer than ``max_tokens`` words keep their first words (see
:mod:`recforge.features.text_tokens`).

Dimension letters: B batch, U users, I items, N texts encoded at once, L tokens per text,
V vocabulary, E word embedding size, F feature maps per width, W widths, D factors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
import torch.nn.functional as functional
from torch import Tensor, nn

from recforge.core.batches import UserItemBatch
from recforge.features.profiles import item_text
from recforge.features.text_tokens import PAD, TokenVocabulary
from recforge.models.base import NeuralRecommender


@dataclass(frozen=True)
class TextCNNConfig:
    """Args:
    factors: size D of user and item vectors.
    vocab_size: V, words including padding (0) and unknown (1); set by
        :meth:`TextCNN.from_texts` from the fitted vocabulary.
    max_tokens: L, tokens kept per item text (longer texts are truncated).
    min_count: words rarer than this in the training texts become unknown. A word seen once
        names one training item and teaches the tower that item, not its kind.
    word_dim: word embedding size E.
    widths: convolution widths (Kim used 3, 4, 5); each at most ``max_tokens``.
    filters: feature maps F per width (Kim: 100).
    dropout: dropout on the pooled features (Kim: 0.5).
    id_embedding: add a per-item id embedding for items seen in training. Off by default:
        on the ML-1M cold-start validation items the text-only tower ranked held-out items
        better (recall@20 0.289 against 0.234 with ids and ``id_dropout`` 0.5), as the
        user vectors then fit the id part (``docs/results/cold_start.md``).
    id_dropout: probability of dropping a sample's id embedding in training.
    init_std: std of the Gaussian for user embeddings (word embeddings use 0.1).
    """

    factors: int = 64
    vocab_size: int = 2
    max_tokens: int = 32
    min_count: int = 2
    word_dim: int = 64
    widths: tuple[int, ...] = (3, 4, 5)
    filters: int = 64
    dropout: float = 0.5
    id_embedding: bool = False
    id_dropout: float = 0.5
    init_std: float = 0.01

    def __post_init__(self) -> None:
        for name in ("factors", "max_tokens", "min_count", "word_dim", "filters"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.vocab_size < 2:
            raise ValueError(
                f"vocab_size must be >= 2 (padding and unknown), got {self.vocab_size}"
            )
        if not self.widths or any(w < 1 or w > self.max_tokens for w in self.widths):
            raise ValueError(
                f"widths must be non-empty, each in 1..max_tokens={self.max_tokens}, "
                f"got {self.widths}"
            )
        for name in ("dropout", "id_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")


class TextCNN(NeuralRecommender):
    """User embedding · (text-CNN item vector, plus an id embedding for warm items).

    >>> config = TextCNNConfig(factors=4, max_tokens=5, widths=(1, 2), filters=3, word_dim=4)
    >>> model = TextCNN.from_texts(
    ...     config, n_users=2, texts=["red wool hat", "red steel stove", "steel hat", None])
    >>> model.vocabulary_.words_  # words seen at least min_count = 2 times
    ['<pad>', '<unk>', 'hat', 'red', 'steel']
    >>> model.config.vocab_size, tuple(model.item_tokens.shape)
    (5, (4, 5))
    >>> model.eval().score_all(torch.tensor([0, 1])).shape
    torch.Size([2, 4])
    """

    config_class = TextCNNConfig
    #: built from the items' texts (:meth:`from_items`), not from sizes alone
    uses_item_text = True
    #: items encoded per chunk when the whole catalogue is encoded
    encode_chunk = 4096

    item_tokens: Tensor  # (I, L) int64 token rows, PAD = 0
    id_mask: Tensor  # (I,) float32, 1 where the id embedding is used (warm items)
    vocabulary_: TokenVocabulary  # set by from_texts; not saved in checkpoints

    def __init__(self, config: TextCNNConfig, n_users: int, n_items: int) -> None:
        super().__init__(n_users, n_items)
        self.config = config
        self.user_embedding = nn.Embedding(n_users, config.factors)
        self.word_embedding = nn.Embedding(config.vocab_size, config.word_dim, padding_idx=PAD)
        self.convolutions = nn.ModuleList(
            nn.Conv1d(config.word_dim, config.filters, width) for width in config.widths
        )
        self.projection = nn.Linear(len(config.widths) * config.filters, config.factors)
        nn.init.normal_(self.user_embedding.weight, std=config.init_std)
        nn.init.normal_(self.word_embedding.weight, std=0.1)
        with torch.no_grad():
            self.word_embedding.weight[PAD].zero_()
        self.register_buffer("item_tokens", torch.full((n_items, config.max_tokens), PAD))
        self.item_embedding: nn.Embedding | None = None
        if config.id_embedding:
            # zero start: an id row that never gets a gradient adds nothing
            self.item_embedding = nn.Embedding(n_items, config.factors)
            nn.init.zeros_(self.item_embedding.weight)
            self.register_buffer("id_mask", torch.ones(n_items))

    @classmethod
    def from_texts(
        cls,
        config: TextCNNConfig,
        n_users: int,
        texts: Sequence[Any],
        *,
        train: sp.csr_matrix | None = None,
        vocabulary: TokenVocabulary | None = None,
    ) -> TextCNN:
        """A model over the items whose texts are ``texts`` (one per item index, ``I``).

        Args:
            config: its ``vocab_size`` is replaced by the fitted vocabulary's size.
            n_users: number of users U.
            texts: item ``i``'s text at position ``i``; None/NaN/``""`` for no text.
            train: users x items training interactions. When given, the vocabulary is fitted
                on the texts of items with at least one training interaction, and the other
                items get no id embedding (``id_mask`` 0); otherwise on all texts, and every
                item is warm.
            vocabulary: a fitted vocabulary to reuse instead of fitting one (its
                ``max_tokens`` must equal the config's).

        The fitted vocabulary is kept as ``model.vocabulary_`` (not part of the checkpoint;
        save it with :meth:`TokenVocabulary.save` to encode new items later).
        """
        n_items = len(texts)
        warm = np.ones(n_items, dtype=bool)
        if train is not None:
            if train.shape != (n_users, n_items):
                raise ValueError(
                    f"train is {train.shape[0]} x {train.shape[1]}, expected "
                    f"{n_users} users x {n_items} items (one text per item)"
                )
            warm = np.bincount(train.tocoo().col, minlength=n_items) > 0
        if vocabulary is None:
            vocabulary = TokenVocabulary(config.max_tokens, min_count=config.min_count)
            vocabulary.fit([text for text, keep in zip(texts, warm, strict=True) if keep])
        elif vocabulary.max_tokens != config.max_tokens:
            raise ValueError(
                f"vocabulary.max_tokens={vocabulary.max_tokens} differs from "
                f"config.max_tokens={config.max_tokens}"
            )
        config = dataclasses.replace(config, vocab_size=len(vocabulary))
        model = cls(config, n_users, n_items)
        model.set_item_tokens(vocabulary.transform(texts))
        if model.config.id_embedding:
            model.id_mask.copy_(torch.from_numpy(warm.astype(np.float32)))
        model.vocabulary_ = vocabulary
        return model

    @classmethod
    def from_items(
        cls,
        config: TextCNNConfig,
        n_users: int,
        items: pd.DataFrame,
        *,
        train: sp.csr_matrix | None = None,
    ) -> TextCNN:
        """:meth:`from_texts` with each item's text built from an items table whose row
        ``i`` describes item index ``i`` (``Prepared.items``): title, description,
        categories/genres, tags and brand (:func:`recforge.features.profiles.item_text`)."""
        if not isinstance(items, pd.DataFrame):
            raise TypeError(f"items must be a pandas DataFrame, got {type(items).__name__}")
        texts = item_text(items.reset_index(drop=True)).tolist()
        return cls.from_texts(config, n_users, texts, train=train)

    def set_item_tokens(self, tokens: np.ndarray | Tensor) -> None:
        """Replace the item token rows with ``tokens (I, L)``; every index below
        ``vocab_size``."""
        tokens = torch.as_tensor(np.asarray(tokens), dtype=torch.int64)
        expected = (self.n_items, self.config.max_tokens)
        if tuple(tokens.shape) != expected:
            raise ValueError(f"tokens have shape {tuple(tokens.shape)}, expected {expected}")
        if len(tokens) and (tokens.min() < 0 or tokens.max() >= self.config.vocab_size):
            raise ValueError(f"token indices must lie in 0..{self.config.vocab_size - 1}")
        self.item_tokens.copy_(tokens)

    def with_catalogue(self, tokens: np.ndarray | Tensor, source_idx: np.ndarray) -> TextCNN:
        """The same trained model over another catalogue, e.g. with new items appended.

        Args:
            tokens: ``(I2, L)`` token rows of the new catalogue (from the same vocabulary).
            source_idx: ``(I2,)`` this model's item index of each new item, ``-1`` for an
                item it never saw (scored by its text alone).

        Returns a new model in eval mode sharing no tensors with this one.
        """
        source = torch.as_tensor(np.asarray(source_idx), dtype=torch.int64)
        if source.ndim != 1 or len(source) != len(tokens):
            raise ValueError(f"source_idx must have one entry per token row ({len(tokens)})")
        if len(source) and (source.min() < -1 or source.max() >= self.n_items):
            raise ValueError(f"source_idx entries must be -1 or in 0..{self.n_items - 1}")
        with torch.random.fork_rng(devices=[]):  # the new weights are overwritten below:
            model = type(self)(self.config, self.n_users, len(source))  # leave the RNG alone
        state = {k: v.clone() for k, v in self.state_dict().items()}
        state["item_tokens"] = model.item_tokens
        known = source >= 0
        if self.item_embedding is not None:
            rows = torch.zeros(len(source), self.config.factors)
            rows[known] = state["item_embedding.weight"][source[known]]
            mask = torch.zeros(len(source))
            mask[known] = state["id_mask"][source[known]]
            state["item_embedding.weight"], state["id_mask"] = rows, mask
        model.load_state_dict(state)
        model.set_item_tokens(tokens)
        if hasattr(self, "vocabulary_"):
            model.vocabulary_ = self.vocabulary_
        return model.eval()

    def encode_tokens(self, tokens: Tensor) -> Tensor:
        """Text vectors ``(N, D)`` of token rows ``(N, L)`` (dropout active in train mode)."""
        words = self.word_embedding(tokens).transpose(1, 2)  # (N, E, L)
        # Kim (2014) Sec. 2: ReLU feature maps, max over time, one value per map
        pooled = [conv(words).relu().amax(dim=2) for conv in self.convolutions]  # W x (N, F)
        features = torch.cat(pooled, dim=1)  # (N, W*F)
        features = functional.dropout(features, self.config.dropout, self.training)
        return self.projection(features)  # (N, D)

    def _item_vectors(self, item_idx: Tensor) -> Tensor:
        """Item vectors ``(B, D)``; each distinct item's text is encoded once."""
        distinct, inverse = torch.unique(item_idx, return_inverse=True)
        vectors = self.encode_tokens(self.item_tokens[distinct])[inverse]  # (B, D)
        if self.item_embedding is not None:
            keep = self.id_mask[item_idx]  # (B,)
            if self.training and self.config.id_dropout > 0:
                keep = keep * (
                    torch.rand(len(item_idx), device=keep.device) >= self.config.id_dropout
                )
            vectors = vectors + keep[:, None] * self.item_embedding(item_idx)  # (B, D)
        return vectors

    def forward(self, batch: UserItemBatch) -> Tensor:
        users = self.user_embedding(batch.user_idx)  # (B, D)
        return (users * self._item_vectors(batch.item_idx)).sum(-1)  # (B,)

    @torch.no_grad()
    def item_vectors(self) -> Tensor:
        """Vectors ``(I, D)`` of the whole catalogue as scored in eval mode (no dropout)."""
        was_training = self.training
        self.eval()
        try:
            chunks = [
                self.encode_tokens(self.item_tokens[start : start + self.encode_chunk])
                for start in range(0, self.n_items, self.encode_chunk)
            ]
            device = self.item_tokens.device
            vectors = (
                torch.cat(chunks) if chunks else torch.empty(0, self.config.factors, device=device)
            )
            if self.item_embedding is not None:
                vectors = vectors + self.id_mask[:, None] * self.item_embedding.weight  # (I, D)
            return vectors
        finally:
            self.train(was_training)

    def score_all(self, user_idx: Tensor) -> Tensor:
        """``(B, I)`` scores: one matrix product against the catalogue encoded once."""
        return self.user_embedding(user_idx) @ self.item_vectors().T  # (B, I)


__all__ = ["TextCNN", "TextCNNConfig"]
