"""The synthetic shop's users and their behaviour: drifting interests, sessions, the funnel.

Dimension letters: U users, I items, C categories, D latent dimension, T daily knots,
S sessions, K views per session.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recforge.data.synthetic.catalogue import Catalogue, gumbel_argmax
from recforge.data.synthetic.config import EVENT_NAMES, SECONDS_PER_DAY, START_TIMESTAMP, ShopConfig
from recforge.data.tables import make_interactions

logger = logging.getLogger(__name__)

AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
GENDERS = ("female", "male", "other")
REGIONS = ("North", "South", "East", "West", "Central")
_AGE_PROBS = np.array([0.14, 0.26, 0.22, 0.17, 0.12, 0.09])
_GENDER_PROBS = np.array([0.49, 0.48, 0.03])
_REGION_PROBS = np.array([0.22, 0.24, 0.18, 0.2, 0.16])


def _logit(probability: float) -> float:
    return math.log(probability / (1 - probability))


def funnel_logits(
    config: ShopConfig, affinity: np.ndarray, log_price_ratio: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logits of P(click | view), P(cart | click), P(purchase | cart) for given affinities."""
    lift = config.funnel_affinity_slope * affinity
    click = _logit(config.click_rate) + lift
    cart = _logit(config.cart_rate) + lift
    purchase = _logit(config.purchase_rate) + lift - config.price_sensitivity * log_price_ratio
    return click, cart, purchase


def _other_category(
    rng: np.random.Generator, category_idx: np.ndarray, n_categories: int
) -> np.ndarray:
    """A uniformly drawn category different from each entry of ``category_idx`` (when C > 1)."""
    excluded = np.arange(n_categories) == category_idx[:, None]  # (n, C)
    return gumbel_argmax(rng, np.where(excluded & (n_categories > 1), -np.inf, 0.0))


@dataclass
class Users:
    """The generated users: demographics plus their daily interest trajectories."""

    users: pd.DataFrame
    activity: np.ndarray
    latent_by_day: np.ndarray
    category_idx: np.ndarray
    switch_day: np.ndarray
    switch_category_idx: np.ndarray


def make_users(config: ShopConfig, centroids: np.ndarray, rng: np.random.Generator) -> Users:
    """Draw users, their first interests and their drift (step 2 of the story)."""
    n_users, n_categories, dim, n_days = (
        config.n_users,
        config.n_categories,
        config.n_latent,
        config.n_days,
    )
    age = rng.choice(len(AGE_BANDS), size=n_users, p=_AGE_PROBS)
    gender = rng.choice(len(GENDERS), size=n_users, p=_GENDER_PROBS)
    region = rng.choice(len(REGIONS), size=n_users, p=_REGION_PROBS)
    # Demographics tilt the first category: a learnable signal for cold-start features.
    age_effect = rng.standard_normal((len(AGE_BANDS), n_categories)) * config.demographic_strength
    gender_effect = rng.standard_normal((len(GENDERS), n_categories)) * config.demographic_strength
    category_logits = age_effect[age] + gender_effect[gender]  # (U, C)
    first = gumbel_argmax(rng, category_logits)
    second = _other_category(rng, first, n_categories)
    has_second = (rng.random(n_users) < config.second_interest_prob) & (n_categories > 1)
    first_weight = np.where(has_second, rng.uniform(0.55, 0.8, size=n_users), 1.0)
    start = (
        first_weight[:, None] * centroids[first]
        + np.where(has_second, 1 - first_weight, 0.0)[:, None] * centroids[second]
        + rng.standard_normal((n_users, dim)) * (0.5 / math.sqrt(dim))
    )  # (U, D)

    steps = rng.standard_normal((n_users, n_days, dim)) * config.drift  # (U, T-1, D)
    walk = np.concatenate([np.zeros((n_users, 1, dim)), np.cumsum(steps, axis=1)], axis=1)
    # Some users move their main interest to another category from one day on.
    switches = (rng.random(n_users) < config.interest_switch_prob) & (n_categories > 1)
    new_category = _other_category(rng, first, n_categories)
    switch_day = np.where(switches, rng.uniform(0.2, 0.8, size=n_users) * n_days, np.nan)
    shift = first_weight[:, None] * (centroids[new_category] - centroids[first])  # (U, D)
    days = np.arange(n_days + 1, dtype=np.float64)
    # Knots from the switch day on carry the full shift; nan compares False: non-switchers get 0.
    ramp = (days[None, :] >= switch_day[:, None]).astype(np.float64)  # (U, T)
    latent_by_day = start[:, None, :] + walk + ramp[:, :, None] * shift[:, None, :]  # (U, T, D)

    activity = rng.lognormal(-0.5 * config.activity_spread**2, config.activity_spread, n_users)
    users = pd.DataFrame(
        {
            "user_id": np.arange(n_users, dtype=np.int64),
            "age_band": pd.Categorical.from_codes(age, categories=pd.Index(AGE_BANDS)),
            "gender": pd.Categorical.from_codes(gender, categories=pd.Index(GENDERS)),
            "region": pd.Categorical.from_codes(region, categories=pd.Index(REGIONS)),
        }
    )
    return Users(
        users,
        activity,
        latent_by_day,
        first,
        switch_day,
        np.where(switches, new_category, -1).astype(np.int64),
    )


