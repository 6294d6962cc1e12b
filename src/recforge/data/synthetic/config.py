"""The synthetic shop's settings and the constants its tables use."""

from __future__ import annotations

import math
from dataclasses import dataclass

from recforge.core.errors import ConfigError

SECONDS_PER_DAY = 86_400
START_TIMESTAMP = 1_767_225_600  # 2026-01-01 00:00:00 UTC
EVENT_NAMES = ("view", "click", "cart", "purchase")


@dataclass(frozen=True)
class ShopConfig:
    """Size and behaviour of the synthetic shop; the defaults train NeuMF in about a minute.

    Sizes: ``n_users``, ``n_items``, ``n_categories``, ``n_brands``, ``n_latent`` (dimension of
    the latent interest space), ``n_days`` (length of the event log).

    Behaviour: ``mean_sessions_per_user`` (before the per-user activity multiplier, whose
    log-normal spread is ``activity_spread``), ``mean_views_per_session`` (capped at
    ``max_views_per_session`` and ``n_items``), ``drift`` (std of each latent coordinate's
    daily random-walk step), ``interest_switch_prob`` (share of users whose main interest moves
    to another category once), ``second_interest_prob`` (share of users starting with two
    interests), ``category_separation`` (norm of category centroids: how much category drives
    choice), ``brand_spread`` and ``item_noise`` (norms of brand offsets and item noise),
    ``popularity_skew`` (std of the items' popularity logit), ``demographic_strength`` (how
    much age band and gender tilt a user's first category).

    Funnel: ``click_rate``, ``cart_rate``, ``purchase_rate`` are the conditional probabilities
    view->click, click->cart, cart->purchase at zero affinity; each logit rises by
    ``funnel_affinity_slope`` per unit of affinity, and the purchase logit falls by
    ``price_sensitivity`` per unit of log(price / category median price).

    Prices: category medians are log-uniform inside ``price_range``; item prices are log-normal
    around them with ``price_sigma``, clipped to ``price_range``.

    >>> ShopConfig(n_users=0)
    Traceback (most recent call last):
    ...
    recforge.core.errors.ConfigError: config key 'n_users': must be a positive integer, got 0
    """

    n_users: int = 2000
    n_items: int = 1000
    n_categories: int = 12
    n_brands: int = 40
    n_latent: int = 8
    n_days: int = 90
    mean_sessions_per_user: float = 10.0
    activity_spread: float = 0.6
    mean_views_per_session: float = 7.0
    max_views_per_session: int = 30
    drift: float = 0.04
    interest_switch_prob: float = 0.3
    second_interest_prob: float = 0.4
    category_separation: float = 2.2
    brand_spread: float = 0.6
    item_noise: float = 0.6
    popularity_skew: float = 1.0
    demographic_strength: float = 1.0
    click_rate: float = 0.06
    cart_rate: float = 0.1
    purchase_rate: float = 0.15
    funnel_affinity_slope: float = 0.3
    price_sensitivity: float = 0.5
    price_range: tuple[float, float] = (3.0, 800.0)
    price_sigma: float = 0.45

    def __post_init__(self) -> None:
        for name in (
            "n_users",
            "n_items",
            "n_categories",
            "n_brands",
            "n_latent",
            "n_days",
            "max_views_per_session",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(name, f"must be a positive integer, got {value!r}")
        for name in ("mean_sessions_per_user", "category_separation"):
            if not _is_number(getattr(self, name)) or getattr(self, name) <= 0:
                raise ConfigError(name, f"must be a positive number, got {getattr(self, name)!r}")
        for name in (
            "activity_spread",
            "drift",
            "brand_spread",
            "item_noise",
            "popularity_skew",
            "demographic_strength",
            "funnel_affinity_slope",
            "price_sensitivity",
            "price_sigma",
        ):
            value = getattr(self, name)
            if not _is_number(value) or not 0 <= value < math.inf:
                raise ConfigError(name, f"must be a finite number >= 0, got {value!r}")
        for name in ("interest_switch_prob", "second_interest_prob"):
            value = getattr(self, name)
            if not _is_number(value) or not 0 <= value <= 1:
                raise ConfigError(name, f"must be a probability in [0, 1], got {value!r}")
        for name in ("click_rate", "cart_rate", "purchase_rate"):
            value = getattr(self, name)
            if not _is_number(value) or not 0 < value < 1:
                raise ConfigError(name, f"must be a probability in (0, 1), got {value!r}")
        views = self.mean_views_per_session
        if not _is_number(views) or not 1 <= views <= self.max_views_per_session:
            raise ConfigError(
                "mean_views_per_session",
                f"must be in [1, max_views_per_session], got {views!r}",
            )
        if self.n_categories > self.n_items:
            raise ConfigError("n_categories", f"must be <= n_items={self.n_items}")
        prices = self.price_range
        if (
            len(prices) != 2
            or not all(_is_number(p) for p in prices)
            or not 0 < prices[0] < prices[1] < math.inf
        ):
            raise ConfigError(
                "price_range", f"must be (low, high) with 0 < low < high, got {prices!r}"
            )


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
