"""Request and response bodies of the HTTP API (pydantic at the edge).

Ids arrive as strings or integers and are stored as strings. Timestamps are epoch seconds
or ISO-8601 strings; a missing timestamp means "now".
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

MAX_ID_LENGTH = 128
MAX_CONTEXT_BYTES = 4096
#: a timestamp more than this far in the future is refused (clock skew allowance)
FUTURE_TOLERANCE_SECONDS = 86_400.0


def _check_id(value: Any, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{field} must be a string or an integer")
    text = str(value)
    if not text or len(text) > MAX_ID_LENGTH:
        raise ValueError(f"{field} must have 1 to {MAX_ID_LENGTH} characters")
    if any(ord(ch) < 32 for ch in text):
        raise ValueError(f"{field} must not contain control characters")
    return text


def _optional_id(value: Any, info: ValidationInfo) -> str | None:
    """An id field that may be absent (the id then comes from the URL path)."""
    return None if value is None else _check_id(value, str(info.field_name))


Id = Annotated[str | int, Field(description="string or integer id, 1-128 characters")]


class EventIn(BaseModel):
    """One behaviour event."""

    model_config = ConfigDict(extra="forbid")

    event_id: Id | None = Field(
        default=None, description="client id; a retried event with the same id is stored once"
    )
    user_id: Id
    item_id: Id
    event: str = Field(description="view, click, cart, purchase, rating or a configured type")
    value: float = Field(default=1.0, description="rating value or event strength")
    timestamp: float | str | None = Field(
        default=None, description="epoch seconds or ISO-8601; default: now"
    )
    context: dict[str, Any] | None = None

    @field_validator("event_id", "user_id", "item_id", mode="before")
    @classmethod
    def _ids(cls, value: Any, info: Any) -> str | None:
        if value is None and info.field_name == "event_id":
            return None
        return _check_id(value, info.field_name)

    @field_validator("context")
    @classmethod
    def _context(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        try:
            text = json.dumps(value, allow_nan=False)
        except ValueError as error:
            raise ValueError("context must not hold NaN or Infinity") from error
        if len(text) > MAX_CONTEXT_BYTES:
            raise ValueError(f"context is over {MAX_CONTEXT_BYTES} bytes as JSON")
        return value

    @field_validator("value", "timestamp", mode="before")
    @classmethod
    def _not_boolean(cls, value: Any, info: Any) -> Any:
        if isinstance(value, bool):  # JSON true/false would pass as 1.0/0.0
            raise ValueError(f"{info.field_name} must be a number, not a boolean")
        return value

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("value must be a finite number")
        return value

    def epoch_seconds(self, now: float) -> float:
        """The timestamp as epoch seconds (``now`` when absent)."""
        if self.timestamp is None:
            return now
        if isinstance(self.timestamp, str):
            try:
                parsed = datetime.fromisoformat(self.timestamp.replace("Z", "+00:00"))
            except ValueError as error:
                raise ValueError("timestamp must be epoch seconds or ISO-8601") from error
            if parsed.tzinfo is None:
                raise ValueError("an ISO-8601 timestamp needs a time zone (e.g. Z)")
            seconds = parsed.timestamp()
        else:
            seconds = float(self.timestamp)
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("timestamp must be a finite, non-negative epoch time")
        if seconds > now + FUTURE_TOLERANCE_SECONDS:
            raise ValueError("timestamp is more than a day in the future")
        return seconds


class RowError(BaseModel):
    index: int
    field: str
    message: str


class IngestResponse(BaseModel):
    received: int
    stored: int
    duplicates: int
    rejected: int
    errors: list[RowError]


class ItemIn(BaseModel):
    """Item metadata; upserting replaces the given fields."""

    model_config = ConfigDict(extra="forbid")

    item_id: Id | None = None
    title: str | None = Field(default=None, max_length=1000)
    description: str | None = Field(default=None, max_length=20_000)
    categories: list[str] = Field(default_factory=list, max_length=100)
    tags: list[str] = Field(default_factory=list, max_length=200)
    attributes: dict[str, Any] = Field(default_factory=dict)

    _id = field_validator("item_id", mode="before")(_optional_id)


class UserIn(BaseModel):
    """User attributes; upserting replaces the given fields."""

    model_config = ConfigDict(extra="forbid")

    user_id: Id | None = None
    age_band: str | None = Field(default=None, max_length=64)
    gender: str | None = Field(default=None, max_length=64)
    region: str | None = Field(default=None, max_length=128)
    attributes: dict[str, Any] = Field(default_factory=dict)

    _id = field_validator("user_id", mode="before")(_optional_id)


class UpsertResponse(BaseModel):
    upserted: int


class ModelInfo(BaseModel):
    name: str
    run: str
    loaded_at: str
    n_items: int
    n_users: int
    ranker: str | None = Field(
        default=None, description="the rank stage ordering the recalled items (None: none)"
    )


class RecommendedItem(BaseModel):
    item_id: str
    score: float
    source: str = Field(description="model, ranked, content, trending or trending+content")
    title: str | None = None


class RecommendationResponse(BaseModel):
    user_id: str
    strategy: str = Field(description="model or cold_start")
    model: ModelInfo | None
    items: list[RecommendedItem]


class SimilarResponse(BaseModel):
    item_id: str
    model: ModelInfo | None
    items: list[RecommendedItem]


class TrendingResponse(BaseModel):
    items: list[RecommendedItem]


class ErrorResponse(BaseModel):
    detail: str


__all__ = [
    "EventIn",
    "IngestResponse",
    "ItemIn",
    "RecommendationResponse",
    "RowError",
    "SimilarResponse",
    "UpsertResponse",
    "UserIn",
]
