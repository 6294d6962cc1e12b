"""The FastAPI application: thin routes over :class:`RecommendationService` and the store.

``create_app(settings)`` builds it; the store, the content index and the active model load in
``lifespan``. Routes only translate between HTTP and the service.

Scopes: ``read`` (recommendations, profiles, similar items, dashboard), ``write`` (events,
item and user upserts), ``admin`` (model activation and rollback). Keys go in the
``X-API-Key`` header (or ``Authorization: Bearer KEY``); a missing key is 401, a key without
the scope 403.
"""

from __future__ import annotations

import gc
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

from fastapi import Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ValidationError
from starlette.convertors import StringConvertor, register_url_convertor

from recforge.core.errors import RecforgeError, UnknownIdError
from recforge.serving.metrics import Metrics
from recforge.serving.middleware import BodySizeLimit, Observe
from recforge.serving.registry import ModelRegistry
from recforge.serving.schemas import (
    ErrorResponse,
    EventIn,
    IngestResponse,
    ItemIn,
    RecommendationResponse,
    RowError,
    SimilarResponse,
    TrendingResponse,
    UpsertResponse,
    UserIn,
)
from recforge.serving.service import RecommendationService
from recforge.serving.settings import ServingSettings
from recforge.serving.store import EventRecord, EventStore

logger = logging.getLogger(__name__)

Model = TypeVar("Model", bound=BaseModel)

EventsBody = Annotated[
    dict[str, Any] | list[Any],
    Body(
        description=(
            "one event object, a list of events, or {'events': [...]}; "
            "each event: {event_id?, user_id, item_id, event, value?, timestamp?, context?}"
        ),
    ),
]


#: cookie the dashboard's login form sets, so a browser can carry a read key
KEY_COOKIE = "recforge_key"


def _key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    return request.cookies.get(KEY_COOKIE) or None


