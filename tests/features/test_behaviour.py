"""Behaviour histories strictly before a time: no leakage, against a slow reference."""

from __future__ import annotations

import numpy as np
import pytest

from recforge.features.behaviour import (
    PAD,
    BehaviourLog,
    histories,
    history_positions,
    ordering_keys,
    sample_history_negatives,
)


def reference_histories(
    users: np.ndarray,
    items: np.ndarray,
    times: np.ndarray,
    query_users: np.ndarray,
    query_times: np.ndarray,
    length: int,
) -> tuple[np.ndarray, np.ndarray]:
    """One query at a time, the obvious way: filter, sort by time (stable), keep the tail."""
    out = np.full((len(query_users), length), PAD, np.int64)
    lengths = np.zeros(len(query_users), np.int64)
    for row, (user, time) in enumerate(zip(query_users, query_times, strict=True)):
        mine = [(times[e], e) for e in range(len(users)) if users[e] == user and times[e] < time]
        mine.sort()  # by time, then input position: a stable sort
        kept = [items[e] for _, e in mine][-length:]
        out[row, : len(kept)] = kept
        lengths[row] = len(kept)
    return out, lengths


def test_ties_keep_input_order_and_csr_layout() -> None:
    log = BehaviourLog.from_events(
        user_idx=[1, 0, 1, 1, 0], item_idx=[10, 20, 11, 12, 21], timestamp=[5, 3, 5, 1, 3]
    )
    assert log.indptr.tolist() == [0, 2, 5]
    assert log.item_idx.tolist() == [20, 21, 12, 10, 11]
    assert log.timestamp.tolist() == [3, 3, 1, 5, 5]
    assert log.n_users == 2 and len(log) == 5


def test_an_event_at_the_target_time_is_not_history() -> None:
    log = BehaviourLog.from_events(user_idx=[0, 0, 0], item_idx=[1, 2, 3], timestamp=[1, 2, 3])
    items, lengths = histories(log, user_idx=[0, 0, 0], timestamp=[2, 2.5, 1], length=4)
    assert items.tolist() == [[1, -1, -1, -1], [1, 2, -1, -1], [-1, -1, -1, -1]]
    assert lengths.tolist() == [1, 2, 0]
    # a target row's own event (same user, same time) never enters its history
    items, _ = histories(log, user_idx=[0], timestamp=[3], length=4)
    assert 3 not in items.tolist()[0]


def test_most_recent_kept_oldest_first_and_users_without_events() -> None:
    log = BehaviourLog.from_events(
        user_idx=[0] * 5, item_idx=[4, 3, 2, 1, 0], timestamp=[50, 40, 30, 20, 10], n_users=3
    )
    items, lengths = histories(log, user_idx=[0, 1, 7, 0], timestamp=[45, 99, 99, 99], length=3)
    assert items.tolist() == [[1, 2, 3], [-1, -1, -1], [-1, -1, -1], [2, 3, 4]]
    assert lengths.tolist() == [3, 0, 0, 3]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_leakage_against_the_slow_reference_and_order_free(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_events, n_queries, length = 400, 300, 5
    users = rng.integers(0, 12, n_events)
    items = rng.integers(0, 50, n_events)
    times = rng.integers(0, 30, n_events)  # many ties
    query_users = rng.integers(0, 14, n_queries)  # users 12, 13 have no events
    query_times = np.concatenate([rng.integers(0, 32, n_queries - 50), times[:50]])
    query_users[-50:] = users[:50]  # queries at exactly an event's time
    expected, expected_lengths = reference_histories(
        users, items, times, query_users, query_times, length
    )
    log = BehaviourLog.from_events(users, items, times)
    got, lengths = histories(log, query_users, query_times, length)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(lengths, expected_lengths)
    # every kept event is strictly older than its row (checked through positions)
    positions, _ = history_positions(log, query_users, query_times, length)
    real = positions != PAD
    row_times = np.broadcast_to(query_times[:, None], positions.shape)
    assert (log.timestamp[positions[real]] < row_times[real]).all()
    # shuffling the events (ties apart) or the queries changes nothing
    order = rng.permutation(n_events)
    order = order[np.lexsort((order, times[order], users[order]))]  # keep tied events' order
    shuffled = BehaviourLog.from_events(users[order], items[order], times[order])
    np.testing.assert_array_equal(histories(shuffled, query_users, query_times, length)[0], got)
    perm = rng.permutation(n_queries)
    permuted, _ = histories(log, query_users[perm], query_times[perm], length)
    np.testing.assert_array_equal(permuted, got[perm])


def test_float_and_datetime_times() -> None:
    log = BehaviourLog.from_events([0, 0], [5, 6], np.array([0.5, 1.5]))
    assert histories(log, [0, 0], [1, 1.5], 2)[0].tolist() == [[5, -1], [5, -1]]
    assert histories(log, [0], np.array([2]), 2)[0].tolist() == [[5, 6]]  # int vs float
    days = np.array(["2024-01-01", "2024-01-03"], dtype="datetime64[D]")
    log = BehaviourLog.from_events([0, 0], [5, 6], days)
    query = np.array(["2024-01-03"], dtype="datetime64[ns]")
    assert histories(log, [0], query, 2)[0].tolist() == [[5, -1]]


def test_empty_log_and_bad_input() -> None:
    empty = BehaviourLog.from_events(
        np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    )
    items, lengths = histories(empty, [0, 3], [1, 2], 2)
    assert items.tolist() == [[-1, -1], [-1, -1]] and lengths.tolist() == [0, 0]
    with pytest.raises(ValueError, match="row position 1: nan"):
        ordering_keys([1.0, float("nan")], "events")
    with pytest.raises(ValueError, match="differ in length"):
        BehaviourLog.from_events([0, 1], [0], [0, 1])
    with pytest.raises(ValueError, match="user_idx must be integer"):
        BehaviourLog.from_events([0.5], [0], [0])
    with pytest.raises(ValueError, match="length must be >= 1"):
        histories(empty, [0], [0], 0)


def test_negatives_differ_from_the_actual_item_and_cover_the_range() -> None:
    rng = np.random.default_rng(0)
    items = rng.integers(2, 8, (2000, 6))
    items[:, 4:] = PAD
    items[0, 0] = 1  # an unknown item, outside [low, n_items)
    negatives = sample_history_negatives(items, n_items=8, rng=rng, low=2)
    real = items != PAD
    assert (negatives[~real] == PAD).all()
    assert (negatives[real] != items[real]).all()
    assert negatives[real].min() == 2 and negatives[real].max() == 7
    # uniform over the others: given the actual item 3, each of the 5 others ~ 1/5
    counts = np.bincount(negatives[items == 3], minlength=8)[2:]
    share = counts / counts.sum()
    assert share[1] == 0 and np.all(np.abs(np.delete(share, 1) - 0.2) < 0.05)
    again = sample_history_negatives(items, 8, np.random.default_rng(5), 2)
    np.testing.assert_array_equal(
        again, sample_history_negatives(items, 8, np.random.default_rng(5), 2)
    )
    padded_with_zero = np.where(real, items, 0)
    zeros = sample_history_negatives(padded_with_zero, 8, np.random.default_rng(1), 2, pad=0)
    assert (zeros[~real] == 0).all() and (zeros[real] >= 2).all()
    with pytest.raises(ValueError, match="at least 2 items"):
        sample_history_negatives(items, n_items=3, rng=rng, low=2)
