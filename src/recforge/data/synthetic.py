"""The embedded default dataset: a synthetic shop generated from a seed, with known ground truth.

The generative story, every step vectorised over a :class:`numpy.random.Generator`:

1. **Catalogue.** ``n_categories`` categories with readable names, ``n_brands`` brands that each
   favour one home category, and ``n_items`` items. An item has a category, a brand, 2-4 tags
   from its category's tag vocabulary, a log-normal price around its category's median, a title
   "brand + adjective + category noun", a one-sentence description, a latent vector
   ``category centroid + brand offset + noise`` and a popularity bias.
2. **Users.** Demographics (age band, gender, region) tilt which category a user likes first;
   the user's latent interest starts near that centroid (and, for some users, a second one).
   Interest then drifts as a Gaussian random walk of ``drift`` per coordinate per day, and a
   fraction ``interest_switch_prob`` of users move their main interest to another category
   centroid on a random day. The whole trajectory is kept as daily knots: the ground truth.
3. **Events.** Each user has ``1 + Poisson(mean_sessions_per_user * activity)`` sessions spread
   over ``n_days`` (evening-heavy). In a session the user views distinct items drawn by Gumbel
   top-k from ``softmax(latent_user(t) . latent_item + popularity_bias)``; each view becomes a
   click, a click a cart, a cart a purchase with probabilities that rise with the affinity
   ``latent_user(t) . latent_item`` (and fall with price for the purchase).

Dimension letters: U users, I items, C categories, D latent dimension, T ``n_days + 1`` daily
knots, S sessions, K views per session.

Raw ids equal indices here: ``user_id == user_idx`` in ``0..n_users-1`` and
``item_id == item_idx`` in ``0..n_items-1``, so ground-truth arrays index by raw id. (Every
user has at least one view; an item may have none.)

>>> shop = generate_shop(ShopConfig(n_users=50, n_items=80, n_days=10), seed=1)
>>> sorted(shop.tables.interactions["event"].unique())
['cart', 'click', 'purchase', 'view']
>>> shop.item_latent.shape, shop.user_latent_end.shape
((80, 8), (50, 8))
>>> shop.true_top_items([0, 1], k=3).shape
(2, 3)
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from recforge.core.errors import ConfigError
from recforge.data.tables import Tables, make_interactions

logger = logging.getLogger(__name__)

SECONDS_PER_DAY = 86_400
START_TIMESTAMP = 1_767_225_600  # 2026-01-01 00:00:00 UTC
EVENT_NAMES = ("view", "click", "cart", "purchase")

# Each category: a "name: product nouns" line, then indented tag lines; "|" separates.
# Tags are short phrases that read well in "A compact kettle from Brand: tag, tag and tag."
_CATEGORY_SPECS = """
Outdoor: Tent|Backpack|Headlamp|Sleeping Bag|Camp Stove|Water Filter
    waterproof|lightweight|packable|insulated|for hiking|for camping|all-weather|ultralight
Kitchen: Kettle|Skillet|Blender|Knife Set|Coffee Grinder|Dutch Oven
    dishwasher-safe|non-stick|cast iron|stainless steel|easy to clean|for baking
    compact storage|induction-ready
Electronics: Headphones|Speaker|Charger|Smartwatch|Webcam|Keyboard
    wireless|noise-cancelling|fast charging|bluetooth|long battery life|USB-C|high resolution
    water-resistant
Books: Novel|Cookbook|Biography|Field Guide|Poetry Collection|Atlas
    bestseller|illustrated|hardcover|paperback|award-winning|for beginners|annotated
    first edition
Fashion: Jacket|Sneakers|Scarf|Jeans|Sweater|Handbag
    organic cotton|slim fit|unisex|vintage style|machine washable|wool blend|recycled materials
    limited edition
Beauty: Moisturiser|Serum|Lipstick|Shampoo|Face Mask|Perfume
    fragrance-free|vegan|for sensitive skin|hydrating|cruelty-free|with SPF|travel size
    dermatologist tested
Sports: Running Shoes|Yoga Mat|Dumbbells|Tennis Racket|Cycling Helmet|Jump Rope
    breathable|non-slip|adjustable|for beginners|professional grade|shock-absorbing|reflective
    quick-dry
