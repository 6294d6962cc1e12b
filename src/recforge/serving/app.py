"""The FastAPI application: thin routes over :class:`RecommendationService` and the store.

``create_app(settings)`` builds it; the store, the content index and the active model load in
``lifespan``. Routes only translate between HTTP and the service.

Scopes: ``read`` (recommendations, profiles, similar items, dashboard), ``write`` (events,
item and user upserts), ``admin`` (model activation and rollback). Keys go in the
``X-API-Key`` header (or ``Authorization: Bearer KEY``); a missing key is 401, a key without
the scope 403.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import ValidationError

from recforge.core.errors import RecforgeError, UnknownIdError
from recforge.serving.limits import BodySizeLimit
from recforge.serving.metrics import Metrics
from recforge.serving.registry import ModelRegistry
from recforge.serving.schemas import (
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
access_log = logging.getLogger("recforge.serving.access")

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


def require(scope: str) -> Callable[[Request], None]:
    """A dependency that refuses requests without a key granting ``scope``."""

    def check(request: Request) -> None:
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


def service_of(request: Request) -> RecommendationService:
    service: RecommendationService = request.app.state.service
    return service


Service = Annotated[RecommendationService, Depends(service_of)]
K = Annotated[int, Query(ge=1, le=1000, description="list length")]


def _rows(payload: dict[str, Any] | list[Any]) -> list[Any]:
    if isinstance(payload, list):
        return payload
    if "events" in payload:
        rows = payload["events"]
        if not isinstance(rows, list):
            raise HTTPException(422, "'events' must be a list of event objects")
        return rows
    return [payload]


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
            known.check(event.event)
            if event.event == "rating" and not 0 <= event.value <= known.max_rating:
                raise RecforgeError(f"a rating must be between 0 and {known.max_rating:g}")
            timestamp = event.epoch_seconds(now)
        except ValidationError as error:
            for detail in error.errors():
                field = ".".join(str(part) for part in detail["loc"]) or "(event)"
                errors.append(RowError(index=index, field=field, message=detail["msg"]))
            continue
        except RecforgeError as error:
            errors.append(RowError(index=index, field="event", message=str(error)))
            continue
        except ValueError as error:
            errors.append(RowError(index=index, field="timestamp", message=str(error)))
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
        app.state.service = service
        if not settings.auth_enabled:
            logger.warning("no API keys configured: every endpoint is open")
        try:
            yield
        finally:
            if owned:
                event_store.close()

    app = FastAPI(
        title="recforge",
        version="1",
        summary="Behaviour events in, profiles and recommendations out.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    metrics = Metrics()
    app.state.metrics = metrics
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Any]]) -> Any:
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            elapsed = time.perf_counter() - start
            route = request.scope.get("route")
            path = getattr(route, "path", "unmatched")
            metrics.observe(request.method, path, status, elapsed)
            access_log.info(
                "%s %s %d",
                request.method,
                request.url.path,
                status,
                extra={
                    "method": request.method,
                    "path": request.url.path,
                    "route": path,
                    "status": status,
                    "ms": round(elapsed * 1000, 2),
                },
            )

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
    @app.post("/v1/events", dependencies=write, tags=["events"])
    def post_events(payload: EventsBody, service: Service) -> JSONResponse:
        """Store one event or a batch (at most ``max_batch``). Valid rows are stored even
        when others are rejected; each rejected row is reported with its index and field.
        Idempotent on ``event_id``. 200 when at least one row was valid, else 422."""
        rows = _rows(payload)
        if len(rows) > settings.max_batch:
            raise HTTPException(413, f"batch of {len(rows)} events; at most {settings.max_batch}")
        if not rows:
            raise HTTPException(422, "no events in the request")
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
            raise HTTPException(422, "every item needs an item_id")
        count = service.store.upsert_items([item.model_dump() for item in items])
        service.items_changed([str(item.item_id) for item in items])
        return UpsertResponse(upserted=count)

    @app.put("/v1/items/{item_id}", dependencies=write, tags=["catalogue"])
    def put_item(item_id: str, item: ItemIn, service: Service) -> UpsertResponse:
        """Create or update one item's metadata."""
        return _upsert_items([item.model_copy(update={"item_id": item_id})], service)

    @app.post("/v1/items", dependencies=write, tags=["catalogue"])
    def post_items(
        items: Annotated[list[ItemIn], Body(max_length=10_000)], service: Service
    ) -> UpsertResponse:
        """Create or update many items."""
        return _upsert_items(items, service)

    @app.put("/v1/users/{user_id}", dependencies=write, tags=["catalogue"])
    def put_user(user_id: str, user: UserIn, service: Service) -> UpsertResponse:
        """Create or update one user's attributes."""
        record = user.model_copy(update={"user_id": user_id}).model_dump()
        return UpsertResponse(upserted=service.store.upsert_users([record]))

    @app.post("/v1/users", dependencies=write, tags=["catalogue"])
    def post_users(
        users: Annotated[list[UserIn], Body(max_length=10_000)], service: Service
    ) -> UpsertResponse:
        """Create or update many users."""
        if any(user.user_id is None for user in users):
            raise HTTPException(422, "every user needs a user_id")
        return UpsertResponse(
            upserted=service.store.upsert_users([user.model_dump() for user in users])
        )

    # ---------------------------------------------------------------- reads
    @app.get(
        "/v1/users/{user_id}/recommendations",
        dependencies=read,
        tags=["recommendations"],
        responses={404: {"description": "unknown user"}},
    )
    def recommendations(
        user_id: str,
        service: Service,
        k: K = 10,
        exclude_seen: bool = True,
        category: Annotated[str | None, Query(max_length=128)] = None,
    ) -> RecommendationResponse:
        """Top-k items for a user, from the active model; cold start for users it cannot
        place. Unknown users (no events, no attributes) are 404: use /v1/trending."""
        answer = service.recommend(user_id, k=k, exclude_seen=exclude_seen, category=category)
        return RecommendationResponse.model_validate(answer)

    @app.get("/v1/trending", dependencies=read, tags=["recommendations"])
    def trending(service: Service, k: K = 10) -> TrendingResponse:
        """Most engaged-with items of the last days (for anonymous visitors)."""
        items = [
            {"item_id": item_id, "score": round(float(score), 6), "source": "trending"}
            for item_id, score in service.trending().head(k).items()
        ]
        return TrendingResponse.model_validate({"items": items})

    @app.get(
        "/v1/items/{item_id}/similar",
        dependencies=read,
        tags=["recommendations"],
        responses={404: {"description": "unknown item"}},
    )
    def similar(item_id: str, service: Service, k: K = 10) -> SimilarResponse:
        """Items like this one (model item space, else content)."""
        return SimilarResponse.model_validate(service.similar(item_id, k=k))

    @app.get("/v1/users/{user_id}/profile", dependencies=read, tags=["profiles"])
    def user_profile(user_id: str, service: Service) -> dict[str, Any]:
        """Interests (category, tag, brand affinities), demographics and activity."""
        return service.user_profile(user_id)

    @app.get("/v1/items/{item_id}/profile", dependencies=read, tags=["profiles"])
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

    @app.post("/v1/admin/models/{run}/activate", dependencies=admin, tags=["admin"])
    def activate(run: str, service: Service) -> dict[str, Any]:
        """Load a run and make it active (atomic; in-flight requests finish on the old)."""
        return {"active": _registry(service).activate(run).describe()}

    @app.post("/v1/admin/models/rollback", dependencies=admin, tags=["admin"])
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
