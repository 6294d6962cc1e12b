"""Server settings, validated once: code defaults < TOML file < environment (API keys).

API keys come from the environment so they never sit in a config file or a shell history:
``RECFORGE_READ_KEYS``, ``RECFORGE_WRITE_KEYS`` and ``RECFORGE_ADMIN_KEYS`` (comma
separated). A write key also reads and an admin key does everything. With no key set at all
the server runs open and says so in its log; that is for a laptop demo, not for production.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from recforge.core.config import from_dict, load_toml
from recforge.core.errors import ConfigError
from recforge.representation.text import ENCODERS


@dataclass(frozen=True)
class ServingSettings:
    """Args:
    db: SQLAlchemy URL or SQLite file path of the event store.
    models_dir: folder of run directories with the ``active.json`` pointer (None: no model,
        cold-start answers only).
    read_keys, write_keys, admin_keys: accepted API keys per scope.
    max_batch: most events in one ``POST /v1/events``.
    max_body_bytes: largest request body accepted.
    event_weights: custom event types and their weights, added to the built-in ones.
    history_limit: latest events read per user for recommendations and profiles.
    trending_days: window of the trending list used for cold start.
    trending_ttl_seconds: how long a computed trending list is reused.
    content_weight: share of content similarity in the cold-start blend (rest: trending).
    fresh_slots: at most this many slots of a list go to items newer than the model,
        chosen by content similarity to what the user touched.
    fresh_min_similarity: content similarity a new item needs to take a slot.
    profile_half_life_days: time decay of profile interests.
    reload_check_seconds: how often the models folder pointer is checked.
    catalogue_refresh_seconds: how often items changed by other processes are picked up.
    exact_limit: catalogue size up to which ANN search is exact.
    content_dim: size of the content vectors of the encoders that learn one (tfidf, doc2vec).
    content_encoder: item text encoder of the content index: ``"tfidf"`` (TF-IDF + SVD,
        fast), ``"doc2vec"`` or ``"minilm"`` (pretrained, needs ``recforge[text]``).
    rank_candidates: candidates recalled for the rank stage of a run that has one (at
        least ``k``); 0 turns the ranker off (the recall order is the answer).
    """

    db: str = "sqlite:///recforge.db"
    models_dir: str | None = None
    read_keys: tuple[str, ...] = ()
    write_keys: tuple[str, ...] = ()
    admin_keys: tuple[str, ...] = ()
    max_batch: int = 10_000
    max_body_bytes: int = 8 * 1024 * 1024
    event_weights: dict[str, float] = field(default_factory=dict)
    history_limit: int = 500
    trending_days: float = 7.0
    trending_ttl_seconds: float = 30.0
    content_weight: float = 0.5
    fresh_slots: int = 2
    fresh_min_similarity: float = 0.2
    profile_half_life_days: float = 14.0
    reload_check_seconds: float = 1.0
    catalogue_refresh_seconds: float = 5.0
    exact_limit: int = 1_000_000
    content_dim: int = 64
    content_encoder: str = "tfidf"
    rank_candidates: int = 100

    def __post_init__(self) -> None:
        for name in ("max_batch", "max_body_bytes", "history_limit", "content_dim"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.content_weight <= 1.0:
            raise ConfigError("content_weight", f"must be in [0, 1], got {self.content_weight}")
        for name in ("fresh_slots", "rank_candidates"):
            if getattr(self, name) < 0:
                raise ConfigError(name, f"must be >= 0, got {getattr(self, name)}")
        if self.content_encoder not in ENCODERS:
            known = ", ".join(ENCODERS)
            raise ConfigError(
                "content_encoder", f"unknown {self.content_encoder!r} (known: {known})"
            )

    @property
    def auth_enabled(self) -> bool:
        return bool(self.read_keys or self.write_keys or self.admin_keys)

    def scopes_of(self, key: str) -> set[str]:
        """The scopes an API key grants: admin > write > read (constant-time comparisons,
        so response timing does not leak how much of a key matched)."""

        def known(keys: tuple[str, ...]) -> bool:
            return any(hmac.compare_digest(key.encode(), k.encode()) for k in keys)

        if known(self.admin_keys):
            return {"read", "write", "admin"}
        if known(self.write_keys):
            return {"read", "write"}
        if known(self.read_keys):
            return {"read"}
        return set()

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        *,
        env: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> ServingSettings:
        """Defaults, then the TOML file at ``path``, then keys from ``env`` (default
        ``os.environ``), then ``overrides`` that are not None (command-line flags)."""
        data: dict[str, Any] = load_toml(path) if path is not None else {}
        settings = from_dict(cls, data, source=path)
        environment: Mapping[str, str] = os.environ if env is None else env
        changes: dict[str, Any] = {}
        for scope in ("read", "write", "admin"):
            value = environment.get(f"RECFORGE_{scope.upper()}_KEYS", "")
            if value.strip():
                changes[f"{scope}_keys"] = tuple(k.strip() for k in value.split(",") if k.strip())
        changes.update({name: value for name, value in overrides.items() if value is not None})
        return replace(settings, **changes)


__all__ = ["ServingSettings"]
