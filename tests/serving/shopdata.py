"""A small synthetic shop in an event store with a trained model, and a live server on a
free loopback port: what the API, dashboard, crash and fuzz tests share."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from recforge.cli.online import retrain, shop_to_store
from recforge.data.synthetic import ShopConfig, generate_shop
from recforge.serving.store import EventStore

#: the shop ends one hour before the tests run, so time decay and trending make sense
SHOP = ShopConfig(n_users=300, n_items=200)


@dataclass(frozen=True)
class ShopDeployment:
    db: str  # SQLite path of the store
    models: Path  # models folder with one active iALS run
    run: str  # the active run's name


def deploy_shop(folder: Path, *, seed: int = 0) -> ShopDeployment:
    """Store the shop under ``folder`` and train the default retrain model on it (~3 s)."""
    db = str(folder / "shop.db")
    models = folder / "models"
    store = EventStore(db)
    try:
        shop_to_store(generate_shop(SHOP, seed=seed), store, end_at=time.time() - 3600)
        result = retrain(store, models)
    finally:
        store.close()
    return ShopDeployment(db=db, models=models, run=result.run_dir.name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """Run ``app`` with uvicorn in a thread on a free loopback port; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
