"""The online loop from the command line: fill a store with the shop, retrain from stored
events into the models folder, serve.

``retrain`` is the bridge between the layers that may not meet elsewhere: it reads the event
store (``serving``) and trains with ``training``; only the CLI sees both.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from recforge.core.errors import RecforgeError
from recforge.data.dataset import DataConfig, prepare_tables
from recforge.data.synthetic import Shop
from recforge.data.tables import Tables, make_interactions
from recforge.models.ials import IALSConfig
from recforge.serving.registry import ModelRegistry
from recforge.serving.store import EventRecord, EventStore
from recforge.training.experiment import (
    EvalConfig,
    ExperimentConfig,
    ModelSpec,
    RunResult,
    load_experiment,
    run_experiment,
)

logger = logging.getLogger(__name__)

#: what ``recforge retrain`` trains without a config: iALS folds live events into the user
#: vector at serving time and was the most accurate model on the NCF benchmark
DEFAULT_RETRAIN = ExperimentConfig(
    model=ModelSpec("ials", IALSConfig(factors=64, alpha=4.0, regularization=10.0)),
    name="ials",
    data=DataConfig(dataset="store", split="leave_one_out_time", eval_negatives=0),
    evaluation=EvalConfig(protocol="full", ks=(10, 20)),
)


def shop_to_store(
    shop: Shop, store: EventStore, *, end_at: float | None = None, batch_size: int = 50_000
) -> int:
    """Copy the synthetic shop's catalogue, users and events into ``store``; returns the
    number of events stored (ids ``shop-ROW`` make a second copy a no-op).

    Args:
        shop: the generated shop.
        store: the event store.
        end_at: shift all timestamps so the last event happens at this epoch time (a demo
            shop that "ends now" gives time-decayed profiles and trending lists their sense).
        batch_size: events per transaction.
    """
    tables = shop.tables
    items = tables.items
    assert items is not None and tables.users is not None
    store.upsert_items(
        [
            {
                "item_id": str(item_id),
                "title": title,
                "description": description,
                "categories": [category],
                "tags": list(tags),
                "attributes": {"brand": brand, "price": float(price)},
            }
            for item_id, title, description, category, tags, brand, price in zip(
                items["item_id"],
                items["title"],
                items["description"],
                items["category"],
                items["tags"],
                items["brand"],
                items["price"],
                strict=True,
            )
        ]
    )
    store.upsert_users(
        [
            {
                "user_id": str(row.user_id),
                "age_band": row.age_band,
                "gender": row.gender,
                "region": row.region,
                "attributes": {},
            }
            for row in tables.users.itertuples(index=False)
        ]
    )
    frame = tables.interactions
    timestamps = frame["timestamp"].to_numpy(np.float64)
    if end_at is not None and len(timestamps):
        timestamps = timestamps + (end_at - timestamps.max())
    stored = 0
    for start in range(0, len(frame), batch_size):
        part = frame.iloc[start : start + batch_size]
        records = [
            EventRecord(
                event_id=f"shop-{start + offset}",
                user_id=str(user_id),
                item_id=str(item_id),
                event=str(event),
                value=float(value),
                timestamp=float(timestamp),
            )
            for offset, (user_id, item_id, event, value, timestamp) in enumerate(
                zip(
                    part["user_id"],
                    part["item_id"],
                    part["event"],
                    part["value"],
                    timestamps[start : start + batch_size],
                    strict=True,
                )
            )
        ]
        stored += store.add_events(records).stored
    return stored


def store_tables(store: EventStore) -> Tables:
    """The store's events, items and users as canonical tables (string ids)."""
    events = store.export_events()
    if not len(events):
        raise RecforgeError(f"{store.url}: no events stored; nothing to train on")
    timestamps = events["timestamp"].to_numpy(np.float64)
    interactions = make_interactions(
        events["user_id"].astype(str).to_numpy(),
        events["item_id"].astype(str).to_numpy(),
        event=events["event"].astype(str).to_numpy(),
        value=events["value"].to_numpy(np.float64),
        timestamp=np.floor(timestamps).astype(np.int64),
        source=str(store.url),
    )
    items = store.items_frame()
    users = store.users_frame()
    return Tables(
        interactions=interactions,
        items=items if len(items) else None,
        users=users if len(users) else None,
        name="store",
    )


def retrain(
    store: EventStore,
    models_dir: Path,
    *,
    config: ExperimentConfig | None = None,
    activate: bool = True,
) -> RunResult:
    """Train a model on everything in ``store`` into a new run of ``models_dir``; with
    ``activate`` make it the active run (servers watching the folder switch to it)."""
    config = config or DEFAULT_RETRAIN
    tables = store_tables(store)
    data = prepare_tables(tables, replace(config.data, dataset="store"))
    run = f"{config.model.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = models_dir / run
    suffix = 1
    while run_dir.exists():
        suffix += 1
        run_dir = models_dir / f"{run}-{suffix}"
    logger.info(
        "retraining %s on %d events into %s",
        config.model.name,
        len(tables.interactions),
        run_dir,
    )
    result = run_experiment(config, run_dir=run_dir, data=data)
    if activate:
        ModelRegistry(models_dir).activate(run_dir.name)
    return result


def load_retrain_config(path: Path | None, overrides: list[str]) -> ExperimentConfig:
    """An experiment TOML for retraining (its ``data.dataset`` is ignored: the data is the
    store), or the default iALS set-up."""
    if path is None:
        if overrides:
            raise RecforgeError("--set needs --config (the default retrain config is built in)")
        return DEFAULT_RETRAIN
    return load_experiment(path, overrides)
