"""The event store, on SQLite and PostgreSQL alike (fixtures in conftest.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import sqlalchemy as sa

from recforge.serving import store as store_module
from recforge.serving import store_schema
from recforge.serving.store import (
    EVENT_COLUMNS,
    ITEM_COLUMNS,
    SCHEMA_VERSION,
    EventRecord,
    EventStore,
    IngestResult,
    SchemaVersionError,
    StoreError,
)

DAY = 86_400.0
T0 = 19_675 * DAY  # 2023-11-14 00:00 UTC, a day boundary

# A small event set with answers worked out by hand in the tests below.
EVENTS = [
    EventRecord("e1", "u1", "i1", "view", 1.0, T0 + 10),
    EventRecord("e2", "u1", "i1", "click", 1.0, T0 + 20),
    EventRecord("e3", "u1", "i2", "view", 1.0, T0 + 30),
    EventRecord("e4", "u2", "i1", "view", 1.0, T0 + DAY + 5),
    EventRecord("e5", "u2", "i1", "purchase", 2.5, T0 + DAY + 6),
    EventRecord("e6", "u3", "i3", "view", 1.0, T0 + 2 * DAY + 1),
    EventRecord("e7", "u1", "i3", "cart", 1.0, T0 + 2 * DAY + 2),
]
HOSTILE_ID = "1'; DROP TABLE events; --"


def event(event_id: str, timestamp: float = T0, **fields: object) -> EventRecord:
    values: dict[str, object] = {"user_id": "u", "item_id": "i", "event": "view", "value": 1.0}
    values.update(fields)
    return EventRecord(event_id=event_id, timestamp=timestamp, **values)  # type: ignore[arg-type]


def records(frame: pd.DataFrame) -> list[tuple[object, ...]]:
    return list(frame.itertuples(index=False, name=None))


# --- schema --------------------------------------------------------------------------------


def test_schema_is_created_with_its_version_and_indexes(store: EventStore) -> None:
    assert store.schema_version() == SCHEMA_VERSION
    inspector = sa.inspect(store.engine)
    assert {"events", "users", "items", "schema_version"} <= set(inspector.get_table_names())
    indexes = {index["name"] for index in inspector.get_indexes("events")}
    assert {"ix_events_user_time", "ix_events_item", "ix_events_time"} <= indexes
    store.create_schema()  # idempotent: one version row, data kept
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM schema_version")).scalar() == 1
    assert store.ping()


def test_newer_schema_version_is_refused(store: EventStore, store_url: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE schema_version SET version = :v"), {"v": SCHEMA_VERSION + 1})
    with pytest.raises(SchemaVersionError, match=rf"version {SCHEMA_VERSION + 1} is newer"):
        EventStore(store_url)


def test_older_schema_version_is_migrated_once(
    store: EventStore, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.add_events(EVENTS[:2])
    calls: list[int] = []

    def add_note_column(conn: sa.Connection) -> None:
        calls.append(1)
        conn.execute(sa.text("ALTER TABLE events ADD COLUMN note VARCHAR(16)"))

    monkeypatch.setattr(store_schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setattr(store_schema, "MIGRATIONS", {SCHEMA_VERSION: add_note_column})
    with EventStore(store_url) as migrated:
        assert migrated.schema_version() == SCHEMA_VERSION + 1
        assert migrated.event_ids() == {"e1", "e2"}
    with EventStore(store_url) as reopened:
        assert reopened.schema_version() == SCHEMA_VERSION + 1
    assert calls == [1]
    columns = {column["name"] for column in sa.inspect(store.engine).get_columns("events")}
    assert "note" in columns


def test_older_schema_version_without_migration_is_refused(
    store: EventStore, store_url: str
) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE schema_version SET version = :v"), {"v": SCHEMA_VERSION - 1})
    with pytest.raises(SchemaVersionError, match=r"no migration from schema version"):
        EventStore(store_url)


# --- ingestion -----------------------------------------------------------------------------


def test_reingesting_a_batch_stores_nothing_new(store: EventStore) -> None:
    assert store.add_events(EVENTS) == IngestResult(stored=7, duplicates=0)
    assert store.add_events(EVENTS) == IngestResult(stored=0, duplicates=7)
    mixed = [*EVENTS[:3], event("new-1"), event("new-2")]
    assert store.add_events(mixed) == IngestResult(stored=2, duplicates=3)
    assert store.counts()["events"] == 9
    assert store.add_events([]) == IngestResult(stored=0, duplicates=0)


def test_duplicates_inside_a_batch_keep_the_first(store: EventStore) -> None:
    batch = [event("a", value=1.0), event("a", value=9.0), event("b"), event("a", value=5.0)]
    assert store.add_events(batch) == IngestResult(stored=2, duplicates=2)
    assert store.event_ids() == {"a", "b"}
    values = dict(zip(*[store.user_events("u")[c] for c in ("event_id", "value")], strict=True))
    assert values == {"a": 1.0, "b": 1.0}


def test_a_large_batch_is_stored_whole(store: EventStore) -> None:
    batch = [
        # integer values and timestamps mixed with floats, as callers may pass them
        event(
            f"ev-{n}",
            int(T0) + n if n % 3 else T0 + n,
            user_id=f"u{n % 7}",
            item_id=f"i{n % 11}",
            value=n % 2 or 0.5,
        )
        for n in range(2500)
    ]
    assert store.add_events(batch) == IngestResult(stored=2500, duplicates=0)
    assert store.counts() == {
        "events": 2500,
        "users": 0,
        "items": 0,
        "event_users": 7,
        "event_items": 11,
    }
    exported = store.export_events()
    assert exported["value"].sum() == 1250 * 1 + 1250 * 0.5
    assert exported["timestamp"].tolist() == [T0 + n for n in range(2500)]


def test_sql_looking_ids_are_stored_verbatim(store: EventStore) -> None:
    hostile = EventRecord(HOSTILE_ID, HOSTILE_ID, HOSTILE_ID, "view", 1.0, T0)
    assert store.add_events([hostile, event("plain")]).stored == 2
    assert store.event_ids() == {HOSTILE_ID, "plain"}
    assert records(store.user_events(HOSTILE_ID)) == [
        (HOSTILE_ID, HOSTILE_ID, HOSTILE_ID, "view", 1.0, T0)
    ]
    assert store.item_event_counts(HOSTILE_ID) == {"view": 1}
    store.upsert_items([{"item_id": HOSTILE_ID, "title": 'it\'s "quoted"; --'}])
    item = store.get_item(HOSTILE_ID)
    assert item is not None and item["title"] == 'it\'s "quoted"; --'
    assert store.counts()["events"] == 2


def test_events_added_through_one_store_are_seen_by_another(
    store: EventStore, store_url: str
) -> None:
    store.add_events(EVENTS[:4])
    with EventStore(store_url) as second:
        assert second.event_ids() == {"e1", "e2", "e3", "e4"}
        assert second.add_events(EVENTS).stored == 3
    assert store.counts()["events"] == 7


def test_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "folder" / "events.db"
    with EventStore(str(path)) as store:  # a bare path means SQLite; folders are created
        assert store.backend == "sqlite"
        store.add_events(EVENTS[:1])
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0
    with sqlite3.connect(path) as raw:  # WAL is recorded in the file itself
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("SELECT event_id FROM events").fetchall() == [("e1",)]


# --- users and items -----------------------------------------------------------------------


def test_upserts_keep_created_at_and_replace_fields(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "time", SimpleNamespace(time=lambda: 100.0))
    item = {"item_id": "i1", "title": "Old", "tags": ["a"], "attributes": {"price": 1.0}}
    assert store.upsert_items([item]) == 1
    assert store.upsert_users([{"user_id": "u1", "region": "north"}]) == 1
    monkeypatch.setattr(store_module, "time", SimpleNamespace(time=lambda: 200.0))
    changed = {"item_id": "i1", "title": "New", "categories": ["c"], "attributes": {"price": 2.0}}
    assert store.upsert_items([changed, {"item_id": "i2"}]) == 2
    assert store.upsert_users([{"user_id": "u1", "age_band": "25-34"}]) == 1

    assert store.get_item("i1") == {
        "item_id": "i1",
        "title": "New",
        "description": None,
        "categories": ["c"],
        "tags": [],  # an upsert replaces the whole record
        "attributes": {"price": 2.0},
        "created_at": 100.0,
        "updated_at": 200.0,
    }
    assert store.get_user("u1") == {
        "user_id": "u1",
        "age_band": "25-34",
        "gender": None,
        "region": None,
        "attributes": {},
        "created_at": 100.0,
        "updated_at": 200.0,
    }
    assert store.get_item("missing") is None and store.get_user("missing") is None
    assert store.counts()["items"] == 2 and store.counts()["users"] == 1


def test_repeated_ids_in_one_upsert_keep_the_last(store: EventStore) -> None:
    assert store.upsert_items([{"item_id": "i1", "title": "A"}, {"item_id": "i1", "title": "B"}])
    item = store.get_item("i1")
    assert item is not None and item["title"] == "B"


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"title": "no id"}, "'item_id' must be a non-empty string"),
        ({"item_id": "i1", "colour": "red"}, "unknown field"),
        ({"item_id": "i1", "tags": "red"}, "'tags' must be a list of strings"),
        ({"item_id": "i1", "attributes": ["x"]}, "'attributes' must be a dict"),
    ],
)
def test_bad_item_records_are_refused(
    store: EventStore, record: dict[str, object], message: str
) -> None:
    with pytest.raises(StoreError, match=message):
        store.upsert_items([record])
    assert store.counts()["items"] == 0


def test_json_fields_round_trip(store: EventStore) -> None:
    attributes = {"brand": "Ünïcode 家", "price": 9.99, "nested": {"list": [1, None, "x"]}}
    store.upsert_items(
        [
            {
                "item_id": "i1",
                "title": "Crème brûlée 🍮",
                "description": "line one\nline two",
                "categories": ["Küche", "家居"],
                "tags": ["a", "b"],
                "attributes": attributes,
            }
        ]
    )
    store.upsert_users([{"user_id": "u1", "attributes": {"langs": ["de", "日本語"]}}])
    context = {"page": "首页", "position": 3, "slate": ["i1", "i2"], "flag": None}
    store.add_events([event("e1", context=context), event("e2")])

    frame = store.items_frame()
    assert list(frame.columns) == list(ITEM_COLUMNS)
    row = frame.iloc[0]
    assert row["title"] == "Crème brûlée 🍮" and row["description"] == "line one\nline two"
    assert row["categories"] == ["Küche", "家居"] and row["attributes"] == attributes
    assert store.users_frame().iloc[0]["attributes"] == {"langs": ["de", "日本語"]}
    events = store_schema.events_table
    with store.engine.connect() as conn:
        stored = dict(conn.execute(sa.select(events.c.event_id, events.c.context)).all())
    assert stored == {"e1": context, "e2": None}


def test_items_frame_selects_ids_and_is_empty_with_columns(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = store.items_frame()
    assert empty.empty and list(empty.columns) == list(ITEM_COLUMNS)
    assert store.users_frame().empty
    store.upsert_items([{"item_id": f"i{n}"} for n in range(6)])
    monkeypatch.setattr(store_module, "_IN_CHUNK", 2)  # several IN (...) chunks
    frame = store.items_frame(["i4", "i0", "i2", "missing", "i4"])
    assert frame["item_id"].tolist() == ["i0", "i2", "i4"]
    assert frame["created_at"].dtype == "float64"
    assert store.items_frame([]).empty


# --- reads and aggregates ------------------------------------------------------------------


def test_user_events_are_the_newest_returned_oldest_first(store: EventStore) -> None:
    store.add_events(EVENTS[::-1])  # arrival order does not matter
    everything = store.user_events("u1")
    assert list(everything.columns) == list(EVENT_COLUMNS)
    assert everything["event_id"].tolist() == ["e1", "e2", "e3", "e7"]
    assert store.user_events("u1", limit=2)["event_id"].tolist() == ["e3", "e7"]
    nobody = store.user_events("nobody")
    assert nobody.empty and list(nobody.columns) == list(EVENT_COLUMNS)


def test_item_counts(store: EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.add_events(EVENTS)
    assert records(store.item_counts()) == [
        ("i1", "click", 1),
        ("i1", "purchase", 1),
        ("i1", "view", 2),
        ("i2", "view", 1),
        ("i3", "cart", 1),
        ("i3", "view", 1),
    ]
    assert records(store.item_counts(since=T0 + DAY)) == [
        ("i1", "purchase", 1),
        ("i1", "view", 1),
        ("i3", "cart", 1),
        ("i3", "view", 1),
    ]
    monkeypatch.setattr(store_module, "_IN_CHUNK", 1)
    assert records(store.item_counts(item_ids=["i2", "i9", "i3"])) == [
        ("i2", "view", 1),
        ("i3", "cart", 1),
        ("i3", "view", 1),
    ]
    assert store.item_counts(since=T0 + 9 * DAY).columns.tolist() == ["item_id", "event", "count"]
    assert store.item_event_counts("i1") == {"view": 2, "click": 1, "purchase": 1}
    assert store.item_event_counts("i9") == {}


def test_events_over_time(store: EventStore) -> None:
    store.add_events(EVENTS)
    assert records(store.events_over_time()) == [
        (T0, "click", 1),
        (T0, "view", 2),
        (T0 + DAY, "purchase", 1),
        (T0 + DAY, "view", 1),
        (T0 + 2 * DAY, "cart", 1),
        (T0 + 2 * DAY, "view", 1),
    ]
    hourly = store.events_over_time(bucket_seconds=3600, since=T0 + DAY + 6)
    assert records(hourly) == [
        (T0 + DAY, "purchase", 1),
        (T0 + 2 * DAY, "cart", 1),
        (T0 + 2 * DAY, "view", 1),
    ]
    with pytest.raises(StoreError, match="bucket_seconds"):
        store.events_over_time(bucket_seconds=0)


def test_buckets_floor_timestamps_before_the_epoch(store: EventStore) -> None:
    store.add_events([event("a", -0.5), event("b", -1.0), event("c", 0.5), event("d", -10.0)])
    assert records(store.events_over_time(bucket_seconds=1)) == [
        (-10.0, "view", 1),
        (-1.0, "view", 2),
        (0.0, "view", 1),
    ]


def test_active_users(store: EventStore) -> None:
    store.add_events(EVENTS)
    assert records(store.active_users()) == [
        ("u1", 4, T0 + 2 * DAY + 2),
        ("u2", 2, T0 + DAY + 6),
        ("u3", 1, T0 + 2 * DAY + 1),
    ]
    assert store.active_users(limit=1)["user_id"].tolist() == ["u1"]
    assert store.active_users(since=T0 + DAY)["user_id"].tolist() == ["u2", "u1", "u3"]


def test_counts(store: EventStore) -> None:
    assert store.counts() == dict.fromkeys(
        ("events", "users", "items", "event_users", "event_items"), 0
    )
    store.add_events(EVENTS)
    store.upsert_users([{"user_id": "u1"}, {"user_id": "u-no-events"}])
    store.upsert_items([{"item_id": "i1"}])
    assert store.counts() == {
        "events": 7,
        "users": 2,
        "items": 1,
        "event_users": 3,
        "event_items": 3,
    }


def test_export_is_ordered_by_time_then_arrival(store: EventStore) -> None:
    assert store.export_events().columns.tolist() == [
        "user_id",
        "item_id",
        "event",
        "value",
        "timestamp",
    ]
    store.add_events([EVENTS[6], EVENTS[0], event("same-1", T0 + 10, user_id="late")])
    store.add_events([*EVENTS[1:6], event("same-2", T0 + 10, user_id="later")])
    exported = store.export_events(chunk_size=2)
    assert records(exported) == [
        ("u1", "i1", "view", 1.0, T0 + 10),
        ("late", "i", "view", 1.0, T0 + 10),
        ("later", "i", "view", 1.0, T0 + 10),
        ("u1", "i1", "click", 1.0, T0 + 20),
        ("u1", "i2", "view", 1.0, T0 + 30),
        ("u2", "i1", "view", 1.0, T0 + DAY + 5),
        ("u2", "i1", "purchase", 2.5, T0 + DAY + 6),
        ("u3", "i3", "view", 1.0, T0 + 2 * DAY + 1),
        ("u1", "i3", "cart", 1.0, T0 + 2 * DAY + 2),
    ]
    assert exported["timestamp"].dtype == "float64"


# --- URLs ----------------------------------------------------------------------------------


def test_postgresql_urls_use_psycopg_and_hide_the_password() -> None:
    store = EventStore("postgresql://user:s3cret@127.0.0.1:1/db", create=False)
    assert store.backend == "postgresql"
    assert store.engine.url.drivername == "postgresql+psycopg"
    assert "s3cret" not in store.url and "s3cret" not in repr(store)
    assert not store.ping()  # nothing listens on port 1
    store.close()


def test_unsupported_urls_are_refused() -> None:
    with pytest.raises(StoreError, match="only sqlite and postgresql"):
        EventStore("mysql://user:pw@host/db", create=False)
