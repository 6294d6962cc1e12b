"""Negative sampling over whole epochs at once (vectorised rejection sampling)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class NegativeSampler:
    """Draws items a user has not interacted with.

    Args:
        seen: users x items CSR of items that may not be drawn for each user.
        distribution: ``"uniform"`` or ``"popularity"`` (probability ∝ count**alpha).
        alpha: popularity exponent (0.75 as in word2vec is a common choice).
        exclude_seen: redraw candidates that the user has seen.

    >>> seen = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 0, 1, 0]], dtype=np.float32))
    >>> sampler = NegativeSampler(seen)
    >>> negatives = sampler.sample(np.array([0, 0, 1]), 5, np.random.default_rng(0))
    >>> negatives.shape, bool(np.isin(negatives[:2], [0, 1]).any())
    ((3, 5), False)
    """

    def __init__(
        self,
        seen: sp.csr_matrix,
        *,
        distribution: str = "uniform",
        alpha: float = 0.75,
        exclude_seen: bool = True,
        max_rounds: int = 100,
    ) -> None:
        if distribution not in ("uniform", "popularity"):
            raise ValueError(
                f"distribution must be 'uniform' or 'popularity', got {distribution!r}"
            )
        self.seen = seen.tocsr()
        self.n_users, self.n_items = seen.shape
        self.exclude_seen = exclude_seen
        self.max_rounds = max_rounds
        coo = self.seen.tocoo()
        # sorted keys user * n_items + item make membership a binary search
        self.seen_keys = np.unique(coo.row.astype(np.int64) * self.n_items + coo.col)
        counts = np.bincount(coo.col, minlength=self.n_items).astype(np.float64)
        self.cdf: np.ndarray | None = None
        if distribution == "popularity":
            weights = counts**alpha
            if weights.sum() == 0:
                raise ValueError("popularity sampling needs at least one interaction")
            self.cdf = np.cumsum(weights / weights.sum())
        n_seen = np.diff(self.seen.indptr)
        if exclude_seen and (n_seen >= self.n_items).any():
            user = int(np.flatnonzero(n_seen >= self.n_items)[0])
            raise ValueError(f"user_idx {user} has seen every item; no negative exists")

    def _draw(self, size: int, rng: np.random.Generator) -> np.ndarray:
        if self.cdf is None:
            return rng.integers(0, self.n_items, size=size, dtype=np.int64)
        drawn = np.searchsorted(self.cdf, rng.random(size), side="right")
        return np.minimum(drawn, self.n_items - 1).astype(np.int64)

    def is_seen(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        keys = np.asarray(user_idx, np.int64) * self.n_items + np.asarray(item_idx, np.int64)
        position = np.searchsorted(self.seen_keys, keys)
        position = np.minimum(position, len(self.seen_keys) - 1)
        return (
            (self.seen_keys[position] == keys) if len(self.seen_keys) else np.zeros(len(keys), bool)
        )

    def sample(
        self, user_idx: np.ndarray, n_negatives: int, rng: np.random.Generator
    ) -> np.ndarray:
        """``(len(user_idx), n_negatives)`` negative item indices."""
        if n_negatives == 0:  # e.g. eval_negatives = 0: no sampled protocol
            return np.empty((len(user_idx), 0), np.int64)
        users = np.repeat(np.asarray(user_idx, np.int64), n_negatives)
        items = self._draw(len(users), rng)
        if self.exclude_seen:
            todo = np.flatnonzero(self.is_seen(users, items))
            for _ in range(self.max_rounds):
                if len(todo) == 0:
                    break
                items[todo] = self._draw(len(todo), rng)
                todo = todo[self.is_seen(users[todo], items[todo])]
            else:
                raise RuntimeError(
                    "negative sampling did not converge; users see almost every item"
                )
        return items.reshape(-1, n_negatives)


def pointwise_epoch(
    train: sp.csr_matrix, sampler: NegativeSampler, n_negatives: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One shuffled epoch of (user_idx, item_idx, label): each positive plus ``n_negatives``
    sampled negatives, as in NCF (He et al. 2017, Sec. 3.1.1)."""
    coo = train.tocoo()
    pos_users = coo.row.astype(np.int64)
    pos_items = coo.col.astype(np.int64)
    neg_items = sampler.sample(pos_users, n_negatives, rng).reshape(-1)
    users = np.concatenate([pos_users, np.repeat(pos_users, n_negatives)])
    items = np.concatenate([pos_items, neg_items])
    labels = np.concatenate(
        [np.ones(len(pos_users), np.float32), np.zeros(len(neg_items), np.float32)]
    )
    order = rng.permutation(len(users))
    return users[order], items[order], labels[order]


