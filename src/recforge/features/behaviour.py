"""Behaviour histories strictly before a time, for whole arrays of query rows at once.

A :class:`BehaviourLog` holds every user's events sorted by time (CSR-style, like
:class:`recforge.core.sequences.Sequences` but with times). :func:`histories` gives, for each
query row ``(user, time)``, that user's events with ``event_time < time`` **strictly**: an
event at the same time as the query is not its history, so a target row never sees itself or
anything that happened with it. This is what keeps CTR training free of leakage (DIN, Zhou et
al. 2018, Sec. 6.1: "behaviors ... before the target").

Dimension letters: U users, E events, N query rows, L history length.

>>> log = BehaviourLog.from_events(
...     user_idx=[0, 0, 0, 1], item_idx=[7, 8, 9, 7], timestamp=[3, 1, 2, 5])
>>> items, lengths = histories(log, user_idx=[0, 0, 1], timestamp=[3, 9, 5], length=2)
>>> items.tolist(), lengths.tolist()
([[8, 9], [9, 7], [-1, -1]], [2, 2, 0])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: value of padded history positions in :func:`histories` (0 can be a real item here)
PAD = -1

ArrayLike = Sequence[Any] | np.ndarray


def ordering_keys(timestamp: ArrayLike, what: str = "timestamp") -> np.ndarray:
    """Timestamps as int64 (ints, datetimes) or float64, for exact comparisons.

    NaN, infinite or non-numeric values are a ``ValueError`` naming ``what`` and the row.
    """
    times = np.asarray(timestamp)
    if times.dtype.kind == "M":
        return times.astype("datetime64[ns]").astype(np.int64)
    if times.dtype.kind in "iu":
        return times.astype(np.int64)
    if times.dtype.kind != "f" and len(times):
        raise ValueError(f"{what}: must be numbers or datetimes, got dtype {times.dtype}")
    times = times.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(times))
    if len(bad):
        raise ValueError(f"{what}: row position {bad[0]}: {times[bad[0]]} is not a finite time")
    return times


def _indices(values: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values)
    if len(array) and array.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integer indices, got dtype {array.dtype}")
    array = array.astype(np.int64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-d, got shape {array.shape}")
    if len(array) and array.min() < 0:
        raise ValueError(f"{name}: row position {np.argmin(array)}: index must be >= 0")
    return array


@dataclass(frozen=True)
class BehaviourLog:
    """Events grouped by user, each user's oldest first.

    ``item_idx[indptr[u]:indptr[u + 1]]`` are user ``u``'s items in time order, with their
    ``timestamp``; events at the same time keep their input order. ``item_idx`` may be any
    non-negative integer payload (an item index, or the event's row position to gather
    several fields of it later).
    """

    indptr: np.ndarray  # (U+1,) int64
    item_idx: np.ndarray  # (E,) int64, sorted by (user, time)
    timestamp: np.ndarray  # (E,) int64 or float64, sorted within each user

    @property
    def n_users(self) -> int:
        return len(self.indptr) - 1

    def __len__(self) -> int:
        return len(self.item_idx)

    @classmethod
    def from_events(
        cls,
        user_idx: ArrayLike,
        item_idx: ArrayLike,
        timestamp: ArrayLike,
        n_users: int | None = None,
    ) -> BehaviourLog:
        """Sort events by (user, time), stably.

        Args:
            user_idx: ``(E,)`` non-negative user indices.
            item_idx: ``(E,)`` non-negative item indices (or another integer payload).
            timestamp: ``(E,)`` ordering keys: ints, floats or datetime64.
            n_users: ``U`` (default: largest user index + 1).
        """
        users = _indices(user_idx, "user_idx")
        items = _indices(item_idx, "item_idx")
        times = ordering_keys(timestamp)
        if not len(users) == len(items) == len(times):
            raise ValueError(
                f"user_idx, item_idx and timestamp differ in length: "
                f"{len(users)}, {len(items)}, {len(times)}"
            )
        n_users = int(users.max()) + 1 if n_users is None and len(users) else (n_users or 0)
        if len(users) and users.max() >= n_users:
            raise ValueError(f"user_idx {users.max()} >= n_users {n_users}")
        order = _stable_order(users, times, n_users)
        counts = np.bincount(users, minlength=n_users)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(indptr, items[order], times[order])


def _stable_order(users: np.ndarray, times: np.ndarray, n_users: int) -> np.ndarray:
    """Order of events by (user, time), ties in input order."""
    if times.dtype.kind == "i" and len(times):
        span = int(times.max()) - int(times.min()) + 1
        if n_users * span < 2**62:  # one int64 key sorts twice as fast as lexsort
            key = users * np.int64(span) + (times - times.min())
            return np.argsort(key, kind="stable")
    return np.lexsort((times, users))


def _positions_before(
    log: BehaviourLog, user_idx: np.ndarray, timestamp: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each query, ``[start, end)`` in the log: the user's events strictly before."""
    n_users = log.n_users
    known = user_idx < n_users
    clipped = np.minimum(user_idx, n_users - 1) if n_users else np.zeros_like(user_idx)
    starts = np.where(known, log.indptr[clipped], 0)
    lo = starts.copy()
    hi = np.where(known, log.indptr[clipped + 1], 0) if n_users else starts.copy()
    # Binary search in every row's own user segment at once: ``lo`` ends at the first event
    # not strictly before the row's time. The loop runs log2(longest history) times.
    active = np.flatnonzero(lo < hi)
    while len(active):
        mid = (lo[active] + hi[active]) // 2
        before = log.timestamp[mid] < timestamp[active]
        lo[active[before]] = mid[before] + 1
        hi[active[~before]] = mid[~before]
        active = active[lo[active] < hi[active]]
    return starts, lo


