"""The recommender behind the HTTP routes, as a plain class testable without HTTP.

A recommendation request runs **recall → rank → filter**:

1. read the user's latest events from the store (so an event stored a second ago counts);
2. recall: the active model's query vector (iALS folds the live history in) searched in the
   item ANN index, with seen items and the category filter applied inside the search; models
   without vectors (EASE, ItemKNN, popularity) score the catalogue from the live history;
3. rank: models with a richer scorer than their retrieval half (NeuMF) re-score candidates;
   a run with a rank stage (``recforge rank-stage``) recalls ``rank_candidates`` items and
   orders them with its ranker (DIN, DCN, ...) over the live history (``source: ranked``);
4. fill: items newer than the model take up to ``fresh_slots`` places when their content is
   close to what the user touched;
5. cold start, when the model cannot place the user: trending items blended with content
   similarity to whatever the user touched.

Every answer names the model and run that produced it, and the strategy used.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recforge.core.errors import UnknownIdError
from recforge.features.events import SECONDS_PER_DAY, EventTypes, time_decay
from recforge.features.profiles import ProfileConfig, item_profile, user_profile
from recforge.models.two_stage import RankStage
from recforge.serving.content import ContentIndex
from recforge.serving.index import VectorIndex
from recforge.serving.registry import ModelBundle, ModelRegistry
from recforge.serving.settings import ServingSettings
from recforge.serving.store import EventStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class History:
    """A user's latest events, oldest first, as plain arrays (the hot path avoids pandas)."""

    item_ids: list[str]
    events: np.ndarray  # (H,) object, event types
    values: np.ndarray  # (H,) float64
    timestamps: np.ndarray  # (H,) float64, epoch seconds

    @classmethod
    def of(cls, rows: list[tuple[Any, ...]]) -> History:
        """From :meth:`EventStore.recent_events` rows (event_id, user_id, item_id, event,
        value, timestamp)."""
        return cls(
            item_ids=[str(row[2]) for row in rows],
            events=np.array([row[3] for row in rows], dtype=object),
            values=np.array([row[4] for row in rows], dtype=np.float64),
            timestamps=np.array([row[5] for row in rows], dtype=np.float64),
        )

    def __len__(self) -> int:
        return len(self.item_ids)


@dataclass(frozen=True)
class _FreshItems:
    """Items the active model has never seen, with a small content index of their own."""

    key: tuple[str, float, int]
    item_ids: list[str]
    index: VectorIndex | None


@dataclass
class _Trending:
    scores: pd.Series  # item_id -> score in [0, 1], best first
    computed_at: float


def _raw_ids(ids: list[str], vocabulary: np.ndarray) -> list[Any]:
    """Store ids (strings) as the raw ids a model was trained on: integers when its
    vocabulary holds integers (the synthetic shop), else the strings.

    >>> _raw_ids(["7", "x"], np.array([3, 7])), _raw_ids(["7"], np.array(["7"]))
    ([7, 'x'], ['7'])
    """
    if vocabulary.dtype.kind not in "iu":
        return list(ids)
    return [int(i) if i.lstrip("-").isdigit() else i for i in ids]


