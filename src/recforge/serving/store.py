"""The event store of the online system: behaviour events, users and items in SQL.

One SQLAlchemy Core schema runs on SQLite (the embedded default: one file, WAL journal,
``synchronous=FULL``) and on PostgreSQL (``postgresql+psycopg``). The store stores: event names,
weights and request validation belong to the API and to :mod:`recforge.features`.

Ingestion is idempotent on ``event_id``: a batch is one transaction, one multi-row
``INSERT ... ON CONFLICT DO NOTHING RETURNING`` statement, and once :meth:`EventStore.add_events`
returns, its rows are committed. Aggregations for popularity, trending and the dashboard run as
``GROUP BY`` in SQL, never by loading every event into Python.

The tables and their versioning live in :mod:`recforge.serving.store_schema`: a database
written by a newer recforge is refused, an older one is brought forward by its ``MIGRATIONS``.

>>> store = EventStore("sqlite:///:memory:")
>>> batch = [EventRecord("e1", "u1", "i1", "click", 1.0, 1_700_000_000.0)]
>>> store.add_events(batch)
IngestResult(stored=1, duplicates=0)
>>> store.add_events(batch)
IngestResult(stored=0, duplicates=1)
>>> store.item_event_counts("i1")
{'click': 1}
>>> store.close()
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from recforge.serving.store_schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    SchemaVersionError,
    StoreError,
    ensure_schema,
    events_table,
    items_table,
    recorded_version,
    users_table,
)

logger = logging.getLogger(__name__)

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "EventRecord",
    "EventStore",
    "IngestResult",
    "SchemaVersionError",
    "StoreError",
]

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Ids per IN (...) list: far below SQLite's bound-parameter limit.
_IN_CHUNK = 5_000


def _dtypes(table: sa.Table, names: Sequence[str] | None = None) -> dict[str, str]:
    """Frame dtypes of a table's columns: float64 for numbers, object for text and JSON."""
    columns = table.columns if names is None else [table.c[name] for name in names]
    return {c.name: "float64" if isinstance(c.type, sa.Double) else "object" for c in columns}


# Columns and dtypes of the frames the store returns (empty frames keep them too).
EVENT_COLUMNS = _dtypes(
    events_table, ["event_id", "user_id", "item_id", "event", "value", "timestamp"]
)
EXPORT_COLUMNS = _dtypes(events_table, ["user_id", "item_id", "event", "value", "timestamp"])
ITEM_COLUMNS = _dtypes(items_table)
#: built once: a recommendation request runs it, and building a statement costs more than
#: running it on an index
_RECENT_EVENTS = (
    sa.select(*(events_table.c[name] for name in EVENT_COLUMNS))
    .where(events_table.c.user_id == sa.bindparam("user_id"))
    .order_by(events_table.c.timestamp.desc(), events_table.c.id.desc())
    .limit(sa.bindparam("limit"))
)
USER_COLUMNS = _dtypes(users_table)
_ITEM_DEFAULTS: dict[str, Any] = {
    "title": None,
    "description": None,
    "categories": [],
    "tags": [],
    "attributes": {},
}
_USER_DEFAULTS: dict[str, Any] = {
    "age_band": None,
    "gender": None,
    "region": None,
    "attributes": {},
}


def _insert_events_from_arrays() -> sa.Insert:
    """PostgreSQL: ``INSERT INTO events SELECT unnest(:event_id), ... ON CONFLICT DO NOTHING``.

    One row of arrays per batch: psycopg would parse a 1,000-row ``VALUES`` statement anew on
    every call, which costs more than the insert itself.
    """
    unnested = []
    for name in _EVENT_FIELDS:
        is_float = isinstance(events_table.c[name].type, sa.Double)
        array = postgresql.ARRAY(sa.Double() if is_float else sa.Text())  # context: JSON text
        values: sa.ColumnElement[Any] = sa.func.unnest(sa.bindparam(name, type_=array))
        unnested.append(sa.cast(values, postgresql.JSONB) if name == "context" else values)
    return (
        postgresql.insert(events_table)
        .from_select(list(_EVENT_FIELDS), sa.select(*unnested))
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(events_table.c.id)
    )


