"""The event store's tables and how a database is brought to the current schema version.

Table ``schema_version`` holds one integer, :data:`SCHEMA_VERSION` for a database this code
wrote. :func:`ensure_schema` refuses a newer database, runs :data:`MIGRATIONS` on an older one
(``MIGRATIONS[n]`` takes version ``n`` to ``n + 1``, inside the same transaction), then creates
any missing table. :class:`recforge.serving.store.EventStore` is the only caller.

>>> sorted(metadata.tables)
['events', 'items', 'schema_version', 'users']
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from recforge.core.errors import RecforgeError

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1

# MIGRATIONS[n] brings a database from schema version n to n + 1; empty while there is one.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {}

# Key of the PostgreSQL advisory lock that serialises schema creation between processes.
_SCHEMA_LOCK_KEY = 7_310_541

_ID = sa.String(128)
_FLOAT: sa.Double[float] = sa.Double()
# SQLite only autoincrements an INTEGER PRIMARY KEY, so BIGINT becomes INTEGER there.
_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# none_as_null: a Python None is stored as SQL NULL, not as the JSON text 'null'.
_JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")

metadata = sa.MetaData()

events_table = sa.Table(
    "events",
    metadata,
    sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),  # arrival order
    sa.Column("event_id", _ID, nullable=False, unique=True),
    sa.Column("user_id", _ID, nullable=False),
    sa.Column("item_id", _ID, nullable=False),
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("value", _FLOAT, nullable=False),
    sa.Column("timestamp", _FLOAT, nullable=False),  # epoch seconds, UTC
    sa.Column("context", _JSON, nullable=True),
    sa.Column("received_at", _FLOAT, nullable=False),
    sa.Index("ix_events_user_time", "user_id", "timestamp"),
    sa.Index("ix_events_item", "item_id"),
    sa.Index("ix_events_time", "timestamp"),
)

users_table = sa.Table(
    "users",
    metadata,
    sa.Column("user_id", _ID, primary_key=True),
    sa.Column("age_band", sa.String(), nullable=True),
    sa.Column("gender", sa.String(), nullable=True),
    sa.Column("region", sa.String(), nullable=True),
    sa.Column("attributes", _JSON, nullable=False),  # dict
    sa.Column("created_at", _FLOAT, nullable=False),
    sa.Column("updated_at", _FLOAT, nullable=False),
)

items_table = sa.Table(
    "items",
    metadata,
    sa.Column("item_id", _ID, primary_key=True),
    sa.Column("title", sa.String(), nullable=True),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("categories", _JSON, nullable=False),  # list[str]
    sa.Column("tags", _JSON, nullable=False),  # list[str]
    sa.Column("attributes", _JSON, nullable=False),  # dict, e.g. brand, price
    sa.Column("created_at", _FLOAT, nullable=False),
    sa.Column("updated_at", _FLOAT, nullable=False),
    # servers poll "items changed since t" to follow other processes' catalogue edits
    sa.Index("ix_items_updated", "updated_at"),
)

schema_version_table = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
)


class StoreError(RecforgeError, ValueError):
    """The store was given something it cannot store or a database it cannot use."""


class SchemaVersionError(StoreError):
    """The database's schema version is newer than this code, or has no migration path."""


def ensure_schema(conn: Connection, *, where: str) -> None:
    """Bring the database behind ``conn`` to :data:`SCHEMA_VERSION` inside its transaction.

    Args:
        conn: a connection inside a transaction (``engine.begin()``), nothing run on it yet.
        where: the database, for messages (a URL with its password masked).

    Raises:
        SchemaVersionError: the database is newer, or no migration leads from its version.
    """
    _lock_schema(conn)
    found = recorded_version(conn)
    if found is not None and found > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{where}: database schema version {found} is newer than this recforge's "
            f"{SCHEMA_VERSION}; upgrade recforge or use another database"
        )
    start = SCHEMA_VERSION if found is None else found
    for version in range(start, SCHEMA_VERSION):
        if version not in MIGRATIONS:
            raise SchemaVersionError(
                f"{where}: no migration from schema version {version} to {version + 1}"
            )
        logger.info("migrating %s from schema version %d", where, version)
        MIGRATIONS[version](conn)
    metadata.create_all(conn, checkfirst=True)
    if found != SCHEMA_VERSION:
        conn.execute(schema_version_table.delete())
        conn.execute(schema_version_table.insert().values(version=SCHEMA_VERSION))


def recorded_version(conn: Connection) -> int | None:
    """The version in ``schema_version``, or ``None`` when the table does not exist."""
    if not sa.inspect(conn).has_table(schema_version_table.name):
        return None
    return conn.execute(sa.select(sa.func.max(schema_version_table.c.version))).scalar()


def _lock_schema(conn: Connection) -> None:
    """Serialise schema creation between processes opening the same database at once."""
    if conn.dialect.name == "sqlite":
        # pysqlite runs DDL outside any transaction; take SQLite's write lock up front, so
        # the check, the CREATEs and the version row commit together.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK_KEY)))
