"""Serving fixtures: an event store on each back end.

``store_url`` and ``store`` run a test once on SQLite (a file under ``tmp_path``) and once on
PostgreSQL (the server named by ``$RECFORGE_TEST_POSTGRES``, see ``.ci/postgres.sh``). Each
PostgreSQL test gets a schema of its own, dropped afterwards, so tests never see each other's
rows. Without ``$RECFORGE_TEST_POSTGRES`` the PostgreSQL half is skipped, except under ``$CI``,
where it fails: CI must not pass by skipping a back end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from recforge.serving.store import EventStore

POSTGRES_ENV = "RECFORGE_TEST_POSTGRES"
BACKENDS = ("sqlite", "postgresql")


def postgres_url() -> str:
    """The test server's URL from ``$RECFORGE_TEST_POSTGRES``; skip (or fail under CI)."""
    url = os.environ.get(POSTGRES_ENV)
    if url:
        return url
    how = f'export {POSTGRES_ENV}="$(bash .ci/postgres.sh)"'
    if os.environ.get("CI"):
        pytest.fail(f"{POSTGRES_ENV} is not set under CI; the PostgreSQL tests need it: {how}")
    pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV} ({how})")


def _postgres_schema_url(base_url: str) -> Iterator[str]:
    """Create a fresh schema, yield a URL whose ``search_path`` is that schema, drop it."""
    schema = f"test_{uuid.uuid4().hex[:16]}"
    base = sa.make_url(base_url)
    admin = sa.create_engine(base.set(drivername="postgresql+psycopg"))
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        scoped = base.update_query_dict({"options": f"-csearch_path={schema}"})
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database: a SQLite file, or a private PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store' / 'events.db'}"
    else:
        yield from _postgres_schema_url(postgres_url())


@pytest.fixture
def store(store_url: str) -> Iterator[EventStore]:
    """An :class:`EventStore` with its schema created, closed after the test."""
    with EventStore(store_url) as opened:
        yield opened
