"""Next-behaviour CTR rows from any canonical tables: fields chosen from the attribute
columns, behaviours once per (user, item), negatives never touched, filters, no attributes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recforge.data.ctr_behaviour import behaviour_ctr_tables
from recforge.data.synthetic import ShopConfig, generate_shop
from recforge.data.tables import Tables, make_interactions
from recforge.features.pipeline import FeaturePipeline


@pytest.fixture(scope="module")
def shop_tables() -> Tables:
    return generate_shop(ShopConfig(n_users=60, n_items=100, n_days=15), seed=2).tables


def test_shop_fields_follow_the_attribute_columns(shop_tables):
    tables = behaviour_ctr_tables(shop_tables, seed=1)
    assert tables.sparse == (
        *("user_id", "item_id", "age_band", "gender", "region", "category", "brand"),
    )
    assert tables.multi == {"tags": max(len(t) for t in shop_tables.items["tags"])}
    assert tables.dense == ("price",)
    assert tables.history == ("item_id", "category", "brand")
    assert "skipped ['title', 'description']" in tables.description
    assert all(isinstance(cell, tuple) for cell in tables.items["tags"])
    # the pipeline a rank stage fits takes these tables as they are
    pipeline = FeaturePipeline(
        sparse=tables.sparse, multi=tables.multi, dense=tables.dense, history=tables.history
    ).fit(tables.train, users=tables.users, items=tables.items)
    batch = pipeline.transform(tables.valid, events=tables.events)
    assert batch.sparse.shape == (len(tables.valid), len(tables.sparse))
    assert (batch.history_length > 0).all()


def test_behaviours_count_each_pair_once_and_negatives_were_never_touched(shop_tables):
    tables = behaviour_ctr_tables(shop_tables, seed=0)
    events = tables.events
    assert events is not None and not events.duplicated(["user_id", "item_id"]).any()
    interactions = shop_tables.interactions
    assert len(events) == len(interactions.drop_duplicates(["user_id", "item_id"]))
    touched = set(zip(interactions["user_id"], interactions["item_id"], strict=True))
    for split in (tables.train, tables.valid, tables.test):
        positives, negatives = split[split["label"] == 1], split[split["label"] == 0]
        assert len(positives) == len(negatives)
        pairs = zip(negatives["user_id"], negatives["item_id"], strict=True)
        assert not any(pair in touched for pair in pairs)
    # the test row is each user's last new item, in time order
    last = interactions.drop_duplicates(["user_id", "item_id"]).groupby("user_id").tail(1)
    expected = dict(zip(last["user_id"], last["item_id"], strict=True))
    test_positives = tables.test[tables.test["label"] == 1]
    assert dict(zip(test_positives["user_id"], test_positives["item_id"], strict=True)) == (
        expected
    )


def test_event_filter_and_threshold(shop_tables):
    purchases = behaviour_ctr_tables(shop_tables, events=["cart", "purchase"])
    kept = shop_tables.interactions[shop_tables.interactions["event"].isin(["cart", "purchase"])]
    assert len(purchases.events) == len(kept.drop_duplicates(["user_id", "item_id"]))
    assert "event in ['cart', 'purchase']" in purchases.description
    with pytest.raises(ValueError, match=r"no behaviours left \(implicit_threshold=5"):
        behaviour_ctr_tables(shop_tables, implicit_threshold=5.0)


def _store_like() -> Tables:
    """Frames as the event store exports them: dict attributes, list categories, record times."""
    rng = np.random.default_rng(0)
    n_users, n_items = 30, 60
    users = rng.integers(0, n_users, 900).astype(str)
    items = rng.integers(0, n_items, 900).astype(str)
    interactions = make_interactions(users, items, event="view", timestamp=np.arange(900))
    items_frame = pd.DataFrame(
        {
            "item_id": [str(i) for i in range(n_items)],
            "title": [f"item number {i}" for i in range(n_items)],
            "categories": [[f"c{i % 4}"] for i in range(n_items)],
            "tags": [["a", "b"] if i % 2 else ["c"] for i in range(n_items)],
            "attributes": [{"brand": f"b{i % 5}", "price": float(i)} for i in range(n_items)],
            "created_at": np.full(n_items, 1.7e9),
        }
    )
    users_frame = pd.DataFrame(
        {
            "user_id": [str(u) for u in range(n_users)],
            "region": [("north", "south")[u % 2] for u in range(n_users)],
            "attributes": [{"brand": f"b{u % 3}"} for u in range(n_users)],  # also an item field
            "updated_at": np.full(n_users, 1.7e9),
        }
    )
    return Tables(interactions, items=items_frame, users=users_frame, name="store")


def test_store_frames_spread_dicts_and_single_value_lists():
    tables = behaviour_ctr_tables(_store_like())
    assert tables.sparse == (
        *("user_id", "item_id", "region", "user_brand", "categories", "item_brand"),
    )
    assert tables.multi == {"tags": 2}
    assert tables.dense == ("price",)
    assert tables.history == ("item_id", "categories", "item_brand")
    assert tables.items["categories"].tolist()[:2] == ["c0", "c1"]
    assert "created_at" not in tables.items and "updated_at" not in tables.users
    assert tables.users["user_brand"].tolist()[:4] == ["b0", "b1", "b2", "b0"]
    assert "skipped ['title']" in tables.description


def test_ids_only_and_file_order_without_timestamps():
    interactions = make_interactions(
        [1, 1, 1, 1, 1, 2, 2, 2, 2], [5, 6, 5, 7, 8, 6, 7, 8, 9], event="click"
    )
    tables = behaviour_ctr_tables(Tables(interactions, name="ids"), seed=0)
    assert tables.users is None and tables.items is None
    assert tables.sparse == ("user_id", "item_id") and tables.history == ("item_id",)
    assert "file order (no timestamps)" in tables.description
    assert tables.events["item_id"].tolist() == [5, 6, 7, 8, 6, 7, 8, 9]
    assert tables.test[tables.test["label"] == 1]["item_id"].tolist() == [8, 9]