_EVENT_FIELDS = tuple(column.name for column in events_table.columns if column.name != "id")
_PG_INSERT_EVENTS = _insert_events_from_arrays()
#: SQLite: one ``executemany`` through the driver (C loop, no per-row statement objects);
#: ``rowcount`` sums the rows actually inserted, so duplicates are counted without RETURNING
_SQLITE_INSERT_EVENTS = (
    f"INSERT INTO events ({', '.join(_EVENT_FIELDS)}) "
    f"VALUES ({', '.join('?' for _ in _EVENT_FIELDS)}) ON CONFLICT (event_id) DO NOTHING"
)


@dataclass(frozen=True)
class EventRecord:
    """One behaviour event, already validated by the API layer; ids are strings."""

    event_id: str
    user_id: str
    item_id: str
    event: str
    value: float
    timestamp: float  # epoch seconds, UTC
    context: dict[str, Any] | None = None


@dataclass(frozen=True)
class IngestResult:
    """What one :meth:`EventStore.add_events` call did."""

    stored: int  # newly stored rows
    duplicates: int  # rows whose event_id was already stored or repeated inside the batch


class EventStore:
    """Events, users and items in SQLite or PostgreSQL behind one interface.

    Args:
        url: ``sqlite:///path.db``, a bare file path (SQLite), ``sqlite:///:memory:``, or
            ``postgresql://user:password@host/db`` (run through psycopg 3). A SQLite file's
            folder is created.
        create: create missing tables and check the schema version now. With ``False`` the
            constructor does not touch the database.

    Raises:
        StoreError: the URL names a database this store does not support.
        SchemaVersionError: the database was written by a newer recforge.

    Attributes:
        url: the database URL with its password masked.
        backend: ``"sqlite"`` or ``"postgresql"``.
    """

    def __init__(self, url: str | Path = "sqlite:///recforge.db", *, create: bool = True) -> None:
        self._url = _normalise_url(url)
        self.url = self._url.render_as_string(hide_password=True)
        self.backend = self._url.get_backend_name()
        self._engine = _make_engine(self._url)
        self._insert = sqlite.insert if self.backend == "sqlite" else postgresql.insert
        if create:
            self.create_schema()

    def __repr__(self) -> str:
        return f"EventStore({self.url!r})"

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for maintenance tools and tests."""
        return self._engine

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- lifecycle -------------------------------------------------------------------------

    def create_schema(self) -> None:
        """Create missing tables, migrate an older schema, refuse a newer one."""
        with self._engine.begin() as conn:
            ensure_schema(conn, where=self.url)

    def schema_version(self) -> int:
        """The schema version recorded in the database (0 when it has none)."""
        with self._engine.connect() as conn:
            return recorded_version(conn) or 0

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def ping(self) -> bool:
        """Whether the database answers ``SELECT 1`` (for a readiness probe)."""
        try:
            with self._engine.connect() as conn:
                return conn.execute(sa.text("SELECT 1")).scalar_one() == 1
        except sa.exc.SQLAlchemyError as error:
            logger.warning("database %s is not reachable: %s", self.url, error)
            return False

    # --- writing ---------------------------------------------------------------------------

    def add_events(self, events: Sequence[EventRecord]) -> IngestResult:
        """Store a batch of events in one transaction, skipping ``event_id`` already stored.

        A repeated ``event_id`` inside the batch keeps its first occurrence. When this returns
        the stored rows are committed.
        """
        unique: dict[str, EventRecord] = {}
        for record in events:
            unique.setdefault(record.event_id, record)
        if not unique:
            return IngestResult(stored=0, duplicates=len(events))
        received_at = time.time()
        rows = [
            # float(): psycopg refuses an array mixing int and float
            dict(vars(record), value=float(record.value), timestamp=float(record.timestamp))
            for record in unique.values()
        ]
        for row in rows:
            row["received_at"] = received_at
        with self._engine.begin() as conn:
            if self.backend == "postgresql":
                columns = {name: [row[name] for row in rows] for name in _EVENT_FIELDS}
                columns["context"] = [_json_or_none(row["context"]) for row in rows]
                returned = conn.execute(_PG_INSERT_EVENTS, columns)
                stored = len(returned.all())
            else:
                values = [
                    tuple(
                        _json_or_none(row[name]) if name == "context" else row[name]
                        for name in _EVENT_FIELDS
                    )
                    for row in rows
                ]
                stored = conn.exec_driver_sql(_SQLITE_INSERT_EVENTS, values).rowcount
        return IngestResult(stored=stored, duplicates=len(events) - stored)

    def upsert_items(self, items: Sequence[dict[str, Any]]) -> int:
        """Insert or replace item records; returns how many distinct items were written.

        Keys: ``item_id`` (required), ``title``, ``description``, ``categories`` (list of str),
        ``tags`` (list of str), ``attributes`` (dict). An upsert replaces the whole record (an
        absent key becomes empty) but keeps ``created_at``; a repeated ``item_id`` keeps its
        last record.
        """
        return self._upsert(items_table, "item_id", _ITEM_DEFAULTS, items)

    def upsert_users(self, users: Sequence[dict[str, Any]]) -> int:
        """Insert or replace user records, as :meth:`upsert_items` does for items.

        Keys: ``user_id`` (required), ``age_band``, ``gender``, ``region``, ``attributes``.
        """
        return self._upsert(users_table, "user_id", _USER_DEFAULTS, users)

    def _upsert(
        self,
        table: sa.Table,
        key: str,
        defaults: dict[str, Any],
        records: Sequence[dict[str, Any]],
    ) -> int:
        now = time.time()
        rows: dict[str, dict[str, Any]] = {}
        for position, record in enumerate(records):
            record_id = _record_key(record, key, position)
            rows[record_id] = _record_row(record, record_id, key, defaults, now)
        if not rows:
            return 0
        statement = self._insert(table)
        statement = statement.on_conflict_do_update(
            index_elements=[key],
            set_={name: statement.excluded[name] for name in [*defaults, "updated_at"]},
        )
        with self._engine.begin() as conn:
            conn.execute(statement, list(rows.values()))
        return len(rows)

    # --- reading records -------------------------------------------------------------------

    def get_item(self, item_id: str) -> dict[str, Any] | None:
        """One item's record as a dict of its columns, or ``None``."""
        return self._get(items_table, items_table.c.item_id, item_id)

    def get_user(self, user_id: str) -> dict[str, Any] | None:
        """One user's record as a dict of its columns, or ``None``."""
        return self._get(users_table, users_table.c.user_id, user_id)

    def _get(self, table: sa.Table, column: sa.Column[Any], key: str) -> dict[str, Any] | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(table).where(column == key)).mappings().first()
        return None if row is None else dict(row)

    def items_frame(self, item_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """Item records ordered by ``item_id``: all of them, or those among ``item_ids``."""
        rows = self._rows_for_ids(sa.select(items_table), items_table.c.item_id, item_ids)
        return _frame(rows, ITEM_COLUMNS).sort_values("item_id", ignore_index=True)

    def users_frame(self) -> pd.DataFrame:
        """All user records ordered by ``user_id``."""
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(users_table)).all()
        return _frame(rows, USER_COLUMNS).sort_values("user_id", ignore_index=True)

    def user_events(self, user_id: str, *, limit: int = 500) -> pd.DataFrame:
        """A user's newest ``limit`` events, oldest first (columns of ``EVENT_COLUMNS``)."""
        return _frame(self.recent_events(user_id, limit=limit), EVENT_COLUMNS)

    def recent_events(self, user_id: str, *, limit: int = 500) -> list[tuple[Any, ...]]:
        """:meth:`user_events` as plain tuples (``EVENT_COLUMNS`` order), oldest first:
        the lean form a recommendation request reads on its hot path."""
        with self._engine.connect() as conn:
            rows = conn.execute(_RECENT_EVENTS, {"user_id": user_id, "limit": limit}).all()
        return [tuple(row) for row in reversed(rows)]

    def items_updated_since(self, since: float) -> pd.DataFrame:
        """Item records created or changed after ``since`` (epoch seconds), for servers
        that follow catalogue changes made through other processes."""
        query = sa.select(items_table).where(items_table.c.updated_at > since)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return _frame(rows, ITEM_COLUMNS).sort_values("item_id", ignore_index=True)

    # --- aggregates (GROUP BY in SQL) ------------------------------------------------------

    def item_event_counts(self, item_id: str) -> dict[str, int]:
        """How many events of each type one item received."""
        query = (
            sa.select(events_table.c.event, sa.func.count())
            .where(events_table.c.item_id == item_id)
            .group_by(events_table.c.event)
        )
        with self._engine.connect() as conn:
            return {event: int(count) for event, count in conn.execute(query)}

    def item_counts(
        self, *, since: float | None = None, item_ids: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Event counts per item and event type (columns ``item_id, event, count``).

        Args:
            since: only events with ``timestamp >= since``.
            item_ids: only these items (all items when ``None``).
        """
        count = sa.func.count().label("count")
        query = sa.select(events_table.c.item_id, events_table.c.event, count)
        if since is not None:
            query = query.where(events_table.c.timestamp >= since)
        query = query.group_by(events_table.c.item_id, events_table.c.event)
        rows = self._rows_for_ids(query, events_table.c.item_id, item_ids)
        frame = _frame(rows, {"item_id": "object", "event": "object", "count": "int64"})
        return frame.sort_values(["item_id", "event"], ignore_index=True)

    def events_over_time(
        self, *, bucket_seconds: int = 86400, since: float | None = None
    ) -> pd.DataFrame:
        """Event counts per time bucket and event type (``bucket_start, event, count``).

        Buckets are aligned to the epoch: ``bucket_start = floor(timestamp / bucket_seconds) *
        bucket_seconds``; rows are ordered by bucket, then event.
        """
        if int(bucket_seconds) <= 0:
            raise StoreError(f"bucket_seconds must be a positive integer, got {bucket_seconds}")
        scaled = events_table.c.timestamp / float(bucket_seconds)
        if self.backend == "postgresql":
            bucket: sa.ColumnElement[Any] = sa.func.floor(scaled)
        else:  # SQLite's CAST truncates toward zero; step negative fractions down one.
            truncated = sa.cast(scaled, sa.Integer)
            bucket = sa.case((scaled < truncated, truncated - 1), else_=truncated)
        inner = sa.select(bucket.label("bucket"), events_table.c.event)
        if since is not None:
            inner = inner.where(events_table.c.timestamp >= since)
        per_event = inner.subquery()
        query = sa.select(
            per_event.c.bucket, per_event.c.event, sa.func.count().label("count")
        ).group_by(per_event.c.bucket, per_event.c.event)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        frame = _frame(rows, {"bucket_start": "float64", "event": "object", "count": "int64"})
        frame["bucket_start"] *= float(bucket_seconds)
        return frame.sort_values(["bucket_start", "event"], ignore_index=True)

    def active_users(self, *, since: float | None = None, limit: int = 20) -> pd.DataFrame:
        """The users with most events (``user_id, n_events, last_seen``), most active first."""
        n_events = sa.func.count().label("n_events")
        last_seen = sa.func.max(events_table.c.timestamp).label("last_seen")
        query = sa.select(events_table.c.user_id, n_events, last_seen)
        if since is not None:
            query = query.where(events_table.c.timestamp >= since)
        query = (
            query.group_by(events_table.c.user_id)
            .order_by(n_events.desc(), last_seen.desc(), events_table.c.user_id)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return _frame(rows, {"user_id": "object", "n_events": "int64", "last_seen": "float64"})

    def counts(self) -> dict[str, int]:
        """Row counts: ``events``, ``users``, ``items`` and distinct ``event_users``,
        ``event_items`` among the events."""
        columns = events_table.c
        query = sa.select(
            sa.select(sa.func.count()).select_from(events_table).scalar_subquery(),
            sa.select(sa.func.count()).select_from(users_table).scalar_subquery(),
            sa.select(sa.func.count()).select_from(items_table).scalar_subquery(),
            sa.select(sa.func.count(sa.distinct(columns.user_id))).scalar_subquery(),
            sa.select(sa.func.count(sa.distinct(columns.item_id))).scalar_subquery(),
        )
        with self._engine.connect() as conn:
            values = conn.execute(query).one()
        names = ("events", "users", "items", "event_users", "event_items")
        return {name: int(value) for name, value in zip(names, values, strict=True)}

    # --- bulk export -----------------------------------------------------------------------

    def export_events(self, *, chunk_size: int = 100_000) -> pd.DataFrame:
        """Every event ordered by ``timestamp`` then arrival (``user_id, item_id, event, value,
        timestamp``; timestamps stay float seconds), fetched ``chunk_size`` rows at a time."""
        columns = [events_table.c[name] for name in EXPORT_COLUMNS]
        query = sa.select(*columns).order_by(events_table.c.timestamp, events_table.c.id)
        with self._engine.connect() as conn:
            result = conn.execution_options(yield_per=chunk_size).execute(query)
            chunks = [_frame(rows, EXPORT_COLUMNS) for rows in result.partitions()]
        if not chunks:
            return _frame([], EXPORT_COLUMNS)
        return pd.concat(chunks, ignore_index=True)

    def event_ids(self) -> set[str]:
        """Every stored ``event_id``."""
        with self._engine.connect() as conn:
            return set(conn.execute(sa.select(events_table.c.event_id)).scalars())

    # --- helpers ---------------------------------------------------------------------------

    def _rows_for_ids(
        self, query: sa.Select[Any], column: sa.Column[Any], ids: Sequence[str] | None
    ) -> list[sa.Row[Any]]:
        """Run ``query``, restricted to ``column IN ids`` in chunks when ``ids`` is given."""
        with self._engine.connect() as conn:
            if ids is None:
                return list(conn.execute(query).all())
            rows: list[sa.Row[Any]] = []
            for chunk in _chunks(sorted(set(ids)), _IN_CHUNK):
                rows.extend(conn.execute(query.where(column.in_(chunk))).all())
            return rows


def _normalise_url(url: str | Path) -> sa.URL:
    """Parse ``url`` (or a bare path) and pick the psycopg 3 driver for PostgreSQL."""
    text = str(url)
    if "://" not in text:
        return sa.URL.create("sqlite", database=str(Path(text).expanduser()))
    try:
        parsed = sa.make_url(text)
    except sa.exc.ArgumentError as error:
        raise StoreError(f"cannot parse database URL {text!r}: {error}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        shown = parsed.render_as_string(hide_password=True)
        raise StoreError(f"database URL {shown}: only sqlite and postgresql are supported")
    return parsed


def _make_engine(url: sa.URL) -> Engine:
    if url.get_backend_name() == "postgresql":
        return sa.create_engine(url, pool_pre_ping=True)
    database = url.database or ""
    if database in ("", ":memory:"):
        # One shared connection, or every pooled connection would see its own empty database.
        return sa.create_engine(
            url, poolclass=sa.StaticPool, connect_args={"check_same_thread": False}
        )
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url)
    sa.event.listen(engine, "connect", _configure_sqlite)
    return engine


SQLITE_CACHE_KIB = 64 * 1024  # per connection
SQLITE_MMAP_BYTES = 1 << 30
SQLITE_WAL_CHECKPOINT_PAGES = 16_384


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers run beside the writer; FULL fsyncs each commit so it survives a crash."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # the event indexes take random keys (event ids, users, items): with SQLite's default
    # 2 MB page cache a 1,000-event batch into a store of a few hundred MB spends most of
    # its time re-reading index pages; a larger cache and memory-mapped reads fix that
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    # SQLite checkpoints the WAL into the database inside a commit once it passes 1,000
    # pages; a batch of random-key index updates dirties ~2,000, so every batch paid for a
    # checkpoint. A larger WAL checkpoints ~10x less often (pages touched twice are copied
    # once) and roughly halves the cost of a batch.
    cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_CHECKPOINT_PAGES}")
    cursor.close()


def _record_key(record: dict[str, Any], key: str, position: int) -> str:
    value = record.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # ids are stored as strings
    if not isinstance(value, str) or not value:
        raise StoreError(f"record {position}: '{key}' must be a non-empty string, got {value!r}")
    return value


def _record_row(
    record: dict[str, Any], record_id: str, key: str, defaults: dict[str, Any], now: float
) -> dict[str, Any]:
    unknown = sorted(set(record) - set(defaults) - {key})
    if unknown:
        raise StoreError(f"record {record_id!r}: unknown field(s) {', '.join(unknown)}")
    row = {key: record_id, "created_at": now, "updated_at": now}
    for name, default in defaults.items():
        value = record.get(name)
        if value is None:
            value = None if default is None else type(default)()
        elif isinstance(default, list):
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise StoreError(f"record {record_id!r}: '{name}' must be a list of strings")
            value = list(value)
        elif isinstance(default, dict):
            if not isinstance(value, dict):
                raise StoreError(f"record {record_id!r}: '{name}' must be a dict")
            value = dict(value)
        row[name] = value
    return row


def _json_or_none(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value)


def _frame(rows: Sequence[Any], columns: dict[str, str]) -> pd.DataFrame:
    """A frame with exactly ``columns`` (and their dtypes), also when ``rows`` is empty."""
    frame = pd.DataFrame.from_records([tuple(row) for row in rows], columns=list(columns))
    return frame.astype(columns)


def _chunks(values: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