Toys: Building Set|Puzzle|Plush Bear|Board Game|Toy Car|Kite
    for ages 3+|educational|battery-free|family game|wooden|STEM|glow-in-the-dark|collectible
Home: Lamp|Throw Blanket|Cushion|Wall Clock|Vase|Storage Box
    handmade|minimalist|soft-touch|energy-saving|Scandinavian design|easy assembly|stackable
    washable cover
Garden: Hose|Pruning Shears|Planter|Bird Feeder|Seed Kit|Wheelbarrow
    weather-resistant|rust-proof|for balconies|ergonomic grip|organic|frost-hardy|self-watering
    heavy-duty
Grocery: Coffee Beans|Olive Oil|Green Tea|Granola|Dark Chocolate|Hot Sauce
    organic|fair trade|gluten-free|single origin|small batch|sugar-free|family pack
    locally sourced
Pets: Dog Bed|Cat Tree|Leash|Chew Toy|Pet Fountain|Grooming Brush
    for large dogs|for cats|durable|washable|grain-free|orthopedic|for puppies|odour control
Office: Notebook|Desk Chair|Fountain Pen|Monitor Stand|Planner|Desk Organiser
    ergonomic|refillable|recycled paper|height-adjustable|dotted pages|cable management
    for students|premium finish
Automotive: Dash Cam|Car Vacuum|Tyre Inflator|Seat Cover|Phone Mount|Jump Starter
    12V|universal fit|portable|heavy-duty|night vision|easy install|weatherproof|compact
Music: Guitar Strings|Ukulele|Metronome|Microphone|Drum Pads|Vinyl Record
    for beginners|studio quality|acoustic|remastered|USB|hand-crafted|limited pressing|portable
Health: Vitamin D|Protein Powder|Thermometer|Massage Gun|First Aid Kit|Sleep Mask
    sugar-free|clinically tested|vegan|travel-ready|digital|drug-free|for recovery|rechargeable
"""


def _parse_category_specs(text: str) -> tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]:
    specs: list[tuple[str, tuple[str, ...], list[str]]] = []
    for line in text.strip("\n").splitlines():
        if line.startswith(" "):
            specs[-1][2].extend(line.strip().split("|"))
        else:
            name, nouns = line.split(": ")
            specs.append((name, tuple(nouns.split("|")), []))
    return tuple((name, nouns, tuple(tags)) for name, nouns, tags in specs)


_CATEGORIES = _parse_category_specs(_CATEGORY_SPECS)
# fmt: off
_ADJECTIVES = (
    "Compact", "Classic", "Essential", "Pro", "Ultra", "Everyday", "Premium", "Eco", "Smart",
    "Deluxe", "Lightweight", "Heritage", "Urban", "Modern", "Rugged", "Signature", "Nordic",
    "Studio", "Trail", "Vintage",
)
_BRAND_PREFIXES = ("North", "Blue", "Stone", "Silver", "Oak", "Red", "Iron", "Bright", "Wild",
                   "Sun")
_BRAND_SUFFIXES = ("wind", "peak", "field", "craft", "wave", "leaf", "forge", "line", "brook",
                   "works")
# fmt: on
_ROMAN = ("", " II", " III", " IV", " V", " VI", " VII", " VIII", " IX", " X")
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
GENDERS = ("female", "male", "other")
REGIONS = ("North", "South", "East", "West", "Central")
_AGE_PROBS = np.array([0.14, 0.26, 0.22, 0.17, 0.12, 0.09])
_GENDER_PROBS = np.array([0.49, 0.48, 0.03])
_REGION_PROBS = np.array([0.22, 0.24, 0.18, 0.2, 0.16])


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
        latent = _interpolate_knots(self.user_latent_by_day, users.ravel(), days.ravel())
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
        click, cart, purchase = _funnel_logits(self.config, affinity, self.item_log_price_ratio)
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


def _logit(probability: float) -> float:
    return math.log(probability / (1 - probability))


def _funnel_logits(
    config: ShopConfig, affinity: np.ndarray, log_price_ratio: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logits of P(click | view), P(cart | click), P(purchase | cart) for given affinities."""
    lift = config.funnel_affinity_slope * affinity
    click = _logit(config.click_rate) + lift
    cart = _logit(config.cart_rate) + lift
    purchase = _logit(config.purchase_rate) + lift - config.price_sensitivity * log_price_ratio
    return click, cart, purchase


