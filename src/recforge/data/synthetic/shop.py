"""The generated shop and ``generate_shop``.

Dimension letters: U users, I items, C categories, D latent dimension, T daily knots.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from recforge.data.synthetic.behaviour import (
    funnel_logits,
    interpolate_knots,
    make_events,
    make_users,
)
from recforge.data.synthetic.catalogue import make_catalogue
from recforge.data.synthetic.config import SECONDS_PER_DAY, START_TIMESTAMP, ShopConfig
from recforge.data.tables import Tables

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Shop:
    """A generated shop: canonical tables plus the ground truth that produced them.

    Ground-truth arrays index users and items by ``user_idx == user_id`` and
    ``item_idx == item_id``. Times are in days since :attr:`start_timestamp` (floats).
    """

    config: ShopConfig
    seed: int
    tables: Tables
    start_timestamp: int
    category_names: tuple[str, ...]
    brand_names: tuple[str, ...]
    category_centroids: np.ndarray  # (C, D) float64
    item_latent: np.ndarray  # (I, D) float64
    item_popularity_bias: np.ndarray  # (I,) float64, mean 0
    item_category_idx: np.ndarray  # (I,) int64
    item_brand_idx: np.ndarray  # (I,) int64
    item_log_price_ratio: np.ndarray  # (I,) float64, log(price / category median price)
    user_latent_by_day: np.ndarray  # (U, T, D) float64, knot t = interest at day t
    user_category_idx: np.ndarray  # (U,) int64, main category at day 0
    user_switch_day: np.ndarray  # (U,) float64, day the main interest moved; nan = never
    user_switch_category_idx: np.ndarray  # (U,) int64, the new category; -1 = no switch
    event_session_idx: np.ndarray = field(repr=False)  # (n_events,) aligned with interactions

    @property
    def user_latent_start(self) -> np.ndarray:
        """(U, D) latent interests on day 0."""
        return self.user_latent_by_day[:, 0]

    @property
    def user_latent_end(self) -> np.ndarray:
        """(U, D) latent interests on day ``n_days``."""
        return self.user_latent_by_day[:, -1]

    def day_of(self, timestamp: np.ndarray | int) -> np.ndarray:
        """Days since :attr:`start_timestamp` of unix ``timestamp`` seconds (float64)."""
        return (np.asarray(timestamp, dtype=np.float64) - self.start_timestamp) / SECONDS_PER_DAY

    def user_interest_at(
        self, user_idx: np.ndarray | list[int] | int, day: float | np.ndarray
    ) -> np.ndarray:
        """Latent interests of users at ``day`` (days since start; scalar or one per user).

        Linear interpolation between the daily knots; days outside ``[0, n_days]`` are clipped.

        Returns:
            ``(len(user_idx), D)`` float64 (``(D,)`` for a scalar ``user_idx``).
        """
        users = np.asarray(user_idx, dtype=np.int64)
        days = np.broadcast_to(np.asarray(day, dtype=np.float64), users.shape)
        latent = interpolate_knots(self.user_latent_by_day, users.ravel(), days.ravel())
        return latent.reshape(*users.shape, -1)

    def _user_latent(
        self, user_idx: np.ndarray, at: Literal["start", "end"] | float | np.ndarray
    ) -> np.ndarray:
        if isinstance(at, str):
            if at not in ("start", "end"):
                raise ValueError(f"at must be 'start', 'end' or a day, got {at!r}")
            return self.user_latent_by_day[user_idx, 0 if at == "start" else -1]
        return self.user_interest_at(user_idx, at)

    def true_affinity(
        self,
        user_idx: np.ndarray | list[int] | int,
        item_idx: np.ndarray | list[int] | int | None = None,
        at: Literal["start", "end"] | float | np.ndarray = "end",
    ) -> np.ndarray:
        """Affinity ``latent_user(at) . latent_item``: what drives views and the funnel.

        Args:
            user_idx: users, scalar or 1-d.
            item_idx: items paired element-wise with ``user_idx``; ``None`` scores all items.
            at: ``"start"`` (day 0), ``"end"`` (day ``n_days``), a day, or one day per user.

        Returns:
            ``(n,)`` for paired items, ``(n, I)`` when ``item_idx`` is ``None``.

        >>> shop = generate_shop(ShopConfig(n_users=5, n_items=20, n_days=3), seed=0)
        >>> shop.true_affinity([0, 1]).shape, shop.true_affinity([0, 1], [3, 4]).shape
        ((2, 20), (2,))
        """
        users = np.atleast_1d(np.asarray(user_idx, dtype=np.int64))
        latent = self._user_latent(users, at)  # (n, D)
        if item_idx is None:
            return latent @ self.item_latent.T  # (n, I)
        items = np.atleast_1d(np.asarray(item_idx, dtype=np.int64))
        return np.einsum("nd,nd->n", latent, self.item_latent[items])

    def true_purchase_logits(
        self,
        user_idx: np.ndarray | list[int] | int,
        at: Literal["start", "end"] | float | np.ndarray = "end",
    ) -> np.ndarray:
        """Log-propensity (up to a per-user constant) that a user's next view ends in a purchase.

        ``view logit + log P(click) + log P(cart | click) + log P(purchase | cart)``: the
        Bayes-optimal ranking score for "which item will this user buy next".

        Returns:
            ``(n, I)`` float64.
        """
        users = np.atleast_1d(np.asarray(user_idx, dtype=np.int64))
        affinity = self.true_affinity(users, None, at)  # (n, I)
        view_logit = affinity + self.item_popularity_bias
        click, cart, purchase = funnel_logits(self.config, affinity, self.item_log_price_ratio)
        return (
            view_logit
            - np.logaddexp(0, -click)
            - np.logaddexp(0, -cart)
            - np.logaddexp(0, -purchase)
        )

    def true_top_items(
        self,
        user_idx: np.ndarray | list[int] | int,
        k: int,
        at: Literal["start", "end"] | float | np.ndarray = "end",
    ) -> np.ndarray:
        """The ``k`` items each user is most likely to buy next, best first: ``(n, k)`` int64."""
        logits = self.true_purchase_logits(user_idx, at)  # (n, I)
        k = min(k, logits.shape[1])
        top = np.argpartition(-logits, k - 1, axis=1)[:, :k]  # (n, k) unordered
        order = np.argsort(-np.take_along_axis(logits, top, axis=1), axis=1, kind="stable")
        return np.take_along_axis(top, order, axis=1).astype(np.int64)


def generate_shop(config: ShopConfig | None = None, *, seed: int = 0) -> Shop:
    """Generate the synthetic shop: tables plus ground truth, deterministic in ``seed``.

    Catalogue, users and events draw from independent child streams of ``seed``, so changing
    ``n_users`` leaves the catalogue unchanged.

    Args:
        config: sizes and behaviour; ``None`` uses :class:`ShopConfig` defaults.
        seed: the only source of randomness.

    Returns:
        A :class:`Shop` whose ``tables`` has ``interactions`` (events view/click/cart/purchase,
        value 1.0, unix-second timestamps from 2026-01-01 UTC, in time order), ``items``
        (item_id, title, description, category, brand, tags, price) and ``users`` (user_id,
        age_band, gender, region).

    >>> shop = generate_shop(ShopConfig(n_users=20, n_items=30, n_days=5), seed=3)
    >>> list(shop.tables.items.columns)
    ['item_id', 'title', 'description', 'category', 'brand', 'tags', 'price']
    >>> shop.tables.interactions.equals(
    ...     generate_shop(ShopConfig(n_users=20, n_items=30, n_days=5), seed=3).tables.interactions)
    True
    """
    config = ShopConfig() if config is None else config
    began = time.perf_counter()
    catalogue_rng, users_rng, events_rng = (
        np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(3)
    )
    catalogue = make_catalogue(config, catalogue_rng)
    users = make_users(config, catalogue.centroids, users_rng)
    interactions, event_session = make_events(config, catalogue, users, events_rng)
    tables = Tables(
        interactions=interactions,
        items=catalogue.items,
        users=users.users,
        name="synthetic-shop",
        extras={"seed": seed},
    )
    logger.info(
        "synthetic shop: %d users, %d items, %d events in %.2fs",
        config.n_users,
        config.n_items,
        len(interactions),
        time.perf_counter() - began,
    )
    return Shop(
        config=config,
        seed=seed,
        tables=tables,
        start_timestamp=START_TIMESTAMP,
        category_names=catalogue.category_names,
        brand_names=catalogue.brand_names,
        category_centroids=catalogue.centroids,
        item_latent=catalogue.item_latent,
        item_popularity_bias=catalogue.popularity_bias,
        item_category_idx=catalogue.category_idx,
        item_brand_idx=catalogue.brand_idx,
        item_log_price_ratio=catalogue.log_price_ratio,
        user_latent_by_day=users.latent_by_day,
        user_category_idx=users.category_idx,
        user_switch_day=users.switch_day,
        user_switch_category_idx=users.switch_category_idx,
        event_session_idx=event_session,
    )
