"""Event types, their weights, time decay and the validated weighted events frame."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from recforge.core.errors import ConfigError, DataFormatError, RecforgeError
from recforge.features.events import (
    DEFAULT_EVENT_WEIGHTS,
    EventError,
    EventTypes,
    time_decay,
    weighted_events,
)

DAY = 86_400


def test_default_types_and_weights() -> None:
    types = EventTypes()
    assert types.names() == ("view", "click", "cart", "purchase", "rating")
    assert [types.weight(name) for name in ("view", "click", "cart", "purchase")] == [1, 2, 4, 8]
    assert dict(types.weights) == dict(DEFAULT_EVENT_WEIGHTS)


def test_rating_counts_its_share_of_the_scale_and_other_values_are_ignored() -> None:
    types = EventTypes(max_rating=5.0)
    assert types.weight("rating", 5.0) == 1.0
    assert types.weight("rating", 4.0) == pytest.approx(0.8)
    assert types.weight("rating", 7.0) == 1.0  # clipped to the scale
    assert types.weight("rating", -2.0) == 0.0
    assert EventTypes(max_rating=10.0).weight("rating", 5.0) == pytest.approx(0.5)
    assert types.weight("purchase", 3.0) == types.weight("purchase", 1.0) == 8.0
    assert types.weight("view", float("nan")) == 1.0


def test_weights_of_is_the_vectorised_weight() -> None:
    types = EventTypes.with_custom({"wishlist": 3.0})
    events = np.asarray(["view", "rating", "wishlist", "purchase", "rating"], dtype=object)
    values = np.asarray([9.0, 2.5, 1.0, 1.0, 5.0])
    expected = [types.weight(e, v) for e, v in zip(events, values, strict=True)]
    np.testing.assert_allclose(types.weights_of(events, values), expected)
    np.testing.assert_allclose(expected, [1.0, 0.5, 3.0, 8.0, 1.0])
    assert types.weights_of(np.asarray([], dtype=object), np.asarray([])).shape == (0,)


def test_unknown_event_is_an_error_naming_it_and_the_known_types() -> None:
    types = EventTypes()
    with pytest.raises(EventError, match=r"unknown event type 'like' \(known: view, click"):
        types.check("like")
    with pytest.raises(EventError, match="'share'") as error:
        types.weights_of(np.asarray(["view", "share", "like"], dtype=object), np.ones(3))
    assert error.value.event == "share"
    assert isinstance(error.value, RecforgeError) and isinstance(error.value, ValueError)
    types.check("rating")  # known: no error


def test_a_rating_without_a_number_is_an_error() -> None:
    with pytest.raises(EventError, match="rating's value must be a finite number"):
        EventTypes().weights_of(np.asarray(["view", "rating"], dtype=object), [1.0, np.nan])
    with pytest.raises(ValueError, match="differ in shape"):
        EventTypes().weights_of(np.asarray(["view"], dtype=object), [1.0, 2.0])


def test_custom_types_extend_or_override_the_defaults() -> None:
    types = EventTypes.with_custom({"wishlist": 3.0, "view": 0.5})
    assert types.names()[-1] == "wishlist"
    assert types.weight("view") == 0.5 and types.weight("purchase") == 8.0
    assert DEFAULT_EVENT_WEIGHTS["view"] == 1.0  # the defaults are untouched
    only = EventTypes(weights={"play": 1.0, "skip": 0.25})
    assert only.names() == ("play", "skip")
    with pytest.raises(EventError, match="'view'"):
        only.check("view")


def test_from_config_checks_names_and_weights() -> None:
    assert EventTypes.from_config(None) == EventTypes()
    types = EventTypes.from_config({"wishlist": 3, "add_to_list": 1.5})
    assert types.weight("wishlist") == 3.0 and types.weight("add_to_list") == 1.5
    assert types.weight("purchase") == 8.0
    bad_tables = {
        "Wish": {"Wish": 1.0},
        "wish list": {"wish list": 1.0},
        "2nd": {"2nd": 1.0},
        "zero": {"zero": 0},
        "negative": {"negative": -1.0},
        "nan": {"nan": math.nan},
        "inf": {"inf": math.inf},
        "text": {"text": "3"},
        "flag": {"flag": True},
    }
    for name, table in bad_tables.items():
        with pytest.raises(ConfigError, match=f"'events.{name}'"):
            EventTypes.from_config(table, prefix="events")
    with pytest.raises(ConfigError, match="expected a table"):
        EventTypes.from_config([("wishlist", 3.0)])  # type: ignore[arg-type]


def test_event_types_are_frozen_hashable_and_own_their_weights() -> None:
    weights = {"view": 1.0, "purchase": 5.0}
    types = EventTypes(weights=weights)
    weights["view"] = 100.0
    assert types.weight("view") == 1.0
    assert hash(types) == hash(EventTypes(weights={"view": 1.0, "purchase": 5.0}))
    assert types == EventTypes(weights={"view": 1.0, "purchase": 5.0})
    assert types != EventTypes()
    with pytest.raises(AttributeError):
        types.max_rating = 10.0  # type: ignore[misc]
    for bad in (0.0, -1.0, math.nan, math.inf, True):
        with pytest.raises(ConfigError, match="max_rating"):
            EventTypes(max_rating=bad)
    with pytest.raises(ConfigError, match="at least one event type"):
        EventTypes(weights={})


def test_time_decay_halves_per_half_life() -> None:
    now = 100 * DAY
    stamps = [now, now - 7 * DAY, now - 14 * DAY, now - 28 * DAY, now + DAY, np.nan]
    np.testing.assert_allclose(
        time_decay(stamps, now=now, half_life_days=14), [1, 2**-0.5, 0.5, 0.25, 1, 1]
    )
    np.testing.assert_array_equal(time_decay(stamps, now=now, half_life_days=math.inf), 1.0)


def _events(**columns: object) -> pd.DataFrame:
    frame = {
        "user_id": [1, 1, 2],
        "item_id": [10, 11, 10],
        "event": ["view", "purchase", "rating"],
        "value": [1.0, 1.0, 4.0],
        "timestamp": pd.array([10 * DAY, 3 * DAY, None], dtype="Int64"),
    }
    frame.update(columns)
    return pd.DataFrame(frame)


def test_weighted_events_decays_weights_and_keys_ids_as_strings() -> None:
    weighted = weighted_events(
        _events(), now=10 * DAY, event_types=EventTypes(), half_life_days=7.0
    )
    assert list(weighted.columns) == ["user_id", "item_id", "event", "timestamp", "weight"]
    assert weighted["user_id"].tolist() == ["1", "1", "2"]
    assert weighted["item_id"].tolist() == ["10", "11", "10"]
    np.testing.assert_allclose(weighted["weight"], [1.0, 4.0, 0.8])  # 8 * 0.5; no time: 1
    assert np.isnan(weighted["timestamp"].iloc[2])
    floats = _events(timestamp=[10.0 * DAY, 3.0 * DAY, np.nan])
    again = weighted_events(floats, now=10 * DAY, event_types=EventTypes(), half_life_days=7.0)
    pd.testing.assert_frame_equal(again, weighted)


def _weigh(events: pd.DataFrame) -> pd.DataFrame:
    return weighted_events(events, now=0.0, event_types=EventTypes(), half_life_days=7.0)


def test_weighted_events_rejects_bad_frames() -> None:
    with pytest.raises(DataFormatError, match=r"events: missing column\(s\) timestamp"):
        _weigh(_events().drop(columns="timestamp"))
    with pytest.raises(DataFormatError, match="row 1: missing item_id"):
        _weigh(_events(item_id=[10, None, 11]))
    with pytest.raises(DataFormatError, match="timestamp is not numeric"):
        _weigh(_events(timestamp=["a", "b", "c"]))
    with pytest.raises(EventError, match="'like'"):
        _weigh(_events(event=["view", "like", "view"]))
    with pytest.raises(ValueError, match="now must be finite"):
        weighted_events(_events(), now=math.nan, event_types=EventTypes(), half_life_days=7.0)


def test_weighted_events_of_an_empty_frame_is_empty() -> None:
    for empty in (pd.DataFrame(), _events().iloc[:0]):
        weighted = _weigh(empty)
        assert len(weighted) == 0
        assert list(weighted.columns) == ["user_id", "item_id", "event", "timestamp", "weight"]


def test_an_empty_custom_table_means_the_defaults():
    """A serving config with an empty ``[event_weights]`` table (or none) is valid."""
    assert EventTypes.from_config({}) == EventTypes()
    assert EventTypes.from_config(None) == EventTypes()