def _gumbel_argmax(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``logits`` (Gumbel-max trick)."""
    return np.argmax(logits + rng.gumbel(size=logits.shape), axis=-1).astype(np.int64)


def _other_category(
    rng: np.random.Generator, category_idx: np.ndarray, n_categories: int
) -> np.ndarray:
    """A uniformly drawn category different from each entry of ``category_idx`` (when C > 1)."""
    excluded = np.arange(n_categories) == category_idx[:, None]  # (n, C)
    return _gumbel_argmax(rng, np.where(excluded & (n_categories > 1), -np.inf, 0.0))


def _numbered_names(base: list[str]) -> list[str]:
    """Make names unique by suffixing repeats with II, III, ... then numbers."""
    repeat = pd.Series(base).groupby(base).cumcount().to_numpy()
    return [
        name + (_ROMAN[r] if r < len(_ROMAN) else f" {r + 1}")
        for name, r in zip(base, repeat, strict=True)
    ]


@dataclass
class _Catalogue:
    items: pd.DataFrame
    category_names: tuple[str, ...]
    brand_names: tuple[str, ...]
    centroids: np.ndarray
    item_latent: np.ndarray
    popularity_bias: np.ndarray
    category_idx: np.ndarray
    brand_idx: np.ndarray
    log_price_ratio: np.ndarray


def _make_catalogue(config: ShopConfig, rng: np.random.Generator) -> _Catalogue:
    n_items, n_categories, n_brands, dim = (
        config.n_items,
        config.n_categories,
        config.n_brands,
        config.n_latent,
    )
    spec = [_CATEGORIES[c % len(_CATEGORIES)] for c in range(n_categories)]
    category_names = tuple(_numbered_names([name for name, _, _ in spec]))
    brand_pool = [p + s for p in _BRAND_PREFIXES for s in _BRAND_SUFFIXES]
    brand_order = rng.permutation(len(brand_pool))
    brand_names = tuple(
        _numbered_names([brand_pool[brand_order[b % len(brand_pool)]] for b in range(n_brands)])
    )

    centroid_scale = config.category_separation / math.sqrt(dim)  # centroid norm ~ separation
    centroids = rng.standard_normal((n_categories, dim)) * centroid_scale
    # Uneven category sizes, every category non-empty.
    shares = rng.dirichlet(np.full(n_categories, 4.0))
    category_idx = np.concatenate(
        [np.arange(n_categories), rng.choice(n_categories, size=n_items - n_categories, p=shares)]
    )[rng.permutation(n_items)].astype(np.int64)
    # Each brand has a home category; an item picks a brand mostly from its category's brands.
    brand_home = rng.integers(n_categories, size=n_brands)
    brand_logits = np.where(brand_home[None, :] == category_idx[:, None], 2.5, 0.0)  # (I, B)
    brand_idx = _gumbel_argmax(rng, brand_logits)
    brand_offset = rng.standard_normal((n_brands, dim)) * (config.brand_spread / math.sqrt(dim))
    item_latent = (
        centroids[category_idx]
        + brand_offset[brand_idx]
        + rng.standard_normal((n_items, dim)) * (config.item_noise / math.sqrt(dim))
    )
    brand_popularity = rng.standard_normal(n_brands)
    popularity = 0.6 * brand_popularity[brand_idx] + 0.8 * rng.standard_normal(n_items)
    popularity_bias = config.popularity_skew * (popularity - popularity.mean())

    low, high = np.log(config.price_range)
    span = high - low
    category_log_median = rng.uniform(low + 0.15 * span, high - 0.25 * span, size=n_categories)
    brand_premium = rng.normal(0.0, 0.25, size=n_brands)
    log_price = np.clip(
        category_log_median[category_idx]
        + brand_premium[brand_idx]
        + rng.normal(0.0, config.price_sigma, size=n_items),
        low,
        high,
    )
    price = np.clip(np.floor(np.exp(log_price)) + 0.99, *config.price_range).round(2)
    log_price_ratio = np.log(price) - category_log_median[category_idx]

    adjective_idx = rng.integers(len(_ADJECTIVES), size=n_items)
    noun_idx = rng.integers(6, size=n_items)
    n_tags = rng.integers(2, 5, size=n_items)  # 2..4
    tag_order = np.argsort(rng.random((n_items, 8)), axis=1)  # (I, 8) random permutation per item
    template = rng.integers(2, size=n_items)
    titles, descriptions, tags = [], [], []
    for i in range(n_items):  # string assembly for the catalogue only, not a hot path
        _, nouns, vocab = spec[category_idx[i]]
        brand, adjective, noun = (
            brand_names[brand_idx[i]],
            _ADJECTIVES[adjective_idx[i]],
            nouns[noun_idx[i]],
        )
        item_tags = [vocab[t] for t in tag_order[i, : n_tags[i]]]
        titles.append(f"{brand} {adjective} {noun}")
        listed = ", ".join(item_tags[:-1]) + f" and {item_tags[-1]}"
        if template[i] == 0:
            article = "An" if adjective[0] in "AEIOU" else "A"
            descriptions.append(
                f"{article} {adjective.lower()} {noun.lower()} from {brand}: {listed}."
            )
        else:
            descriptions.append(f"{brand}'s {adjective.lower()} {noun.lower()}, {listed}.")
        tags.append(item_tags)

    items = pd.DataFrame(
        {
            "item_id": np.arange(n_items, dtype=np.int64),
            "title": _numbered_names(titles),
            "description": descriptions,
            "category": pd.Categorical.from_codes(
                category_idx, categories=pd.Index(category_names)
            ),
            "brand": pd.Categorical.from_codes(brand_idx, categories=pd.Index(brand_names)),
            "tags": tags,
            "price": price,
        }
    )
    return _Catalogue(
        items,
        category_names,
        brand_names,
        centroids,
        item_latent,
        popularity_bias,
        category_idx,
        brand_idx,
        log_price_ratio,
    )


@dataclass
class _Users:
    users: pd.DataFrame
    activity: np.ndarray
    latent_by_day: np.ndarray
    category_idx: np.ndarray
    switch_day: np.ndarray
    switch_category_idx: np.ndarray


def _make_users(config: ShopConfig, centroids: np.ndarray, rng: np.random.Generator) -> _Users:
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
    first = _gumbel_argmax(rng, category_logits)
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
    return _Users(
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


def _make_events(
    config: ShopConfig, catalogue: _Catalogue, users: _Users, rng: np.random.Generator
) -> tuple[pd.DataFrame, np.ndarray]:
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
    session_latent = _interpolate_knots(users.latent_by_day, session_user, session_day)  # (S, D)

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

    click, cart, purchase = _funnel_logits(
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


def _interpolate_knots(
    latent_by_day: np.ndarray, user_idx: np.ndarray, day: np.ndarray
) -> np.ndarray:
    """Interpolate daily latent knots ``(U, T, D)`` at per-row ``day`` floats: ``(n, D)``.

    >>> knots = np.array([[[0.0], [2.0], [4.0]]])  # one user, 3 knots, D = 1
    >>> _interpolate_knots(knots, np.array([0, 0]), np.array([0.5, 1.25])).ravel().tolist()
    [1.0, 2.5]
    """
    n_knots = latent_by_day.shape[1]
    day = np.clip(np.asarray(day, dtype=np.float64), 0, n_knots - 1)
    knot = np.minimum(np.floor(day).astype(np.int64), n_knots - 2)
    frac = (day - knot)[:, None]
    before = latent_by_day[user_idx, knot]
    return before + frac * (latent_by_day[user_idx, knot + 1] - before)


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
    catalogue = _make_catalogue(config, catalogue_rng)
    users = _make_users(config, catalogue.centroids, users_rng)
    interactions, event_session = _make_events(config, catalogue, users, events_rng)
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
