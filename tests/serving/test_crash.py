"""Nothing acknowledged is lost when the server dies: ``kill -9`` during sustained ingestion.

The real server runs as a subprocess (``recforge serve``). Client threads send batches of
events with unique ``event_id``s and record which batches were acknowledged (200). Once some
batches are acknowledged and others are in flight, the server gets ``SIGKILL``. After a restart
on the same database every acknowledged event must be there; retrying the batches whose answer
was lost (same ``event_id``s) must store each event exactly once. Runs on SQLite, and on
PostgreSQL when ``$RECFORGE_TEST_POSTGRES`` is set (the ``store_url`` fixture in conftest.py).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from shopdata import free_port

from recforge.serving.store import EventStore

pytestmark = pytest.mark.timeout(60)

N_BATCHES = 40
BATCH_SIZE = 200
CLIENTS = 4
KILL_AFTER_ACKS = 8  # acknowledged batches before the kill
WRITE_KEY = "crash-write-key"
START_SECONDS = 20.0


def batch_of(number: int) -> list[dict[str, object]]:
    return [
        {
            "event_id": f"crash-{number}-{row}",
            "user_id": f"u{(number * BATCH_SIZE + row) % 97}",
            "item_id": f"i{(number * 7 + row) % 151}",
            "event": "view",
        }
        for row in range(BATCH_SIZE)
    ]


@contextmanager
def server(db: str, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``recforge serve --db DB`` on a free loopback port; yields the process and base URL.
    Killed (not asked) at exit if it is still running."""
    port = free_port()
    env = {
        **os.environ,
        "RECFORGE_WRITE_KEYS": WRITE_KEY,
        "RECFORGE_READ_KEYS": "",
        "RECFORGE_ADMIN_KEYS": "",
        "OMP_NUM_THREADS": "1",
    }
    command = [
        sys.executable,
        "-c",
        "from recforge.cli.main import main; main()",
        "serve",
        "--db",
        db,
        "--port",
        str(port),
    ]
    with log.open("ab") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"server not up after {START_SECONDS} s:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


class Ingestion:
    """Client threads taking batch numbers from a queue; each batch is acknowledged (200 with
    every row counted as stored or duplicate) or lost (no answer)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.todo: queue.SimpleQueue[int] = queue.SimpleQueue()
        for number in range(N_BATCHES):
            self.todo.put(number)
        self.lock = threading.Lock()
        self.acknowledged: dict[int, int] = {}  # batch -> events the answer says it stored
        self.lost: set[int] = set()
        self.errors: list[str] = []
        self.enough = threading.Event()

    def run(self) -> None:
        with httpx.Client(headers={"X-API-Key": WRITE_KEY}, timeout=10.0) as client:
            while True:
                try:
                    number = self.todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    response = client.post(f"{self.url}/v1/events", json=batch_of(number))
                except httpx.TransportError:
                    with self.lock:
                        self.lost.add(number)
                    continue
                body = response.json()
                with self.lock:
                    if response.status_code != 200 or (
                        body["stored"] + body["duplicates"] != BATCH_SIZE
                    ):
                        self.errors.append(f"batch {number}: {response.status_code} {body}")
                        continue
                    self.acknowledged[number] = body["stored"]
                    if len(self.acknowledged) >= KILL_AFTER_ACKS:
                        self.enough.set()


def stored_ids(db: str) -> tuple[set[str], int]:
    """The stored event ids and the number of event rows."""
    with EventStore(db) as store:
        return store.event_ids(), store.counts()["events"]


def test_kill_9_during_ingestion_loses_nothing_acknowledged(store_url: str, tmp_path: Path):
    log = tmp_path / "server.log"
    sent = {event["event_id"] for n in range(N_BATCHES) for event in batch_of(n)}

    with server(store_url, log) as (process, url):
        ingestion = Ingestion(url)
        clients = [threading.Thread(target=ingestion.run) for _ in range(CLIENTS)]
        for thread in clients:
            thread.start()
        assert ingestion.enough.wait(timeout=15), f"no acks:\n{log.read_text()[-3000:]}"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        for thread in clients:
            thread.join(timeout=15)
        assert not any(thread.is_alive() for thread in clients)
    assert not ingestion.errors

    acknowledged = dict(ingestion.acknowledged)
    unanswered = sorted(set(range(N_BATCHES)) - set(acknowledged))
    assert len(acknowledged) >= KILL_AFTER_ACKS
    assert unanswered, "the kill came after the last batch: nothing was in flight"
    acked_ids = {event["event_id"] for n in acknowledged for event in batch_of(n)}

    # Durability: every acknowledged event survived the kill, and nothing half-written is there.
    survived, rows = stored_ids(store_url)
    assert acked_ids <= survived
    assert survived <= sent
    assert rows == len(survived)

    # Retry what got no answer (lost in flight or never sent) on a restarted server.
    with (
        server(store_url, log) as (_, url),
        httpx.Client(headers={"X-API-Key": WRITE_KEY}, timeout=10.0) as client,
    ):
        retried_stored = 0
        for number in unanswered:
            response = client.post(f"{url}/v1/events", json=batch_of(number))
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["stored"] + body["duplicates"] == BATCH_SIZE
            retried_stored += body["stored"]
        # A retry of an already acknowledged batch is a no-op too.
        again = client.post(f"{url}/v1/events", json=batch_of(min(acknowledged))).json()
        assert (again["stored"], again["duplicates"]) == (0, BATCH_SIZE)

    ids, rows = stored_ids(store_url)
    assert ids == sent
    assert rows == len(sent)  # no event stored twice
    # The retries stored exactly what the kill had not: batches committed just before it
    # (their answer lost) came back as duplicates.
    assert retried_stored == len(sent - survived)
    assert sum(acknowledged.values()) == len(acked_ids)