def history_positions(
    log: BehaviourLog, user_idx: ArrayLike, timestamp: ArrayLike, length: int, pad: int = PAD
) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`histories`, but positions in the log's arrays (``log.item_idx`` and
    ``log.timestamp``) instead of items: ``(N, L)`` int64, ``pad`` at padding, and lengths
    ``(N,)``. Gathering per-event fields kept in log order through these reads each row's
    behaviours from one contiguous run of memory; with ``pad=len(log)`` and a fill value
    appended to each field, one gather gives the padded history."""
    if length < 1:
        raise ValueError(f"history length must be >= 1, got {length}")
    users = _indices(user_idx, "user_idx")
    times = ordering_keys(timestamp)
    if len(users) != len(times):
        raise ValueError(f"user_idx has {len(users)} rows, timestamp {len(times)}")
    starts, ends = _positions_before(log, users, times)
    starts = np.maximum(starts, ends - length)  # keep the most recent L
    lengths = ends - starts  # (N,)
    offsets = np.arange(length, dtype=np.int64)
    positions = starts[:, None] + offsets[None, :]  # (N, L)
    positions[offsets[None, :] >= lengths[:, None]] = pad
    return positions, lengths


def histories(
    log: BehaviourLog, user_idx: ArrayLike, timestamp: ArrayLike, length: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each query row's behaviours strictly before its time, oldest first.

    Args:
        log: the events.
        user_idx: ``(N,)`` the query rows' users (a user the log does not hold has none).
        timestamp: ``(N,)`` the query rows' times, comparable with the log's.
        length: ``L``, the most recent behaviours kept.

    Returns:
        ``items`` ``(N, L)`` int64: ``log.item_idx`` of the behaviours, the most recent
        ``L`` of those with ``event_time < row_time``, oldest first, right-padded with
        :data:`PAD` (-1); ``lengths`` ``(N,)`` int64 in ``[0, L]``, the real ones.
    """
    positions, lengths = history_positions(log, user_idx, timestamp, length)
    padded = positions == PAD  # (N, L)
    positions[padded] = 0
    items = log.item_idx[positions] if len(log) else positions  # (N, L)
    items[padded] = PAD
    return items, lengths


def sample_history_negatives(
    items: np.ndarray, n_items: int, rng: np.random.Generator, low: int = 0, pad: int = PAD
) -> np.ndarray:
    """For each history position, a random item other than the one taken there.

    DIEN's auxiliary loss (Zhou et al. 2019, Eq. 1-2) contrasts the behaviour that came
    next with an item the user did not take. Each negative is uniform over
    ``[low, n_items)`` minus the actual item at that position.

    Args:
        items: ``(N, L)`` int64 history items, ``pad`` at padding.
        n_items: items are drawn below this index.
        rng: the random generator (never the global one).
        low: the smallest index drawn (2 in a vocabulary with reserved 0 and 1).
        pad: the padding value of ``items``, kept in the output (below ``low``).

    Returns:
        ``(N, L)`` int64 negatives, ``pad`` where ``items`` is padding.

    >>> negatives = sample_history_negatives(
    ...     np.array([[0, 1, -1]]), n_items=2, rng=np.random.default_rng(0))
    >>> negatives.tolist()
    [[1, 0, -1]]
    """
    items = np.asarray(items, dtype=np.int64)
    if n_items - low < 2:
        raise ValueError(f"need at least 2 items in [{low}, {n_items}) to draw negatives")
    in_range = (items >= low) & (items < n_items)
    draws = rng.integers(low, n_items - 1, size=items.shape)  # one choice fewer ...
    draws += in_range & (draws >= items)  # ... as the actual item is skipped over
    if pad >= low:
        raise ValueError(f"pad {pad} must be below low {low}")
    other = np.flatnonzero(~in_range & (items != pad))  # e.g. an unknown item: no skip
    draws.flat[other] = rng.integers(low, n_items, size=len(other))
    draws[items == pad] = pad
    return draws
