"""User and item profiles: hand-computed scores, the shop's ground truth, one code path."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from recforge.core.config import from_dict, to_dict
from recforge.core.errors import ConfigError, DataFormatError
from recforge.data.synthetic import Shop, ShopConfig, generate_shop
from recforge.features.events import EventError, EventTypes
from recforge.features.profiles import (
    ItemProfile,
    ProfileConfig,
    UserProfile,
    interest_scores,
    item_facets,
    item_popularity,
    item_profile,
    item_profiles,
    item_text,
    user_profile,
    user_profiles,
)

DAY = 86_400
START = 1_767_225_600  # 2026-01-01T00:00:00Z
NOW = START + 30 * DAY  # 2026-01-31T00:00:00Z


@pytest.fixture(scope="module")
def shop() -> Shop:
    return generate_shop(ShopConfig(n_users=300, n_items=300, n_days=60), seed=0)


def shop_now(shop: Shop) -> float:
    return float(shop.tables.interactions["timestamp"].max())


def tiny_items() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": ["a", "b", "c"],
            "title": ["Dome Tent", "Camp Mug", "Road Shoe"],
            "category": ["Outdoor", "Outdoor", "Sports"],
            "tags": [["camping", "tent"], ["camping"], ["running"]],
            "brand": ["Oakpeak", None, "Swift"],
        }
    )


def tiny_events() -> pd.DataFrame:
    """u1: view a now, purchase c 10 days ago, click b 20 days ago, cart an unknown item now;
    u2: rating 5 of a with no time, view of b 5 days after ``NOW``."""
    return pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u1", "u2", "u2"],
            "item_id": ["a", "c", "b", "zzz", "a", "b"],
            "event": ["view", "purchase", "click", "cart", "rating", "view"],
            "value": [1.0, 1.0, 1.0, 1.0, 5.0, 1.0],
            "timestamp": pd.array(
                [NOW, NOW - 10 * DAY, NOW - 20 * DAY, NOW, None, NOW + 5 * DAY], dtype="Int64"
            ),
        }
    )


# --- config -----------------------------------------------------------------------------------


def test_profile_config_checks_its_keys() -> None:
    for kwargs, key in [
        ({"half_life_days": 0.0}, "half_life_days"),
        ({"half_life_days": math.nan}, "half_life_days"),
        ({"top_n": 0}, "top_n"),
        ({"top_n": 2.5}, "top_n"),
        ({"facets": ("category", "colour")}, "facets"),
        ({"facets": ()}, "facets"),
        ({"facets": ("tag", "tag")}, "facets"),
        ({"event_types": {"view": 1.0}}, "event_types"),
    ]:
        with pytest.raises(ConfigError, match=f"'{key}'"):
            ProfileConfig(**kwargs)  # type: ignore[arg-type]
    assert ProfileConfig(half_life_days=math.inf).half_life_days == math.inf


def test_profile_config_round_trips_through_the_config_loader() -> None:
    table = {
        "half_life_days": 7,
        "facets": ["category", "brand"],
        "event_types": {"weights": {"view": 1.0, "wishlist": 3.0}},
    }
    config = from_dict(ProfileConfig, table)
    assert config.facets == ("category", "brand")
    assert config.event_types.weight("wishlist") == 3.0
    assert from_dict(ProfileConfig, to_dict(config)) == config


# --- items: facets and text -------------------------------------------------------------------


def test_item_facets_reads_the_shop_columns(shop: Shop) -> None:
    items = shop.tables.items
    facets = item_facets(items)
    assert list(facets.columns) == ["item_id", "facet", "value"]
    first = facets[facets["item_id"] == "0"]
    row = items.iloc[0]
    assert first[first["facet"] == "category"]["value"].tolist() == [row["category"]]
    assert first[first["facet"] == "brand"]["value"].tolist() == [row["brand"]]
    assert first[first["facet"] == "tag"]["value"].tolist() == list(row["tags"])
    assert set(item_facets(items, ("brand",))["facet"]) == {"brand"}


def test_item_facets_reads_the_store_columns_and_skips_missing_values() -> None:
    items = pd.DataFrame(
        {
            "item_id": [1, 2, 3],
            "categories": [["Books", "Kids", "Books"], None, []],
            "tags": [["paper", None, ""], np.nan, ["x"]],
            "attributes": [{"brand": "Acme", "colour": "red"}, {}, None],
        }
    )
    facets = item_facets(items)
    assert facets.values.tolist() == [
        ["1", "category", "Books"],
        ["1", "category", "Kids"],
        ["1", "tag", "paper"],
        ["1", "brand", "Acme"],
        ["3", "tag", "x"],
    ]
    with pytest.raises(ConfigError, match="unknown facet 'colour'"):
        item_facets(items, ("colour",))
    with pytest.raises(DataFormatError, match="item_id"):
        item_facets(items.drop(columns="item_id"))


def test_item_text_joins_the_known_fields(shop: Shop) -> None:
    items = shop.tables.items
    texts = item_text(items)
    assert texts.index.equals(items.index) and len(texts) == len(items)
    row = items.iloc[0]
    for part in (row["title"], row["category"], row["brand"], *row["tags"]):
        assert part in texts.iloc[0]
    assert row["description"].rstrip(".") in texts.iloc[0]
    odd = pd.DataFrame({"title": ["Lamp", None, np.nan], "genres": [["Home"], None, ["Noir"]]})
    assert item_text(odd).tolist() == ["Lamp. Home", "", "Noir"]
    assert item_text(pd.DataFrame({"item_id": [1, 2]})).tolist() == ["", ""]


# --- interest scores --------------------------------------------------------------------------


def test_interest_scores_match_hand_computed_values() -> None:
    config = ProfileConfig(half_life_days=10.0)
    scores = interest_scores(tiny_events(), item_facets(tiny_items()), now=NOW, config=config)
    assert list(scores.columns) == ["user_id", "facet", "value", "score"]
    got = {(u, f, v): s for u, f, v, s in scores.itertuples(index=False)}
    # u1 weights: view a 1 * 1, purchase c 8 * 0.5, click b 2 * 0.25 (the cart has no facets)
    expected = {
        ("u1", "category", "Sports"): 4 / 5.5,
        ("u1", "category", "Outdoor"): 1.5 / 5.5,
        ("u1", "tag", "running"): 4 / 6.5,
        ("u1", "tag", "camping"): 1.5 / 6.5,
        ("u1", "tag", "tent"): 1 / 6.5,
        ("u1", "brand", "Swift"): 0.8,
        ("u1", "brand", "Oakpeak"): 0.2,
        # u2: rating 5/5 with no time and a view in the future both count 1 (no decay)
        ("u2", "category", "Outdoor"): 1.0,
        ("u2", "tag", "camping"): 2 / 3,
        ("u2", "tag", "tent"): 1 / 3,
        ("u2", "brand", "Oakpeak"): 1.0,
    }
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value), key
    # sorted by user, facet, then best first
    assert scores[["user_id", "facet"]].values.tolist() == sorted(
        scores[["user_id", "facet"]].values.tolist()
    )
    u1_tags = scores[(scores["user_id"] == "u1") & (scores["facet"] == "tag")]
    assert u1_tags["value"].tolist() == ["running", "camping", "tent"]


def test_interest_scores_keep_top_n_shares_and_break_ties_by_value() -> None:
    config = ProfileConfig(half_life_days=10.0, top_n=2)
    scores = interest_scores(tiny_events(), item_facets(tiny_items()), now=NOW, config=config)
    u1_tags = scores[(scores["user_id"] == "u1") & (scores["facet"] == "tag")]
    assert u1_tags["value"].tolist() == ["running", "camping"]
    assert u1_tags["score"].sum() == pytest.approx(5.5 / 6.5)  # shares of the whole facet
    tied = pd.DataFrame(
        {
            "user_id": [7, 7],
            "item_id": [1, 2],
            "event": "view",
            "value": 1.0,
            "timestamp": NOW,
        }
    )
    items = pd.DataFrame({"item_id": [1, 2], "brand": ["Zeta", "Alpha"]})
    brands = interest_scores(tied, item_facets(items), now=NOW, config=config)
    assert brands.values.tolist() == [["7", "brand", "Alpha", 0.5], ["7", "brand", "Zeta", 0.5]]


def test_interest_scores_sum_to_one_per_user_and_facet(shop: Shop) -> None:
    config = ProfileConfig(top_n=1_000)
    scores = interest_scores(
        shop.tables.interactions, item_facets(shop.tables.items), now=shop_now(shop), config=config
    )
    sums = scores.groupby(["user_id", "facet"])["score"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0)
    assert len(sums) == 3 * shop.config.n_users


# --- user profiles ----------------------------------------------------------------------------


def test_user_profiles_of_the_tiny_log() -> None:
    config = ProfileConfig(half_life_days=10.0)
    users = pd.DataFrame({"user_id": ["u1", "u3"], "region": ["West", "North"], "age": [31, None]})
    profiles = user_profiles(tiny_events(), tiny_items(), users, now=NOW, config=config)
    assert list(profiles) == ["u1", "u2", "u3"]
    u1, u2, u3 = profiles["u1"], profiles["u2"], profiles["u3"]
    assert u1.demographics == {"region": "West", "age": 31.0}
    assert u1.activity == {
        "n_events": 4,
        "by_event": {"view": 1, "click": 1, "cart": 1, "purchase": 1},
        "first_seen": "2026-01-11T00:00:00Z",
        "last_seen": "2026-01-31T00:00:00Z",
        "active_days": 3,
    }
    assert u1.interests["category"] == [("Sports", 0.7273), ("Outdoor", 0.2727)]
    assert u1.interests["brand"] == [("Swift", 0.8), ("Oakpeak", 0.2)]
    assert u2.demographics == {}
    assert u2.activity["by_event"] == {"view": 1, "rating": 1}
    assert u2.activity["first_seen"] == u2.activity["last_seen"] == "2026-02-05T00:00:00Z"
    assert u2.activity["active_days"] == 1
    assert u3 == UserProfile(
        user_id="u3",
        demographics={"region": "North"},
        activity={
            "n_events": 0,
            "by_event": {},
            "first_seen": None,
            "last_seen": None,
            "active_days": 0,
        },
        interests={"category": [], "tag": [], "brand": []},
    )


def test_user_profile_without_timestamps_or_events() -> None:
    events = tiny_events()
    events["timestamp"] = pd.array([None] * len(events), dtype="Int64")
    profile = user_profile("u1", events, tiny_items(), now=NOW)
    assert profile.activity["first_seen"] is None and profile.activity["active_days"] == 0
    assert profile.interests["brand"] == [("Swift", 0.8889), ("Oakpeak", 0.1111)]  # 8 vs 1
    for empty in (events.iloc[:0], pd.DataFrame()):
        nobody = user_profile("u9", empty, None, {"gender": "female"}, now=NOW)
        assert nobody.activity["n_events"] == 0
        assert nobody.demographics == {"gender": "female"}
        assert nobody.interests == {"category": [], "tag": [], "brand": []}
    stranger = user_profile("u9", tiny_events(), tiny_items(), now=NOW)
    assert stranger.activity["n_events"] == 0


def test_user_profiles_reject_bad_events() -> None:
    with pytest.raises(DataFormatError, match=r"missing column.*value"):
        user_profiles(tiny_events().drop(columns="value"), tiny_items(), now=NOW)
    bad = tiny_events()
    bad.loc[2, "event"] = "wishlist"
    with pytest.raises(EventError, match="'wishlist'"):
        user_profile("u1", bad, tiny_items(), now=NOW)
    config = ProfileConfig(event_types=EventTypes.with_custom({"wishlist": 3.0}))
    assert user_profile("u1", bad, tiny_items(), now=NOW, config=config).activity["by_event"] == {
        "view": 1,
        "cart": 1,
        "purchase": 1,
        "wishlist": 1,
    }


def test_int_and_string_ids_meet() -> None:
    events = pd.DataFrame(
        {"user_id": [5], "item_id": [42], "event": ["view"], "value": 1.0, "timestamp": NOW}
    )
    items = pd.DataFrame({"item_id": ["42"], "category": ["Books"]})
    profiles = user_profiles(events, items, now=NOW)
    assert list(profiles) == ["5"]
    assert profiles["5"].interests["category"] == [("Books", 1.0)]
    assert user_profile(5, events, items, now=NOW) == user_profile("5", events, items, now=NOW)


def test_batch_and_single_user_give_identical_profiles(shop: Shop) -> None:
    tables = shop.tables
    now = shop_now(shop)
    profiles = user_profiles(tables.interactions, tables.items, tables.users, now=now)
    assert len(profiles) == shop.config.n_users
    users = tables.users.set_index("user_id")
    for user_id in (0, 17, 123):
        demographics = users.loc[user_id].to_dict()
        alone = user_profile(user_id, tables.interactions, tables.items, demographics, now=now)
        assert alone == profiles[str(user_id)]
        # what the server has: only this user's events and the items they touched
        own = tables.interactions[tables.interactions["user_id"] == user_id]
        touched = tables.items[tables.items["item_id"].isin(own["item_id"])]
        assert user_profile(str(user_id), own, touched, demographics, now=now) == alone


def test_user_profiles_describe_the_shop(shop: Shop) -> None:
    tables = shop.tables
    profiles = user_profiles(tables.interactions, tables.items, tables.users, now=shop_now(shop))
    counts = tables.interactions.groupby("user_id").size()
    for user_id in (0, 50, 299):
        profile = profiles[str(user_id)]
        assert profile.activity["n_events"] == counts[user_id]
        assert sum(profile.activity["by_event"].values()) == counts[user_id]
        assert profile.demographics.keys() == {"age_band", "gender", "region"}
        for pairs in profile.interests.values():
            assert 0 < len(pairs) <= 10
            scores = [score for _, score in pairs]
            assert scores == sorted(scores, reverse=True)
        encoded = json.loads(json.dumps(profile.to_dict()))
        assert encoded["user_id"] == str(user_id)
        assert encoded["interests"]["category"][0]["value"] == profile.interests["category"][0][0]


def test_profiles_find_the_users_main_category(shop: Shop) -> None:
    """Users who never switch interest: the top category is their true main one far more often
    than chance (1 in 12)."""
    tables = shop.tables
    config = ProfileConfig(half_life_days=math.inf)
    profiles = user_profiles(tables.interactions, tables.items, now=shop_now(shop), config=config)
    steady = np.flatnonzero(np.isnan(shop.user_switch_day))
    main = np.asarray(shop.category_names)[shop.user_category_idx[steady]]
    top = np.asarray([profiles[str(u)].interests["category"][0][0] for u in steady])
    top_two = [[value for value, _ in profiles[str(u)].interests["category"][:2]] for u in steady]
    assert np.mean(top == main) > 0.4
    assert np.mean([m in pair for m, pair in zip(main, top_two, strict=True)]) > 0.65


def test_time_decay_follows_a_switch_of_interest(shop: Shop) -> None:
    """Users whose interest moved: a short half-life puts the new category on top more often
    and the old one less often than counting every event alike."""
    tables = shop.tables
    switched = np.flatnonzero(~np.isnan(shop.user_switch_day))
    names = np.asarray(shop.category_names)
    old, new = (
        names[shop.user_category_idx[switched]],
        names[shop.user_switch_category_idx[switched]],
    )
    share = {}
    for half_life in (math.inf, 3.0):
        config = ProfileConfig(half_life_days=half_life, facets=("category",))
        profiles = user_profiles(
            tables.interactions, tables.items, now=shop_now(shop), config=config
        )
        top = np.asarray([profiles[str(u)].interests["category"][0][0] for u in switched])
        share[half_life] = (np.mean(top == new), np.mean(top == old))
    assert share[3.0][0] > share[math.inf][0] + 0.05
    assert share[3.0][1] < share[math.inf][1] - 0.05


# --- item profiles ----------------------------------------------------------------------------


def test_item_popularity_counts_and_decays() -> None:
    config = ProfileConfig(half_life_days=10.0)
    popularity = item_popularity(tiny_events(), now=NOW, config=config)
    assert list(popularity.columns) == [
        "item_id",
        "count_view",
        "count_click",
        "count_cart",
        "count_purchase",
        "count_rating",
        "n_events",
        "n_users",
        "decayed_score",
        "rank",
    ]
    rows = popularity.set_index("item_id")
    assert popularity["item_id"].tolist() == ["c", "zzz", "a", "b"]  # 4, 4, 2, 1.5: ties by id
    assert rows.loc["a", ["count_view", "count_rating", "n_events", "n_users"]].tolist() == [
        1,
        1,
        2,
        2,
    ]
    assert rows.loc["a", "decayed_score"] == pytest.approx(2.0)
    assert rows.loc["b", "decayed_score"] == pytest.approx(0.5 + 1.0)
    assert popularity["rank"].tolist() == [1, 2, 3, 4]
    empty = item_popularity(tiny_events().iloc[:0], now=NOW)
    assert len(empty) == 0 and list(empty.columns) == list(popularity.columns)


def test_item_popularity_of_the_shop(shop: Shop) -> None:
    events = shop.tables.interactions
    popularity = item_popularity(events, now=shop_now(shop)).set_index("item_id")
    counts = events.groupby(["item_id", "event"]).size().unstack(fill_value=0)
    for item_id in counts.index[:20]:
        for event in ("view", "click", "cart", "purchase"):
            assert popularity.loc[str(item_id), f"count_{event}"] == counts.loc[item_id, event]
    assert (popularity["n_users"] <= popularity["n_events"]).all()
    assert popularity["decayed_score"].is_monotonic_decreasing


def test_item_profile_from_a_store_row_and_counts() -> None:
    row = {
        "item_id": "sku-1",
        "title": "Dome Tent",
        "description": None,
        "categories": ["Outdoor", "Camping"],
        "tags": ["2 person"],
        "attributes": {"brand": "Oakpeak", "colour": "green", "sizes": [1, 2], "price": 129.5},
        "created_at": np.float64(1.5e9),
    }
    profile = item_profile("sku-1", row, {"view": 10, "purchase": 2, "cart": 0}, 3.14159)
    assert profile == ItemProfile(
        item_id="sku-1",
        attributes={
            "title": "Dome Tent",
            "description": None,
            "categories": ["Outdoor", "Camping"],
            "tags": ["2 person"],
            "brand": "Oakpeak",
            "price": 129.5,
            "created_at": 1.5e9,
            "colour": "green",
        },
        popularity={
            "n_events": 12,
            "by_event": {"view": 10, "purchase": 2},
            "n_users": None,
            "decayed_score": 3.1416,
            "rank": None,
        },
        text="Dome Tent. Outdoor, Camping. 2 person. Oakpeak",
    )
    assert json.loads(json.dumps(profile.to_dict())) == profile.to_dict()
    unknown = item_profile(7, None)
    assert unknown.item_id == "7" and unknown.text == "" and unknown.popularity["n_events"] == 0


def test_item_profiles_offline_use_the_online_function(shop: Shop) -> None:
    tables = shop.tables
    now = shop_now(shop)
    profiles = item_profiles(tables.items, tables.interactions, now=now)
    assert len(profiles) == shop.config.n_items
    texts = item_text(tables.items)
    popularity = item_popularity(tables.interactions, now=now).set_index("item_id")
    for position in (0, 5, 99):
        row = tables.items.iloc[position]
        item_id = str(row["item_id"])
        stats = popularity.loc[item_id]
        counts = {event: int(stats[f"count_{event}"]) for event in ("view", "click", "cart")}
        counts["purchase"] = int(stats["count_purchase"])
        online = item_profile(
            item_id,
            row.to_dict(),
            counts,
            float(stats["decayed_score"]),
            n_users=int(stats["n_users"]),
            rank=int(stats["rank"]),
        )
        assert profiles[item_id] == online
        assert online.text == texts.iloc[position]
        assert online.attributes["categories"] == [row["category"]]
    never_seen = set(tables.items["item_id"].astype(str)) - set(popularity.index)
    for item_id in never_seen:
        assert profiles[item_id].popularity["n_events"] == 0
