"""The synthetic shop's catalogue: categories, brands and items with text, price and latents.

Dimension letters: I items, C categories, D latent dimension.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recforge.data.synthetic.config import ShopConfig

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


def gumbel_argmax(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``logits`` (Gumbel-max trick)."""
    return np.argmax(logits + rng.gumbel(size=logits.shape), axis=-1).astype(np.int64)


def _numbered_names(base: list[str]) -> list[str]:
    """Make names unique by suffixing repeats with II, III, ... then numbers."""
    repeat = pd.Series(base).groupby(base).cumcount().to_numpy()
    return [
        name + (_ROMAN[r] if r < len(_ROMAN) else f" {r + 1}")
        for name, r in zip(base, repeat, strict=True)
    ]


@dataclass
class Catalogue:
    """The generated catalogue: the items table plus the latent ground truth behind it."""

    items: pd.DataFrame
    category_names: tuple[str, ...]
    brand_names: tuple[str, ...]
    centroids: np.ndarray
    item_latent: np.ndarray
    popularity_bias: np.ndarray
    category_idx: np.ndarray
    brand_idx: np.ndarray
    log_price_ratio: np.ndarray


def make_catalogue(config: ShopConfig, rng: np.random.Generator) -> Catalogue:
    """Draw categories, brands and items (step 1 of the generative story)."""
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
    brand_idx = gumbel_argmax(rng, brand_logits)
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
    return Catalogue(
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