def _grouped_cumsum(
    values: np.ndarray, group_starts: np.ndarray, group_of: np.ndarray
) -> np.ndarray:
    """Cumulative sum restarting at each group; rows of one group are contiguous."""
    total = np.cumsum(values)
    return total - (total - values)[group_starts][group_of]


def make_events(
    config: ShopConfig, catalogue: Catalogue, users: Users, rng: np.random.Generator
) -> tuple[pd.DataFrame, np.ndarray]:
    """Sessions of views and the click/cart/purchase funnel (step 3 of the story); returns the
    interaction table and each row's session index."""
    n_users, n_days = config.n_users, config.n_days
    # Sessions: evening-heavy times of day, uniform days; leave the last day's tail free so no
    # session runs past the horizon.
    n_sessions_of_user = 1 + rng.poisson(config.mean_sessions_per_user * users.activity)
    session_user = np.repeat(np.arange(n_users), n_sessions_of_user)  # (S,)
    n_sessions = len(session_user)
    hour = np.mod(rng.normal(19.0, 4.0, size=n_sessions), 24.0)
    # A session lasts at most this long (gap caps below), so it never runs past the horizon.
    longest_session = config.max_views_per_session * 600 + 60 + 300 + 900
    session_day = np.minimum(
        rng.integers(n_days, size=n_sessions) + hour / 24.0,
        n_days - longest_session / SECONDS_PER_DAY,
    )  # (S,) in days
    n_views = np.minimum(
        1 + rng.poisson(config.mean_views_per_session - 1, size=n_sessions),
        min(config.max_views_per_session, config.n_items),  # views are of distinct items
    )  # (S,)
    session_latent = interpolate_knots(users.latent_by_day, session_user, session_day)  # (S, D)

    # Views: Gumbel top-k = sampling distinct items without replacement from the softmax
    # (Gumbel noise as -log(Exp(1)); float32 halves the cost of the largest arrays).
    view_session, view_item = [], []
    session_latent32 = session_latent.astype(np.float32)
    item_latent32 = catalogue.item_latent.astype(np.float32)
    popularity32 = catalogue.popularity_bias.astype(np.float32)
    chunk = 4096
    for begin in range(0, n_sessions, chunk):  # bounded memory: chunk x I floats
        end = min(begin + chunk, n_sessions)
        perturbed = session_latent32[begin:end] @ item_latent32.T + popularity32  # (s, I)
        with np.errstate(divide="ignore"):  # Exp(1) can round to 0: noise +inf, still valid
            perturbed -= np.log(rng.standard_exponential(size=perturbed.shape, dtype=np.float32))
        k = int(n_views[begin:end].max())
        top = np.argpartition(-perturbed, k - 1, axis=1)[:, :k]  # (s, k)
        order = np.argsort(-np.take_along_axis(perturbed, top, axis=1), axis=1)
        top = np.take_along_axis(top, order, axis=1)  # (s, k) in draw order
        keep = np.arange(k)[None, :] < n_views[begin:end, None]  # (s, k)
        view_session.append(np.broadcast_to(np.arange(begin, end)[:, None], keep.shape)[keep])
        view_item.append(top[keep])
    session_of_view = np.concatenate(view_session)  # (V,)
    item_of_view = np.concatenate(view_item).astype(np.int64)
    affinity_of_view = np.einsum(
        "vd,vd->v", session_latent[session_of_view], catalogue.item_latent[item_of_view]
    )  # (V,) in float64

    click, cart, purchase = funnel_logits(
        config, affinity_of_view, catalogue.log_price_ratio[item_of_view]
    )
    clicked = rng.random(len(item_of_view)) < 1 / (1 + np.exp(-click))
    carted = clicked & (rng.random(len(item_of_view)) < 1 / (1 + np.exp(-cart)))
    purchased = carted & (rng.random(len(item_of_view)) < 1 / (1 + np.exp(-purchase)))

    # Times in seconds from the start: views follow each other within a session, each funnel
    # step follows its view by a short delay.
    session_start = np.round(session_day * SECONDS_PER_DAY)
    n_view_total = len(item_of_view)
    view_gap = np.minimum(5 + rng.exponential(40.0, n_view_total), 600).round()
    first_view = np.r_[0, np.cumsum(n_views)[:-1]]
    view_gap[first_view] = 0
    view_time = session_start[session_of_view] + _grouped_cumsum(
        view_gap, first_view, session_of_view
    )
    click_time = view_time + np.minimum(2 + rng.exponential(8.0, n_view_total), 60).round()
    cart_time = click_time + np.minimum(3 + rng.exponential(20.0, n_view_total), 300).round()
    purchase_time = cart_time + np.minimum(10 + rng.exponential(60.0, n_view_total), 900).round()

    masks = (np.ones(n_view_total, dtype=bool), clicked, carted, purchased)
    times = (view_time, click_time, cart_time, purchase_time)
    event_code = np.concatenate([np.full(int(m.sum()), c, np.int8) for c, m in enumerate(masks)])
    event_view = np.concatenate([np.flatnonzero(m) for m in masks])  # (E,) view each came from
    seconds = np.concatenate([t[m] for t, m in zip(times, masks, strict=True)]).astype(np.int64)
    event_session = session_of_view[event_view]
    event_user = session_user[event_session]

    # Strictly increasing times within a user: sort, then lift ties by one second
    # (t'_j = j + cummax_{i<=j}(t_i - i) within each user, vectorised with a per-user offset).
    order = np.lexsort((event_code, event_view, seconds, event_user))
    seconds, event_user = seconds[order], event_user[order]
    position = np.arange(len(seconds))
    offset = event_user * (2 * (n_days + 1) * SECONDS_PER_DAY + 2 * len(seconds))
    seconds = np.maximum.accumulate(seconds - position + offset) - offset + position
    horizon = n_days * SECONDS_PER_DAY
    if seconds.max() >= horizon:  # late session, or many same-second ties: compress the tail
        seconds = np.minimum(seconds, horizon - 1)
        logger.warning("synthetic shop: some events were clipped to the horizon")
    # Publish as an event log in global time order.
    final = np.lexsort((position, event_user, seconds))
    order = order[final]
    interactions = make_interactions(
        event_user[final],
        item_of_view[event_view[order]],
        event=np.asarray(EVENT_NAMES, dtype=object)[event_code[order]],
        value=1.0,
        timestamp=START_TIMESTAMP + seconds[final],
        source="synthetic shop",
    )
    return interactions, event_session[order]


def interpolate_knots(
    latent_by_day: np.ndarray, user_idx: np.ndarray, day: np.ndarray
) -> np.ndarray:
    """Interpolate daily latent knots ``(U, T, D)`` at per-row ``day`` floats: ``(n, D)``.

    >>> knots = np.array([[[0.0], [2.0], [4.0]]])  # one user, 3 knots, D = 1
    >>> interpolate_knots(knots, np.array([0, 0]), np.array([0.5, 1.25])).ravel().tolist()
    [1.0, 2.5]
    """
    n_knots = latent_by_day.shape[1]
    day = np.clip(np.asarray(day, dtype=np.float64), 0, n_knots - 1)
    knot = np.minimum(np.floor(day).astype(np.int64), n_knots - 2)
    frac = (day - knot)[:, None]
    before = latent_by_day[user_idx, knot]
    return before + frac * (latent_by_day[user_idx, knot + 1] - before)
