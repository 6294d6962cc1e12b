"""Item2Vec (Barkan & Koenigstein, 2016): skip-gram with negative sampling over users'
histories, items as words, with gensim's Word2Vec.

The paper treats a whole basket as the context of each item; over time-ordered histories a
window of neighbours is the usual reading (``window``). Items never seen in training keep a
zero vector.

Dimension letters: I items, D factors.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass

import numpy as np

from recforge.core.errors import RecforgeError
from recforge.core.sequences import Sequences

logger = logging.getLogger(__name__)


def stable_hash(text: str) -> int:
    """gensim seeds each word's initial vector from a hash of the word; Python's ``hash``
    changes between processes, so runs would not repeat. CRC32 does not."""
    return zlib.crc32(text.encode())


@dataclass(frozen=True)
class Item2VecConfig:
    """Args:
    factors: vector size D.
    window: context items on each side (the paper's whole-basket context: a large window).
    negatives: negative samples per positive pair.
    epochs: passes over the histories.
    subsample: frequent-item down-sampling threshold (the paper's sub-sampling; 0 = off,
        which ranked better on the shop's validation split when users are scored with the
        context vectors: down-sampling popular items removes the popularity they carry).
    learning_rate: initial SGD step (gensim's ``alpha``).
    min_count: items seen fewer times are ignored (zero vector).
    seed: seeds initialisation and sampling (training runs on one thread so that it repeats).
    """

    factors: int = 64
    window: int = 5
    negatives: int = 5
    epochs: int = 20
    subsample: float = 0.0
    learning_rate: float = 0.025
    min_count: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("factors", "window", "negatives", "epochs", "min_count"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


class Item2Vec:
    """Learn item vectors from histories.

    >>> rng = np.random.default_rng(0)  # two groups of 10 items, each user in one group
    >>> histories = [(rng.choice(10, 8) + 10 * (u % 2)).tolist() for u in range(200)]
    >>> config = Item2VecConfig(factors=8, epochs=5)
    >>> model = Item2Vec(config).fit(Sequences.from_lists(histories), n_items=20)
    >>> v = model.item_vectors_ / np.linalg.norm(model.item_vectors_, axis=1, keepdims=True)
    >>> bool((v[:10] @ v[:10].T).mean() > (v[:10] @ v[10:].T).mean())  # groups cluster
    True
    """

    def __init__(self, config: Item2VecConfig | None = None) -> None:
        self.config = config or Item2VecConfig()

    def fit(self, sequences: Sequences, *, n_items: int) -> Item2Vec:
        """Train on ``sequences`` (item indices ``< n_items``); sets ``item_vectors_`` (the
        input side, for item-to-item similarity) and ``context_vectors_`` (the output side:
        ``item_vector · context_vector`` estimates how likely two items share a context)."""
        from gensim.models import Word2Vec

        config = self.config
        sentences = [[str(item) for item in history] for history in sequences.as_lists()]
        sentences = [s for s in sentences if len(s) > 1]  # a lone item has no context
        if not sentences:
            raise RecforgeError("Item2Vec needs at least one history with two or more items")
        if sequences.n_interactions and int(sequences.item_idx.max()) >= n_items:
            raise RecforgeError(f"histories hold item indices >= n_items ({n_items})")
        model = Word2Vec(
            sentences,
            vector_size=config.factors,
            window=config.window,
            negative=config.negatives,
            sg=1,
            hs=0,
            sample=config.subsample,
            alpha=config.learning_rate,
            min_count=config.min_count,
            epochs=config.epochs,
            seed=config.seed,
            workers=1,
            hashfxn=stable_hash,
        )
        vectors = np.zeros((n_items, config.factors), np.float32)
        context = np.zeros((n_items, config.factors), np.float32)
        words = np.asarray(model.wv.index_to_key, dtype=np.int64)
        vectors[words] = model.wv.vectors
        context[words] = model.syn1neg  # the output ("context") side of skip-gram
        self.item_vectors_ = vectors
        self.context_vectors_ = context
        logger.info("item2vec: %d of %d items embedded", len(words), n_items)
        return self


__all__ = ["Item2Vec", "Item2VecConfig"]
