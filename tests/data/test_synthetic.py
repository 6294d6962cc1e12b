"""The synthetic shop: determinism, table formats, the funnel, time order and ground truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recforge.core.config import from_dict
from recforge.core.errors import ConfigError
from recforge.data.synthetic import (
    EVENT_NAMES,
    SECONDS_PER_DAY,
    START_TIMESTAMP,
    Shop,
    ShopConfig,
    generate_shop,
)

SMALL = ShopConfig(n_users=300, n_items=200, n_days=30)


@pytest.fixture(scope="module")
def default_shop() -> Shop:
    return generate_shop(seed=0)


@pytest.fixture(scope="module")
def small_shop() -> Shop:
    return generate_shop(SMALL, seed=5)


def test_default_shop_is_sized_for_a_one_minute_neumf(default_shop) -> None:
    # generation time is measured by benchmarks/speed.py, not asserted here
    shop = default_shop
    counts = shop.tables.interactions["event"].value_counts()
    assert 150_000 <= counts.sum() <= 250_000
    assert 30_000 <= counts.sum() - counts["view"] <= 60_000
    assert shop.tables.interactions["user_id"].nunique() == 2000  # every user has a session


def test_same_seed_same_shop_other_seed_other_shop() -> None:
    first, again, other = (generate_shop(SMALL, seed=s) for s in (11, 11, 12))
    for name in ("interactions", "items", "users"):
        pd.testing.assert_frame_equal(getattr(first.tables, name), getattr(again.tables, name))
    np.testing.assert_array_equal(first.user_latent_by_day, again.user_latent_by_day)
    np.testing.assert_array_equal(first.item_latent, again.item_latent)
    assert not first.tables.interactions.equals(other.tables.interactions)
    assert not first.tables.items["title"].equals(other.tables.items["title"])
    assert not np.allclose(first.item_latent, other.item_latent)


def test_catalogue_does_not_depend_on_the_number_of_users() -> None:
    few = generate_shop(ShopConfig(n_users=10, n_items=50, n_days=5), seed=3)
    many = generate_shop(ShopConfig(n_users=40, n_items=50, n_days=5), seed=3)
    pd.testing.assert_frame_equal(few.tables.items, many.tables.items)


def test_interaction_table_is_canonical(small_shop) -> None:
    frame = small_shop.tables.interactions
    assert list(frame.columns) == ["user_id", "item_id", "event", "value", "timestamp"]
    assert frame["user_id"].dtype == np.int64 and frame["item_id"].dtype == np.int64
    assert str(frame["timestamp"].dtype) == "Int64" and not frame["timestamp"].isna().any()
    assert set(frame["event"]) == set(EVENT_NAMES)
    assert (frame["value"] == 1.0).all()
    assert frame["user_id"].between(0, SMALL.n_users - 1).all()
    assert frame["item_id"].between(0, SMALL.n_items - 1).all()
    assert small_shop.event_session_idx.shape == (len(frame),)
    # The log is in global time order.
    assert frame["timestamp"].is_monotonic_increasing


def test_item_and_user_tables(small_shop) -> None:
    items, users = small_shop.tables.items, small_shop.tables.users
    assert list(items.columns) == [
        "item_id",
        "title",
        "description",
        "category",
        "brand",
        "tags",
        "price",
    ]
    np.testing.assert_array_equal(items["item_id"], np.arange(SMALL.n_items))
    assert items["title"].str.len().min() > 0 and items["title"].is_unique
    assert items["description"].str.endswith(".").all()
    n_tags = items["tags"].map(len)
    assert n_tags.between(2, 4).all() and set(n_tags) == {2, 3, 4}
    assert items["tags"].map(lambda tags: len(set(tags)) == len(tags)).all()
    assert items["tags"].map(lambda tags: all(isinstance(t, str) for t in tags)).all()
    low, high = SMALL.price_range
    assert items["price"].between(low, high).all()
    assert items["category"].nunique() == SMALL.n_categories  # every category has items
    # A title names the item's brand; the description its tags.
    assert all(t.startswith(b) for t, b in zip(items["title"], items["brand"], strict=True))
    assert all(
        all(tag in d for tag in tags)
        for d, tags in zip(items["description"], items["tags"], strict=True)
    )
    # The category column agrees with the ground truth.
    names = np.asarray(small_shop.category_names)
    np.testing.assert_array_equal(
        items["category"].astype(str), names[small_shop.item_category_idx]
    )
    assert list(users.columns) == ["user_id", "age_band", "gender", "region"]
    np.testing.assert_array_equal(users["user_id"], np.arange(SMALL.n_users))
    assert not users.isna().any().any()


def test_tags_belong_to_their_category() -> None:
    shop = generate_shop(ShopConfig(n_users=5, n_items=400, n_days=2), seed=0)
    items = shop.tables.items
    tags_of_category = items.explode("tags").groupby("category", observed=True)["tags"].nunique()
    # Each category draws from its own vocabulary of 8 tags.
    assert tags_of_category.max() <= 8


def test_ground_truth_shapes(small_shop) -> None:
    d = SMALL.n_latent
    assert small_shop.item_latent.shape == (SMALL.n_items, d)
    assert small_shop.user_latent_start.shape == (SMALL.n_users, d)
    assert small_shop.user_latent_end.shape == (SMALL.n_users, d)
    assert small_shop.user_latent_by_day.shape == (SMALL.n_users, SMALL.n_days + 1, d)
    assert small_shop.category_centroids.shape == (SMALL.n_categories, d)
    assert small_shop.item_popularity_bias.shape == (SMALL.n_items,)
    assert small_shop.true_affinity(np.arange(7)).shape == (7, SMALL.n_items)
    assert small_shop.user_interest_at(3, 1.5).shape == (d,)
    top = small_shop.true_top_items(np.arange(7), k=10)
    assert top.shape == (7, 10) and top.dtype == np.int64


def test_funnel_is_monotone_overall_and_per_user_item(small_shop) -> None:
    frame = small_shop.tables.interactions
    counts = frame["event"].value_counts()
    assert counts["view"] > counts["click"] > counts["cart"] > counts["purchase"] > 0
    per_pair = frame.groupby(["user_id", "item_id", "event"]).size().unstack(fill_value=0)
    assert (per_pair["view"] >= per_pair["click"]).all()
    assert (per_pair["click"] >= per_pair["cart"]).all()
    assert (per_pair["cart"] >= per_pair["purchase"]).all()


def test_each_purchase_follows_a_view_of_that_item_in_the_same_session(small_shop) -> None:
    frame = small_shop.tables.interactions.assign(session=small_shop.event_session_idx)
    first_view = frame[frame["event"] == "view"].groupby(["session", "item_id"])["timestamp"].min()
    purchases = frame[frame["event"] == "purchase"].set_index(["session", "item_id"])
    viewed_at = first_view.reindex(purchases.index)
    assert not viewed_at.isna().any()
    assert (purchases["timestamp"] > viewed_at).all()
    # A session belongs to one user.
    assert (frame.groupby("session")["user_id"].nunique() == 1).all()


def test_timestamps_strictly_increase_per_user_within_the_horizon(small_shop) -> None:
    frame = small_shop.tables.interactions
    seconds = frame["timestamp"].to_numpy(dtype=np.int64)
    assert seconds.min() >= START_TIMESTAMP
    assert seconds.max() < START_TIMESTAMP + SMALL.n_days * SECONDS_PER_DAY
    by_user = frame.sort_values(["user_id", "timestamp"], kind="stable")
    same_user = by_user["user_id"].to_numpy()[1:] == by_user["user_id"].to_numpy()[:-1]
    gaps = np.diff(by_user["timestamp"].to_numpy(dtype=np.int64))
    assert (gaps[same_user] > 0).all()
    assert small_shop.day_of(START_TIMESTAMP + SECONDS_PER_DAY // 2) == pytest.approx(0.5)


def test_true_affinity_top_items_and_interpolation_agree(small_shop) -> None:
    users = np.array([0, 4, 9])
    full = small_shop.true_affinity(users, at="start")  # (3, I)
    paired = small_shop.true_affinity(users, [5, 6, 7], at="start")
    np.testing.assert_allclose(paired, full[[0, 1, 2], [5, 6, 7]])
    np.testing.assert_allclose(full, small_shop.user_latent_start[users] @ small_shop.item_latent.T)
    logits = small_shop.true_purchase_logits(users)
    top = small_shop.true_top_items(users, k=5)
    np.testing.assert_array_equal(top, np.argsort(-logits, axis=1)[:, :5])
    # Daily knots are hit exactly; halfway between two knots is their mean.
    knots = small_shop.user_latent_by_day
    np.testing.assert_allclose(small_shop.user_interest_at(users, 7.0), knots[users, 7])
    np.testing.assert_allclose(
        small_shop.user_interest_at(users, np.array([2.5, 2.5, 2.5])),
        (knots[users, 2] + knots[users, 3]) / 2,
    )
    np.testing.assert_allclose(
        small_shop.true_affinity(users, at=float(SMALL.n_days)),
        small_shop.true_affinity(users, at="end"),
    )


def test_ground_truth_predicts_the_held_out_last_purchase(default_shop) -> None:
    shop = default_shop
    frame = shop.tables.interactions
    purchases = frame[frame["event"] == "purchase"]
    last = purchases.groupby("user_id").tail(1)
    earlier = purchases.drop(last.index)
    users = last["user_id"].to_numpy()
    held_out = last["item_id"].to_numpy()
    day = shop.day_of(last["timestamp"].to_numpy(dtype=np.int64))
    k = 50
    true_hit = (shop.true_top_items(users, k, at=day) == held_out[:, None]).any(axis=1).mean()
    counts = np.bincount(earlier["item_id"].to_numpy(), minlength=shop.config.n_items)
    popular = np.argsort(-counts, kind="stable")[:k]
    popular_hit = np.isin(held_out, popular).mean()
    random_hit = k / shop.config.n_items
    assert len(users) > 1000
    assert true_hit > 0.6  # about 0.73 measured
    assert true_hit > 2 * popular_hit  # popularity about 0.32
    assert popular_hit > 3 * random_hit  # popularity is skewed too
    # Drift matters: the interest of day 0 predicts the last purchase worse.
    start_hit = (shop.true_top_items(users, k, at="start") == held_out[:, None]).any(axis=1).mean()
    assert true_hit > start_hit + 0.05


def test_views_concentrate_on_the_users_category(small_shop) -> None:
    frame = small_shop.tables.interactions
    early = frame[(frame["event"] == "view") & (small_shop.day_of(frame["timestamp"]) < 5)]
    user_category = small_shop.user_category_idx[early["user_id"].to_numpy()]
    item_category = small_shop.item_category_idx[early["item_id"].to_numpy()]
    # Twelve categories: by chance about 1/12 of views would match.
    assert (user_category == item_category).mean() > 0.3


def test_drift_moves_interest_by_the_expected_amount() -> None:
    drift = 0.05
    config = ShopConfig(n_users=2000, n_items=50, n_days=40, drift=drift, interest_switch_prob=0)
    shop = generate_shop(config, seed=2)
    moved = ((shop.user_latent_end - shop.user_latent_start) ** 2).sum(axis=1)
    expected = config.n_latent * drift**2 * config.n_days  # random walk: d * drift^2 * days
    assert moved.mean() == pytest.approx(expected, rel=0.1)
    assert np.isnan(shop.user_switch_day).all()


def test_no_drift_and_no_switch_keeps_interest_fixed() -> None:
    config = ShopConfig(n_users=100, n_items=50, n_days=10, drift=0.0, interest_switch_prob=0.0)
    shop = generate_shop(config, seed=2)
    np.testing.assert_array_equal(shop.user_latent_start, shop.user_latent_end)
    assert (shop.user_switch_category_idx == -1).all()


def test_interest_switch_moves_from_one_centroid_to_another() -> None:
    config = ShopConfig(
        n_users=100,
        n_items=50,
        n_days=20,
        drift=0.0,
        interest_switch_prob=1.0,
        second_interest_prob=0.0,
    )
    shop = generate_shop(config, seed=4)
    old, new = shop.user_category_idx, shop.user_switch_category_idx
    assert (new >= 0).all() and (new != old).all()
    assert ((shop.user_switch_day >= 4) & (shop.user_switch_day <= 16)).all()
    centroids = shop.category_centroids
    np.testing.assert_allclose(
        shop.user_latent_end - shop.user_latent_start, centroids[new] - centroids[old]
    )
    # The move happens on the switch day, not before.
    before = shop.user_interest_at(np.arange(100), np.floor(shop.user_switch_day))
    np.testing.assert_allclose(before, shop.user_latent_start)


def test_config_loads_from_a_toml_like_dict() -> None:
    config = from_dict(ShopConfig, {"n_users": 10, "price_range": [1, 10], "drift": 0})
    assert config.price_range == (1.0, 10.0) and config.drift == 0.0


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("n_users", 0),
        ("n_items", -3),
        ("n_latent", 2.5),
        ("n_days", True),
        ("mean_sessions_per_user", 0.0),
        ("drift", -0.1),
        ("popularity_skew", float("inf")),
        ("interest_switch_prob", 1.5),
        ("click_rate", 0.0),
        ("purchase_rate", 1.0),
        ("mean_views_per_session", 0.5),
        ("price_range", (10.0, 5.0)),
        ("n_categories", 5000),
    ],
)
def test_config_validation_names_the_field(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"'{key}'") as error:
        ShopConfig(**{key: value})  # type: ignore[arg-type]
    assert isinstance(error.value, ValueError)