def _user_attributes(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """A store user record as the flat attributes a rank stage reads (``age_band``,
    ``gender``, ``region`` and every key of ``attributes``); None without a record.

    >>> _user_attributes({"user_id": "u", "gender": "f", "attributes": {"tier": 2},
    ...                   "created_at": 1.0, "updated_at": 1.0})
    {'gender': 'f', 'tier': 2}
    """
    if record is None:
        return None
    flat = {
        key: value
        for key, value in record.items()
        if key not in ("user_id", "attributes", "created_at", "updated_at")
    }
    flat.update(record.get("attributes") or {})
    return flat


def _latest_unique(items: np.ndarray) -> np.ndarray:
    """Each item once, at the position of its last occurrence, order kept.

    >>> _latest_unique(np.array([3, 1, 3, 2])).tolist()
    [1, 3, 2]
    """
    backwards = items[::-1]
    _, first = np.unique(backwards, return_index=True)
    return backwards[np.sort(first)][::-1]


class RecommendationService:
    """Recommendations, similar items and profiles from a store and a models folder."""

    def __init__(
        self,
        store: EventStore,
        settings: ServingSettings,
        registry: ModelRegistry | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.registry = registry
        self.event_types = EventTypes.from_config(settings.event_weights)
        self.profile_config = ProfileConfig(
            half_life_days=settings.profile_half_life_days, event_types=self.event_types
        )
        self.content = ContentIndex(
            dim=settings.content_dim,
            encoder=settings.content_encoder,
            exact_limit=settings.exact_limit,
        )
        self._trending: _Trending | None = None
        self._fresh: _FreshItems | None = None
        self._categories: tuple[tuple[str, float, int], dict[str, np.ndarray]] | None = None
        self._catalogue_checked = time.monotonic()
        self._catalogue_lock = threading.Lock()
        self._trending_lock = threading.Lock()

    # ------------------------------------------------------------------ set-up
    def start(self) -> None:
        """Build the content index from the store and load the active model."""
        self.content.fit(self.store.items_frame())
        if self.registry is not None:
            self.registry.current()

    def bundle(self) -> ModelBundle | None:
        return None if self.registry is None else self.registry.current()

    def items_changed(self, item_ids: list[str]) -> None:
        """Called after an item upsert: new metadata is searchable at once."""
        if len(self.content) == 0:
            self.content.fit(self.store.items_frame())
        else:
            self.content.upsert(self.store.items_frame(item_ids))

    def _follow_catalogue(self) -> None:
        """Pick up items that other server processes added or changed (every
        ``catalogue_refresh_seconds``, in the background)."""
        now = time.monotonic()
        if now - self._catalogue_checked < self.settings.catalogue_refresh_seconds:
            return
        if not self._catalogue_lock.acquire(blocking=False):
            return
        self._catalogue_checked = now
        threading.Thread(target=self._refresh_catalogue, daemon=True).start()

    def _refresh_catalogue(self) -> None:
        try:
            changed = self.store.items_updated_since(self.content.updated_until)
            if len(changed):
                if len(self.content) == 0:
                    self.content.fit(self.store.items_frame())
                else:
                    self.content.upsert(changed)
        except Exception:  # the next request retries; serving goes on with what it has
            logger.exception("catalogue refresh failed")
        finally:
            self._catalogue_lock.release()

    # ------------------------------------------------------------------ recommend
    def recommend(
        self,
        user_id: str,
        *,
        k: int = 10,
        exclude_seen: bool = True,
        category: str | None = None,
    ) -> dict[str, Any]:
        """Top-``k`` items for ``user_id`` with scores and provenance.

        Raises:
            UnknownIdError: neither the model, the events nor the users table know the user.
        """
        self._follow_catalogue()
        bundle = self.bundle()
        history = History.of(self.store.recent_events(user_id, limit=self.settings.history_limit))
        known_to_model = bundle is not None and user_id in bundle.user_lookup
        if not len(history) and not known_to_model and self.store.get_user(user_id) is None:
            raise UnknownIdError("user", user_id, "see /v1/trending for anonymous visitors")
        touched = history.item_ids
        seen_ids = set(touched) if exclude_seen else set()
        result = None
        if bundle is not None:
            result = self._from_model(bundle, user_id, history, k, exclude_seen, category)
        strategy = "cold_start" if result is None else "model"
        if result is None:
            result = self._cold_start(history, k, seen_ids, category)
        elif self.settings.fresh_slots and bundle is not None:
            result = self._with_fresh_items(result, bundle, history, k, seen_ids, category)
        self._attach_titles(result)
        return {
            "user_id": user_id,
            "strategy": strategy,
            "model": self.describe(bundle),
            "items": result,
        }

    def _from_model(
        self,
        bundle: ModelBundle,
        user_id: str,
        live: History,
        k: int,
        exclude_seen: bool,
        category: str | None,
    ) -> list[dict[str, Any]] | None:
        """The model's list, or None when it cannot place the user (then: cold start).

        With a rank stage (and ``rank_candidates > 0``) the model recalls
        ``max(rank_candidates, k)`` candidates and the ranker orders them; a ranker that
        fails is logged and the recall order answers."""
        online = bundle.online
        user_idx = bundle.user_lookup.get(user_id)
        history = np.array(
            [bundle.item_lookup[i] for i in live.item_ids if i in bundle.item_lookup], np.int64
        )
        if user_idx is not None and online.uses_history:
            # training items first, then the live events: a model that reads order
            # (Item2Vec's recent items) sees the latest last
            history = _latest_unique(np.concatenate([bundle.seen_rows(user_idx), history]))
        exclude = np.union1d(history, bundle.seen_rows(user_idx)) if exclude_seen else None
        allowed = None if category is None else self._category_rows(bundle, category)
        stage = bundle.rank_stage if self.settings.rank_candidates else None
        n_recall = k if stage is None else max(self.settings.rank_candidates, k)
        recalled = self._recall(bundle, user_idx, history, n_recall, exclude, allowed)
        if recalled is None:
            return None
        rows, scores = recalled
        if stage is not None and len(rows):
            logits = self._rank(bundle, stage, user_id, live, rows)
            if logits is not None:
                order = np.argsort(-logits, kind="stable")[:k]
                return self._items(bundle, rows[order], logits[order], "ranked")
        return self._items(bundle, rows[:k], scores[:k], "model")

    @staticmethod
    def _recall(
        bundle: ModelBundle,
        user_idx: int | None,
        history: np.ndarray,
        n: int,
        exclude: np.ndarray | None,
        allowed: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The model's best ``n`` rows (not excluded, among ``allowed``) with their scores,
        best first; None when the model cannot place the user."""
        online = bundle.online
        query = online.query(user_idx, history)
        if query is not None and bundle.item_index is not None:
            fetch = max(5 * n, 50) if online.reranks else n
            rows, scores = bundle.item_index.search(query, fetch, exclude=exclude, allowed=allowed)
            exact = online.rerank(user_idx, rows)
            if exact is not None:
                order = np.argsort(-exact, kind="stable")[:n]
                rows, scores = rows[order], exact[order]
            return rows[:n], scores[:n]
        full = online.scores(user_idx, history)
        if full is None:
            return None
        full = full.astype(np.float32, copy=True)
        if exclude is not None and len(exclude):
            full[exclude] = -np.inf
        if allowed is not None:
            keep = np.full(len(full), -np.inf, np.float32)
            keep[allowed] = full[allowed]
            full = keep
        top = np.argsort(-full, kind="stable")[:n]
        top = top[np.isfinite(full[top])]
        return top, full[top]

    def _rank(
        self,
        bundle: ModelBundle,
        stage: RankStage,
        user_id: str,
        live: History,
        rows: np.ndarray,
    ) -> np.ndarray | None:
        """The rank stage's logits of the recalled model ``rows``: the user's live history
        as its training histories were built (the events it counted as behaviours, each
        item once at its first touch, oldest first) and the user's attributes from the
        store. None (logged) when the ranker fails: the caller answers in recall order."""
        try:
            kept = bundle.rank_behaviours.keep(live.events, live.values)
            recent = [item for item, keep in zip(live.item_ids, kept, strict=True) if keep]
            user_vocab = bundle.artifact.user_vocab.ids_
            item_vocab = bundle.artifact.item_vocab.ids_
            attributes = None
            if any(where == "user" for where in stage.pipeline.sources_.values()):
                attributes = _user_attributes(self.store.get_user(user_id))
            return stage.score_request(
                _raw_ids([user_id], user_vocab)[0],
                item_vocab[rows].tolist(),
                _raw_ids(list(dict.fromkeys(recent)), item_vocab),
                user=attributes,
                timestamp=time.time(),
            )
        except Exception:  # a broken ranker must not take recommendations down
            logger.exception(
                "rank stage %s of run %s failed for user %s; answering in recall order",
                stage.name,
                bundle.run,
                user_id,
            )
            return None

    def describe(self, bundle: ModelBundle | None) -> dict[str, Any] | None:
        """``bundle.describe()``, with no ranker when ``rank_candidates`` turns it off."""
        if bundle is None:
            return None
        description = bundle.describe()
        if not self.settings.rank_candidates:
            description["ranker"] = None
        return description

    @staticmethod
    def _items(
        bundle: ModelBundle, rows: np.ndarray, scores: np.ndarray, source: str
    ) -> list[dict[str, Any]]:
        return [
            {
                "item_id": bundle.item_ids[int(row)],
                "score": round(float(score), 6),
                "source": source,
            }
            for row, score in zip(rows, scores, strict=True)
        ]

    def _profile_vector(self, history: History) -> np.ndarray | None:
        """Content profile: the touched items' content vectors weighted by event weight
        times time decay."""
        if not len(history):
            return None
        weights = self.event_types.weights_of(history.events, history.values)
        weights = weights * time_decay(
            history.timestamps,
            now=time.time(),
            half_life_days=self.profile_config.half_life_days,
        )
        return self.content.profile_vector(history.item_ids, weights)

    def _with_fresh_items(
        self,
        result: list[dict[str, Any]],
        bundle: ModelBundle,
        history: History,
        k: int,
        seen: set[str],
        category: str | None,
    ) -> list[dict[str, Any]]:
        """Give up to ``fresh_slots`` places to items the model has never seen."""
        fresh = self._fresh_items(bundle)
        if fresh.index is None or not len(history):
            return result
        profile = self._profile_vector(history)
        if profile is None:
            return result
        slots = self.settings.fresh_slots
        # over-fetch: seen items and other categories are dropped after the search
        fetch = slots + len(seen) + (50 if category is not None else 0)
        rows, scores = fresh.index.search(profile, fetch)
        picks: list[dict[str, Any]] = []
        for row, score in zip(rows, scores, strict=True):
            item_id = fresh.item_ids[int(row)]
            if score < self.settings.fresh_min_similarity or len(picks) == slots:
                break
            if item_id in seen or (
                category is not None and not self.content.in_category(item_id, category)
            ):
                continue
            picks.append({"item_id": item_id, "score": round(float(score), 6), "source": "content"})
        if not picks:
            return result
        return (result[: k - len(picks)] + picks)[:k]

    def _category_rows(self, bundle: ModelBundle, category: str) -> np.ndarray:
        """The model rows of a category's items (cached until the model or the catalogue
        changes: a filtered request should not walk the category every time)."""
        key = (bundle.run, bundle.loaded_at, self.content.version)
        if self._categories is None or self._categories[0] != key:
            self._categories = (key, {})
        rows = self._categories[1].get(category)
        if rows is None:
            lookup = bundle.item_lookup
            items = self.content.category_items(category)
            rows = np.array([lookup[i] for i in items if i in lookup], np.int64)
            self._categories[1][category] = rows
        return rows

    def _fresh_items(self, bundle: ModelBundle) -> _FreshItems:
        """Items in the content index that ``bundle``'s model has never seen, indexed by
        content (rebuilt when the model or the catalogue changes)."""
        key = (bundle.run, bundle.loaded_at, self.content.version)
        cached = self._fresh
        if cached is None or cached.key != key:
            rows = [
                row
                for row, item_id in enumerate(self.content.item_ids)
                if item_id not in bundle.item_lookup
            ]
            index = VectorIndex(self.content.vectors[rows]) if rows else None
            cached = _FreshItems(key, [self.content.item_ids[row] for row in rows], index)
            self._fresh = cached
        return cached

    def trending(self) -> pd.Series:
        """Weighted event counts of the last ``trending_days``, scaled to [0, 1], best first.

        Computed once, then refreshed in the background when older than
        ``trending_ttl_seconds`` (requests meanwhile get the previous list), so the
        aggregation never sits in a request's latency after the first."""
        cached = self._trending
        if cached is None:
            with self._trending_lock:
                if self._trending is None:
                    self._refresh_trending()
            assert self._trending is not None
            return self._trending.scores
        stale = time.time() - cached.computed_at >= self.settings.trending_ttl_seconds
        if stale and self._trending_lock.acquire(blocking=False):
            threading.Thread(target=self._refresh_in_background, daemon=True).start()
        return cached.scores

    def _refresh_in_background(self) -> None:
        try:
            self._refresh_trending()
        except Exception:  # a failed refresh keeps the old list; the next request retries
            logger.exception("trending refresh failed")
        finally:
            self._trending_lock.release()

    def _refresh_trending(self) -> None:
        now = time.time()
        counts = self.store.item_counts(since=now - self.settings.trending_days * SECONDS_PER_DAY)
        if len(counts):
            weights = self.event_types.weights_of(counts["event"].to_numpy(), np.ones(len(counts)))
            scores = (
                counts.assign(score=counts["count"].to_numpy(np.float64) * weights)
                .groupby("item_id")["score"]
                .sum()
                .sort_values(ascending=False, kind="stable")
            )
            scores = scores / float(scores.iloc[0])
        else:
            scores = pd.Series(dtype=np.float64)
        scores.index = scores.index.astype(str)
        self._trending = _Trending(scores, now)

    def _cold_start(
        self, history: History, k: int, seen: set[str], category: str | None
    ) -> list[dict[str, Any]]:
        """Trending blended with content similarity to the touched items."""
        trending = self.trending()
        pool = 20 * k
        if category is not None:
            in_category = set(self.content.category_items(category))
            trending = trending[trending.index.isin(in_category)]
        candidates = {
            str(i): float(s) for i, s in trending.head(pool + len(seen)).items() if i not in seen
        }
        similarity: dict[str, float] = {}
        weight = self.settings.content_weight if len(history) else 0.0
        profile = self._profile_vector(history) if weight > 0 else None
        if profile is not None:
            similarity = dict(self.content.search(profile, pool, exclude=seen, category=category))
            for item_id in similarity:
                candidates.setdefault(item_id, float(trending.get(item_id, default=0.0)))
        else:
            weight = 0.0
        blended = [
            (item_id, (1 - weight) * popularity + weight * similarity.get(item_id, 0.0))
            for item_id, popularity in candidates.items()
        ]
        blended.sort(key=lambda pair: -pair[1])
        source = "trending+content" if weight > 0 else "trending"
        return [
            {"item_id": item_id, "score": round(score, 6), "source": source}
            for item_id, score in blended[:k]
        ]

    def _attach_titles(self, items: list[dict[str, Any]]) -> None:
        for entry in items:
            entry["title"] = self.content.titles.get(entry["item_id"])

    # ------------------------------------------------------------------ similar
    def similar(self, item_id: str, *, k: int = 10) -> dict[str, Any]:
        """Items like ``item_id``: the model's item space where it knows the item, else the
        content vectors."""
        bundle = self.bundle()
        row = None if bundle is None else bundle.item_lookup.get(item_id)
        items: list[dict[str, Any]] | None = None
        if bundle is not None and row is not None:
            online = bundle.online
            if bundle.similar_index is not None and online.similarity_vectors is not None:
                rows, scores = bundle.similar_index.search(
                    online.similarity_vectors[row], k, exclude=[row]
                )
                items = self._items(bundle, rows, scores, "model")
            elif (scores_all := online.similar_scores(row)) is not None:
                scores_all[row] = -np.inf
                top = np.argsort(-scores_all, kind="stable")[:k]
                items = self._items(bundle, top, scores_all[top], "model")
        if items is None:
            vector = self.content.vector(item_id)
            if vector is None:
                if self.store.get_item(item_id) is None and not self.store.item_event_counts(
                    item_id
                ):
                    raise UnknownIdError("item", item_id)
                items = []
            else:
                found = self.content.search(vector, k, exclude=[item_id])
                items = [
                    {"item_id": i, "score": round(s, 6), "source": "content"} for i, s in found
                ]
        self._attach_titles(items)
        return {
            "item_id": item_id,
            "model": self.describe(bundle),
            "items": items,
        }

    # ------------------------------------------------------------------ profiles
    def user_profile(self, user_id: str) -> dict[str, Any]:
        user = self.store.get_user(user_id)
        events = self.store.user_events(user_id, limit=self.settings.history_limit)
        if user is None and not len(events):
            raise UnknownIdError("user", user_id)
        items = self.store.items_frame(sorted(set(events["item_id"].astype(str))))
        demographics = {}
        if user is not None:
            demographics = {
                key: user.get(key)
                for key in ("age_band", "gender", "region")
                if user.get(key) is not None
            }
            demographics.update(user.get("attributes") or {})
        profile = user_profile(
            user_id, events, items, demographics, now=time.time(), config=self.profile_config
        )
        return profile.to_dict()

    def item_profile(self, item_id: str) -> dict[str, Any]:
        item = self.store.get_item(item_id)
        counts = self.store.item_event_counts(item_id)
        if item is None and not counts:
            raise UnknownIdError("item", item_id)
        profile = item_profile(item_id, item, counts)
        return profile.to_dict()


__all__ = ["RecommendationService"]