def pairwise_epoch(
    train: sp.csr_matrix, sampler: NegativeSampler, rng: np.random.Generator, n_negatives: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One shuffled epoch of (user_idx, positive item_idx, negative item_idx) triples."""
    coo = train.tocoo()
    users = np.repeat(coo.row.astype(np.int64), n_negatives)
    positives = np.repeat(coo.col.astype(np.int64), n_negatives)
    negatives = sampler.sample(coo.row, n_negatives, rng).reshape(-1)
    order = rng.permutation(len(users))
    return users[order], positives[order], negatives[order]


LabelledPairs = dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]


def labelled_pairs(
    positives: sp.csr_matrix,
    rng: np.random.Generator,
    ratios: tuple[float, float, float] = (0.6, 0.2, 0.2),
) -> tuple[LabelledPairs, sp.csr_matrix]:
    """The click-prediction protocol of KGCN and RippleNet (Wang et al. 2018, 2019): every
    positive gets one item the user never interacted with as a negative (drawn without
    replacement per user), and the labelled pairs are split at random by ``ratios``
    (train/valid/test).

    Returns ``({"train" | "valid" | "test": (user_idx, item_idx, label)}, train)`` where
    ``train`` holds the training positives (users x items), what models are fitted on.

    >>> matrix = sp.csr_matrix(np.array([[1, 1, 0, 0, 0], [0, 0, 1, 0, 0]]))
    >>> pairs, train = labelled_pairs(matrix, np.random.default_rng(0), (0.5, 0.25, 0.25))
    >>> sum(len(p[2]) for p in pairs.values()), int(sum(p[2].sum() for p in pairs.values()))
    (6, 3)
    """
    positives = sp.csr_matrix(positives, dtype=np.float32)
    positives.sum_duplicates()
    n_users, n_items = positives.shape
    negative_users, negative_items = [], []
    for user in range(n_users):
        seen = positives.indices[positives.indptr[user] : positives.indptr[user + 1]]
        pool = np.setdiff1d(np.arange(n_items), seen)
        if len(pool) < len(seen):
            raise ValueError(f"user {user} has more positives than unobserved items")
        negative_items.append(rng.choice(pool, size=len(seen), replace=False))
        negative_users.append(np.full(len(seen), user))
    coo = positives.tocoo()
    users = np.concatenate([coo.row, *negative_users]).astype(np.int64)
    items = np.concatenate([coo.col, *negative_items]).astype(np.int64)
    labels = np.concatenate([np.ones(positives.nnz), np.zeros(positives.nnz)]).astype(np.int64)
    shuffled = rng.permutation(len(labels))
    n_valid, n_test = int(ratios[1] * len(labels)), int(ratios[2] * len(labels))
    parts = {
        "valid": shuffled[:n_valid],
        "test": shuffled[n_valid : n_valid + n_test],
        "train": shuffled[n_valid + n_test :],
    }
    pairs = {name: (users[rows], items[rows], labels[rows]) for name, rows in parts.items()}
    train_users, train_items, train_labels = pairs["train"]
    keep = train_labels == 1
    train = sp.csr_matrix(
        (np.ones(int(keep.sum()), np.float32), (train_users[keep], train_items[keep])),
        shape=(n_users, n_items),
    )
    return pairs, train