def require(scope: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency that refuses requests without a key granting ``scope``."""

    async def check(request: Request) -> None:
        settings: ServingSettings = request.app.state.settings
        if not settings.auth_enabled:
            return
        key = _key(request)
        if key is None:
            raise HTTPException(
                401, "missing API key (X-API-Key header)", {"WWW-Authenticate": "ApiKey"}
            )
        if scope not in settings.scopes_of(key):
            raise HTTPException(403, f"this API key may not {scope}")

    return check


async def service_of(request: Request) -> RecommendationService:
    service: RecommendationService = request.app.state.service
    return service


Service = Annotated[RecommendationService, Depends(service_of)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "unknown id"}
}
K = Annotated[int, Query(ge=1, le=1000, description="list length")]


def _rows(payload: dict[str, Any] | list[Any]) -> list[Any]:
    if isinstance(payload, list):
        return payload
    if "events" in payload:
        rows = payload["events"]
        if not isinstance(rows, list):
            raise unprocessable("'events' must be a list of event objects", "events")
        return rows
    return [payload]


def unprocessable(message: str, *loc: str) -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors (one schema for every 422)."""
    return HTTPException(422, [{"loc": ["body", *loc], "msg": message, "type": "value_error"}])


def with_path_id(model: type[Model], body: Model, field: str, value: str) -> Model:
    """``body`` with the id taken from the URL path, validated by the same rules as ids in
    bodies (``model_copy`` would skip the validators)."""
    try:
        return model.model_validate({**body.model_dump(), field: value})
    except ValidationError as error:
        raise RequestValidationError(
            [{**detail, "loc": ("path", field)} for detail in error.errors()]
        ) from None


def validate_events(
    rows: list[Any], service: RecommendationService, now: float
) -> tuple[list[EventRecord], list[RowError]]:
    """Validate each row on its own: good rows become records, bad rows errors naming the
    row index and the field."""
    records: list[EventRecord] = []
    errors: list[RowError] = []
    known = service.event_types
    for index, row in enumerate(rows):
        try:
            event = EventIn.model_validate(row)
        except ValidationError as error:
            for detail in error.errors():
                field = ".".join(str(part) for part in detail["loc"]) or "(event)"
                errors.append(RowError(index=index, field=field, message=detail["msg"]))
            continue
        field = "event"
        try:
            known.check(event.event)
            field = "value"
            if event.event == "rating" and not 0 <= event.value <= known.max_rating:
                raise ValueError(f"a rating must be between 0 and {known.max_rating:g}")
            field = "timestamp"
            timestamp = event.epoch_seconds(now)
        except ValueError as error:  # EventError is a ValueError too
            errors.append(RowError(index=index, field=field, message=str(error)))
            continue
        records.append(
            EventRecord(
                event_id=str(event.event_id) if event.event_id is not None else uuid.uuid4().hex,
                user_id=str(event.user_id),
                item_id=str(event.item_id),
                event=event.event,
                value=float(event.value),
                timestamp=timestamp,
                context=event.context,
            )
        )
    return records, errors


class IdConvertor(StringConvertor):
    """A path segment for ids: anything, ``/`` and newlines included (ids are checked by the
    same rules as in bodies, so a bad one is a 422 naming the field, not a routing 404)."""

    regex = r"[\s\S]+"


register_url_convertor("id", IdConvertor())


def create_app(settings: ServingSettings, *, store: EventStore | None = None) -> FastAPI:
    """The recforge HTTP app for ``settings`` (``store`` overrides ``settings.db``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = store is None
        event_store = store or EventStore(settings.db)
        registry = None
        if settings.models_dir is not None:
            registry = ModelRegistry(
                settings.models_dir,
                check_every=settings.reload_check_seconds,
                exact_limit=settings.exact_limit,
            )
        service = RecommendationService(event_store, settings, registry)
        service.start()
        # the loaded catalogue, vocabularies and indexes live as long as the process: keep
        # them out of the cyclic GC's full collections (pauses of tens of milliseconds
        # that land in the latency tail)
        gc.freeze()
        app.state.service = service
        if not settings.auth_enabled:
            logger.warning("no API keys configured: every endpoint is open")
        try:
            yield
        finally:
            if owned:
                event_store.close()

    app = FastAPI(
        responses={
            401: {"model": ErrorResponse, "description": "missing API key"},
            403: {"model": ErrorResponse, "description": "the key lacks the scope"},
        },
        title="recforge",
        version="1",
        summary="Behaviour events in, profiles and recommendations out.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    metrics = Metrics()
    app.state.metrics = metrics
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(Observe, metrics=metrics)  # outermost: also sees 413s

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        # FastAPI's default handler echoes the raw input, which fails on a body that is not
        # UTF-8; the location and message are what a client needs
        detail = [
            {"loc": list(item["loc"]), "msg": item["msg"], "type": item["type"]}
            for item in error.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(UnknownIdError)
    async def unknown(_: Request, error: UnknownIdError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=404)

    @app.exception_handler(RecforgeError)
    async def bad_request(_: Request, error: RecforgeError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=400)

    read = [Depends(require("read"))]
    write = [Depends(require("write"))]
    admin = [Depends(require("admin"))]

    # ---------------------------------------------------------------- events
    @app.post(
        "/v1/events",
        dependencies=write,
        tags=["events"],
        response_model=IngestResponse,
        responses={413: {"model": ErrorResponse, "description": "batch or body too large"}},
    )
    def post_events(payload: EventsBody, service: Service) -> JSONResponse:
        """Store one event or a batch (at most ``max_batch``). Valid rows are stored even
        when others are rejected; each rejected row is reported with its index and field.
        Idempotent on ``event_id``. 200 when at least one row was valid, else 422."""
        rows = _rows(payload)
        if len(rows) > settings.max_batch:
            raise HTTPException(413, f"batch of {len(rows)} events; at most {settings.max_batch}")
        if not rows:
            raise unprocessable("no events in the request")
        records, errors = validate_events(rows, service, time.time())
        result = service.store.add_events(records) if records else None
        stored = result.stored if result else 0
        duplicates = result.duplicates if result else 0
        metrics.events(stored, duplicates, len(rows) - len(records))
        body = IngestResponse(
            received=len(rows),
            stored=stored,
            duplicates=duplicates,
            rejected=len(rows) - len(records),
            errors=errors[:1000],
        )
        return JSONResponse(body.model_dump(), status_code=200 if records else 422)

    # ---------------------------------------------------------------- catalogue
    def _upsert_items(items: list[ItemIn], service: RecommendationService) -> UpsertResponse:
        if any(item.item_id is None for item in items):
            raise unprocessable("every item needs an item_id", "item_id")
        count = service.store.upsert_items([item.model_dump() for item in items])
        service.items_changed([str(item.item_id) for item in items])
        return UpsertResponse(upserted=count)

    @app.put("/v1/items/{item_id:id}", dependencies=write, tags=["catalogue"])
    def put_item(item_id: str, item: ItemIn, service: Service) -> UpsertResponse:
        """Create or update one item's metadata."""
        return _upsert_items([with_path_id(ItemIn, item, "item_id", item_id)], service)

    @app.post("/v1/items", dependencies=write, tags=["catalogue"])
    def post_items(
        items: Annotated[list[ItemIn], Body(max_length=10_000)], service: Service
    ) -> UpsertResponse:
        """Create or update many items."""
        return _upsert_items(items, service)

    @app.put("/v1/users/{user_id:id}", dependencies=write, tags=["catalogue"])
    def put_user(user_id: str, user: UserIn, service: Service) -> UpsertResponse:
        """Create or update one user's attributes."""
        record = with_path_id(UserIn, user, "user_id", user_id).model_dump()
        return UpsertResponse(upserted=service.store.upsert_users([record]))

    @app.post("/v1/users", dependencies=write, tags=["catalogue"])
    def post_users(
        users: Annotated[list[UserIn], Body(max_length=10_000)], service: Service
    ) -> UpsertResponse:
        """Create or update many users."""
        if any(user.user_id is None for user in users):
            raise unprocessable("every user needs a user_id", "user_id")
        return UpsertResponse(
            upserted=service.store.upsert_users([user.model_dump() for user in users])
        )

    # ---------------------------------------------------------------- reads
    @app.get(
        "/v1/users/{user_id:id}/recommendations",
        response_model=RecommendationResponse,
        responses=NOT_FOUND,
        dependencies=read,
        tags=["recommendations"],
    )
    async def recommendations(
        user_id: str,
        service: Service,
        k: K = 10,
        exclude_seen: bool = True,
        category: Annotated[str | None, Query(max_length=128)] = None,
    ) -> JSONResponse:
        """Top-k items for a user, from the active model; cold start for users it cannot
        place. Unknown users (no events, no attributes) are 404: use /v1/trending."""
        # async on purpose: the work is a few milliseconds of CPU under the GIL, so a
        # thread hand-off would add latency and no parallelism (run more workers for
        # that). The service builds the documented shape (checked in the tests); the hot
        # path skips a second validation of it.
        answer = service.recommend(user_id, k=k, exclude_seen=exclude_seen, category=category)
        return JSONResponse(answer)

    @app.get("/v1/trending", dependencies=read, tags=["recommendations"])
    def trending(service: Service, k: K = 10) -> TrendingResponse:
        """Most engaged-with items of the last days (for anonymous visitors)."""
        items = [
            {"item_id": item_id, "score": round(float(score), 6), "source": "trending"}
            for item_id, score in service.trending().head(k).items()
        ]
        return TrendingResponse.model_validate({"items": items})

    @app.get(
        "/v1/items/{item_id:id}/similar",
        responses=NOT_FOUND,
        dependencies=read,
        tags=["recommendations"],
    )
    def similar(item_id: str, service: Service, k: K = 10) -> SimilarResponse:
        """Items like this one (model item space, else content)."""
        return SimilarResponse.model_validate(service.similar(item_id, k=k))

    @app.get(
        "/v1/users/{user_id:id}/profile",
        dependencies=read,
        tags=["profiles"],
        responses=NOT_FOUND,
    )
    def user_profile(user_id: str, service: Service) -> dict[str, Any]:
        """Interests (category, tag, brand affinities), demographics and activity."""
        return service.user_profile(user_id)

    @app.get(
        "/v1/items/{item_id:id}/profile",
        dependencies=read,
        tags=["profiles"],
        responses=NOT_FOUND,
    )
    def item_profile(item_id: str, service: Service) -> dict[str, Any]:
        """Attributes, text and popularity."""
        return service.item_profile(item_id)

    # ---------------------------------------------------------------- models
    def _registry(service: RecommendationService) -> ModelRegistry:
        if service.registry is None:
            raise HTTPException(409, "the server was started without a models folder")
        return service.registry

    @app.get("/v1/admin/models", dependencies=admin, tags=["admin"])
    def models(service: Service) -> dict[str, Any]:
        """Runs in the models folder, the active and the previous one."""
        registry = _registry(service)
        bundle = registry.current()
        return {
            "active": None if bundle is None else bundle.describe(),
            "runs": registry.runs(),
        }

    @app.post(
        "/v1/admin/models/{run}/activate", dependencies=admin, tags=["admin"], responses=NOT_FOUND
    )
    def activate(run: str, service: Service) -> dict[str, Any]:
        """Load a run and make it active (atomic; in-flight requests finish on the old)."""
        return {"active": _registry(service).activate(run).describe()}

    @app.post(
        "/v1/admin/models/rollback",
        dependencies=admin,
        tags=["admin"],
        responses={400: {"model": ErrorResponse, "description": "no previous run"}},
    )
    def rollback(service: Service) -> dict[str, Any]:
        """Make the previous run active again."""
        return {"active": _registry(service).rollback().describe()}

    # ---------------------------------------------------------------- operations
    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    def readyz(request: Request) -> JSONResponse:
        """Ready to serve: the store answers and, with a models folder, a model is active."""
        service: RecommendationService | None = getattr(request.app.state, "service", None)
        checks = {"store": False, "model": None}
        if service is not None:
            checks["store"] = service.store.ping()
            if service.registry is not None:
                checks["model"] = service.bundle() is not None
        ready = bool(checks["store"]) and checks["model"] is not False
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    def prometheus() -> PlainTextResponse:
        """Prometheus text format."""
        body, content_type = metrics.render()
        return PlainTextResponse(body, media_type=content_type)

    from recforge.serving.dashboard import login_router
    from recforge.serving.dashboard import router as dashboard_router

    app.include_router(dashboard_router, dependencies=read)
    app.include_router(login_router)
    return app


__all__ = ["create_app", "validate_events"]
