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

from recforge.data.synthetic.behaviour import AGE_BANDS, GENDERS, REGIONS
from recforge.data.synthetic.config import (
    EVENT_NAMES,
    SECONDS_PER_DAY,
    START_TIMESTAMP,
    ShopConfig,
)
from recforge.data.synthetic.shop import Shop, generate_shop

__all__ = [
    "AGE_BANDS",
    "EVENT_NAMES",
    "GENDERS",
    "REGIONS",
    "SECONDS_PER_DAY",
    "START_TIMESTAMP",
    "Shop",
    "ShopConfig",
    "generate_shop",
]
