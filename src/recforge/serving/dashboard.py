"""The dashboard: server-rendered HTML pages over the store, the profiles and the model runs.

Pages (``router``, included by :func:`recforge.serving.app.create_app` behind the ``read``
scope): ``/`` overview, ``/users/{user_id}``, ``/items/{item_id}``, ``/models``,
``/models/{run}`` and ``/find`` (the search box). ``login_router`` holds ``/login`` and
``/logout``, which need no key: the login form stores a read key in an HttpOnly, SameSite=Strict
cookie that the API's key check reads.

Charts are inline SVG drawn by matplotlib on the server; the pages load no script, stylesheet or
font, so the dashboard works offline. Every string from the store is escaped by Jinja2's
autoescape. Route handlers only translate: :mod:`recforge.serving.pages` gathers each page's
data and :mod:`recforge.serving.charts` draws the charts.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

import jinja2
import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute

from recforge.core.errors import UnknownIdError
from recforge.serving.app import KEY_COOKIE
from recforge.serving.charts import event_color
from recforge.serving.pages import (
    item_page,
    log_value,
    models_page,
    overview_page,
    run_page,
    user_page,
)
from recforge.serving.service import RecommendationService

logger = logging.getLogger(__name__)

MAX_K = 100  # longest recommendation list a page shows

#: no script runs and nothing is fetched from elsewhere; inline styles are the only exception
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(timestamp: Any) -> str:
    """Unix seconds or an ISO 8601 string as ``YYYY-MM-DD HH:MM`` UTC (other values as text)."""
    moment = None
    if isinstance(timestamp, int | float) and math.isfinite(timestamp):
        moment = datetime.fromtimestamp(float(timestamp), UTC)
    elif isinstance(timestamp, str):
        try:
            moment = datetime.fromisoformat(timestamp)
        except ValueError:
            return timestamp
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC)
    if moment is None:
        return "" if timestamp is None else str(timestamp)
    return moment.strftime("%Y-%m-%d %H:%M")


def _number(value: Any) -> str:
    """Integers with thousands separators, other numbers to four significant digits."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        return "" if value is None else str(value)
    number = float(value)
    if number.is_integer() and abs(number) < 1e15:
        return f"{int(number):,}"
    return f"{number:.4g}"


_templates.filters.update(when=_when, number=_number)
_templates.globals.update(event_color=event_color, log_value=log_value)


# ---------------------------------------------------------------------------- responses
def _render(
    request: Request, template: str, *, status_code: int = 200, section: str = "", **context: Any
) -> HTMLResponse:
    html = _templates.get_template(template).render(
        auth=request.app.state.settings.auth_enabled,
        signed_in=KEY_COOKIE in request.cookies,
        section=section,
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def _error(request: Request, status_code: int, title: str, message: str) -> HTMLResponse:
    login = f"/login?next={quote(_local_path(request.url.path), safe='/')}"
    return _render(
        request,
        "error.html",
        status_code=status_code,
        title=title,
        message=message,
        code=status_code,
        login=login if status_code in (401, 403) else None,
    )


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


class _HtmlErrors(APIRoute):
    """Dashboard routes answer a browser's missing key (401), a key without the read scope
    (403) and an unknown id (404) with an HTML page; API clients keep the JSON answer."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except UnknownIdError as error:
                return _error(request, 404, "Not found", str(error))
            except HTTPException as error:
                if error.status_code not in (401, 403) or not _wants_html(request):
                    raise
                message = (
                    "This dashboard needs an API key with the read scope."
                    if error.status_code == 401
                    else "This API key may not read the dashboard."
                )
                return _error(request, error.status_code, "Sign in needed", message)

        return route


def _service(request: Request) -> RecommendationService:
    service: RecommendationService = request.app.state.service
    return service


def _local_path(target: str) -> str:
    """``target`` when it is a path on this server, else ``/`` (no open redirects)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


router = APIRouter(route_class=_HtmlErrors, include_in_schema=False)
login_router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def overview(request: Request) -> HTMLResponse:
    data = overview_page(_service(request), time.time())
    return _render(request, "overview.html", section="overview", **data)


@router.get("/users/{user_id:path}", response_class=HTMLResponse)
def user(request: Request, user_id: str, k: int = 10) -> HTMLResponse:
    data = user_page(_service(request), user_id, max(1, min(k, MAX_K)))
    if data is None:
        return _error(request, 404, "Unknown user", f"No user {user_id!r} in the store.")
    return _render(request, "user.html", **data)


@router.get("/items/{item_id:path}", response_class=HTMLResponse)
def item(request: Request, item_id: str, k: int = 10) -> HTMLResponse:
    data = item_page(_service(request), item_id, max(1, min(k, MAX_K)))
    if data is None:
        return _error(request, 404, "Unknown item", f"No item {item_id!r} in the store.")
    return _render(request, "item.html", **data)


@router.get("/models", response_class=HTMLResponse)
def models(request: Request) -> HTMLResponse:
    data = models_page(_service(request).registry)
    return _render(request, "models.html", section="models", **data)


@router.get("/models/{run}", response_class=HTMLResponse)
def model_run(request: Request, run: str) -> HTMLResponse:
    data = run_page(_service(request).registry, run)
    if data is None:
        return _error(request, 404, "Unknown run", f"No run {run!r} in the models folder.")
    return _render(request, "run.html", section="models", **data)


@router.get("/find")
def find(kind: str = "user", q: str = "") -> RedirectResponse:
    """The search box: jump to a user's or an item's page."""
    target = q.strip()
    if not target:
        return RedirectResponse("/", status_code=303)
    section = "items" if kind == "item" else "users"
    return RedirectResponse(f"/{section}/{quote(target, safe='')}", status_code=303)


@login_router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, target: Annotated[str, Query(alias="next")] = "/") -> HTMLResponse:
    return _render(request, "login.html", error=None, next=_local_path(target))


@login_router.post("/login", response_model=None)
async def login(request: Request) -> Response:
    """Check the key and keep it in an HttpOnly cookie, then go to ``next`` (default ``/``)."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    key = form.get("key", [""])[0].strip()
    target = _local_path(form.get("next", ["/"])[0])
    settings = request.app.state.settings
    if settings.auth_enabled and "read" not in settings.scopes_of(key):
        error = "That key is not valid for reading." if key else "Enter an API key."
        return _render(request, "login.html", status_code=401, error=error, next=target)
    response = RedirectResponse(target, status_code=303)
    if settings.auth_enabled:
        response.set_cookie(
            KEY_COOKIE,
            key,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
    return response


@login_router.post("/logout")
def logout() -> RedirectResponse:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(KEY_COOKIE, path="/", httponly=True, samesite="strict")
    return response


__all__ = ["SECURITY_HEADERS", "login_router", "router"]
