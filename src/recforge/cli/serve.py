"""``recforge serve`` and ``recforge demo --serve``: uvicorn around ``create_app``, with
JSON-lines logs."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from rich.console import Console

from recforge.serving.settings import ServingSettings

logger = logging.getLogger(__name__)

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}


class JsonFormatter(logging.Formatter):
    """One JSON object per log line: time, level, logger, message and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def log_config(level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the server: JSON lines on stderr; uvicorn's own
    access log off (recforge's access logger carries route, status and latency)."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": handler},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn.access": {"level": "WARNING"},
            "uvicorn": {"level": level},
        },
    }


def _one_thread_per_request() -> None:
    """A request is a few milliseconds of small tensor and FAISS work: intra-op threads
    would only fight each other (and the other workers) for the cores."""
    import faiss
    import torch

    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)


def app_factory() -> Any:
    """Build the app from the environment (what every worker process runs)."""
    from recforge.serving.app import create_app

    _one_thread_per_request()
    settings = ServingSettings.load(
        os.environ.get("RECFORGE_SERVE_CONFIG") or None,
        db=os.environ.get("RECFORGE_DB") or None,
        models_dir=os.environ.get("RECFORGE_MODELS") or None,
    )
    return create_app(settings)


def _uvicorn_config(host: str, port: int) -> Any:
    import uvicorn

    return uvicorn.Config(
        "recforge.cli.serve:app_factory",
        factory=True,
        host=host,
        port=port,
        log_config=log_config(),
    )


def _worker(host: str, port: int) -> None:
    """One server process on its own ``SO_REUSEPORT`` socket."""
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    uvicorn.Server(_uvicorn_config(host, port)).run(sockets=[sock])


def run_server(
    *,
    db: str,
    models: Path | None,
    config: Path | None,
    host: str,
    port: int,
    workers: int = 1,
) -> None:
    """Serve until SIGINT/SIGTERM.

    Several workers each bind their own ``SO_REUSEPORT`` socket, so the kernel spreads
    connections evenly over them (with one shared socket, a burst of keep-alive
    connections can all land on whichever process accepts first). A worker that dies is
    restarted; every worker follows the models folder on its own.
    """
    import uvicorn

    # validate the settings here, so a bad config fails before anything starts
    ServingSettings.load(config, db=db, models_dir=None if models is None else str(models))
    # the workers build the app from the environment (see app_factory)
    os.environ["RECFORGE_DB"] = db
    if models is not None:
        os.environ["RECFORGE_MODELS"] = str(models)
    if config is not None:
        os.environ["RECFORGE_SERVE_CONFIG"] = str(config)
    if workers <= 1:
        uvicorn.Server(_uvicorn_config(host, port)).run()
        return
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> BaseProcess:
        process = context.Process(target=_worker, args=(host, port), daemon=False)
        process.start()
        return process

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for process in processes:
            if process.is_alive():
                os.kill(process.pid or 0, signal.SIGTERM)

    processes = [start() for _ in range(workers)]
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        for slot, process in enumerate(processes):
            process.join(timeout=0.5 / workers)
            if not process.is_alive() and not stopping:
                logger.warning(
                    "worker %s exited (%s); restarting it", process.pid, process.exitcode
                )
                processes[slot] = start()
    for process in processes:
        process.join(timeout=30)


def serve_demo(console: Console, *, out: Path, seed: int, port: int) -> None:
    """Generate the shop, store it, retrain from the store, serve it with the dashboard."""
    from recforge.cli.online import retrain, shop_to_store
    from recforge.data.synthetic import generate_shop
    from recforge.serving.store import EventStore

    out.mkdir(parents=True, exist_ok=True)
    db = out / "shop.db"
    models = out / "models"
    store = EventStore(str(db))
    try:
        console.print("generating the synthetic shop and storing it ...")
        stored = shop_to_store(generate_shop(seed=seed), store, end_at=time.time() - 3600)
        counts = store.counts()
        console.print(
            f"store {db}: {counts['events']} events ({stored} new), {counts['items']} items"
        )
        if not (models / "active.json").is_file():
            console.print("training iALS from the stored events ...")
            result = retrain(store, models)
            metrics = result.test.metrics
            console.print(
                f"model run {result.run_dir.name}: test HR@10 {metrics['hr@10']:.4f}, "
                f"NDCG@10 {metrics['ndcg@10']:.4f} (latest event per user held out)"
            )
    finally:
        store.close()
    console.print(
        f"[bold]serving on http://127.0.0.1:{port}/[/bold] — dashboard at /, API docs at /docs "
        "(Ctrl-C stops)"
    )
    sys.stdout.flush()
    run_server(db=str(db), models=models, config=None, host="127.0.0.1", port=port)
