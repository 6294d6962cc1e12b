"""The "ranker on" part of ``benchmarks/serving.py``: the latency of one recommendation with
a DIN rank stage re-ordering 100 recalled candidates, against the same run without it.

The served run gets a rank stage (``recforge rank-stage RUN --model din --db STORE``); then
the same requests run with ``rank_candidates = 100`` (on) and ``0`` (off):

- in process: ``RecommendationService.recommend(user, k=10)`` timed one by one, one thread
  (torch and FAISS), the same random users for both;
- over HTTP: ``recforge serve`` (1 worker) driven by ``wrk`` at concurrency 1 (when the
  script measures HTTP at all), the same random users for both.

Repetitions interleave off and on; the report gives p50/p95/p99 in ms as medians over the
repetitions (min–max) and the on/off ratios of those medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np

from _common import ROOT, environment, environment_markdown, load_raw, median_text, save_raw

PERCENTILES = (50, 95, 99)
MODES = ("off", "on")
QUICK_RAW = ROOT / "runs" / "bench" / "serving-ranker-quick.json"
"""Where a smoke run (``--quick``) keeps its results, out of docs/."""

Server = Callable[..., AbstractContextManager[tuple[str, float]]]


def measure(
    folder: Path,
    args: argparse.Namespace,
    server: Server,
    wrk: Callable[..., dict[str, Any]],
    read_key: str,
) -> dict[str, Any]:
    """Train a DIN rank stage on the active run of ``folder``, then time requests with it on
    and off (``server`` and ``wrk`` are serving.py's)."""
    from recforge.serving.registry import ModelRegistry

    run_dir = folder / "models" / ModelRegistry(folder / "models").pointer()["current"]
    payload: dict[str, Any] = {
        "environment": environment(),
        "quick": args.quick,
        "note": args.note,
        "candidates": args.rank_candidates,
        "repeats": args.repeats,
        "requests": args.ranker_requests,
        "seconds": args.seconds,
        "cpu_count": os.cpu_count(),
    }
    print(f"training the DIN rank stage of {run_dir} ...", flush=True)
    payload["stage"] = train_stage(run_dir, args.db, args.rank_epochs)
    print(payload["stage"], flush=True)
    payload["load_before"] = load_average()
    payload["in_process"] = in_process(
        folder,
        args.db,
        args.users,
        args.ranker_requests,
        args.repeats,
        args.rank_candidates,
        args.seed,
    )
    env = {
        "BENCH_USERS": str(args.users),
        "BENCH_ITEMS": str(args.items),
        "BENCH_K": "10",
        "BENCH_MODE": "recommend",
        "BENCH_KEY": read_key,
    }
    payload["http"] = over_http(
        folder,
        args.db,
        server,
        wrk,
        env,
        args.seconds,
        args.repeats,
        args.rank_candidates,
        args.start_timeout,
    )
    payload["load_after"] = load_average()
    return payload


def load_results(quick: bool) -> dict[str, Any] | None:
    """The ranker on/off results: the smoke run's under runs/, else the raw file."""
    if not quick:
        return load_raw("serving_ranker")
    return json.loads(QUICK_RAW.read_text()) if QUICK_RAW.is_file() else None


def save_results(payload: dict[str, Any]) -> None:
    if payload["quick"]:
        QUICK_RAW.write_text(json.dumps(payload, indent=2, default=float))
    else:
        save_raw("serving_ranker", payload)


def train_stage(run_dir: Path, db: str, epochs: int) -> dict[str, Any]:
    """Train the default DIN rank stage of ``run_dir`` from the store; facts for the report."""
    from recforge.cli.rank_stage import train_rank_stage

    start = time.perf_counter()
    done = train_rank_stage(run_dir, "din", [], epochs=epochs, db=db, progress=False)
    return {
        "model": "DIN (default config: embedding 18, attention 80-40, MLP 200-80, history 50)",
        "epochs": epochs,
        "train_seconds": round(time.perf_counter() - start, 1),
        "valid": {name: round(value, 4) for name, value in done.valid.items()},
        "data": done.description,
    }


def in_process(
    folder: Path, db: str, users: int, requests: int, repeats: int, candidates: int, seed: int
) -> dict[str, list[dict[str, float]]]:
    """Per mode, one record per repetition: latency percentiles (ms) of ``requests`` calls."""
    import faiss
    import torch

    from recforge.serving.registry import ModelRegistry
    from recforge.serving.service import RecommendationService
    from recforge.serving.settings import ServingSettings
    from recforge.serving.store import EventStore

    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    with EventStore(db) as store:
        registry = ModelRegistry(folder / "models")
        services = {}
        for mode in MODES:
            settings = ServingSettings(
                db=db,
                models_dir=str(folder / "models"),
                rank_candidates=candidates if mode == "on" else 0,
            )
            services[mode] = RecommendationService(store, settings, registry)
        services["off"].start()  # the content index, built once and shared
        services["on"].content = services["off"].content
        bundle = registry.current()
        assert bundle is not None and bundle.rank_stage is not None, "no rank stage loaded"
        warm = np.random.default_rng(seed + 999).integers(0, users, 50)
        for mode in MODES:
            for user in warm:
                services[mode].recommend(str(user), k=10)
        for repeat in range(repeats):
            chosen = np.random.default_rng(seed + repeat).integers(0, users, requests)
            for mode in MODES:
                service = services[mode]
                seconds = np.empty(requests)
                for position, user in enumerate(chosen):
                    start = time.perf_counter()
                    answer = service.recommend(str(user), k=10)
                    seconds[position] = time.perf_counter() - start
                sources = {item["source"] for item in answer["items"]}
                results[mode].append(
                    {f"p{q}_ms": float(np.percentile(seconds, q) * 1e3) for q in PERCENTILES}
                    | {"mean_ms": float(seconds.mean() * 1e3), "requests": requests}
                )
                print(
                    f"in-process ranker {mode} (last answer {sorted(sources)}): "
                    f"{_line(results[mode][-1])}",
                    flush=True,
                )
    return results


def over_http(
    folder: Path,
    db: str,
    server: Server,
    wrk: Callable[..., dict[str, Any]],
    env: dict[str, str],
    seconds: float,
    repeats: int,
    candidates: int,
    timeout: float,
) -> dict[str, list[dict[str, float]]]:
    """Per mode, one record per repetition: ``wrk`` percentiles (ms) at concurrency 1 against
    two servers (1 worker each) that differ only in ``rank_candidates``."""
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    configs = {}
    for mode in MODES:
        configs[mode] = folder / f"ranker-{mode}.toml"
        configs[mode].write_text(f"rank_candidates = {candidates if mode == 'on' else 0}\n")
    off_log, on_log = (folder / f"server-ranker-{mode}.log" for mode in MODES)
    with (
        server(folder, db, 1, off_log, timeout, config=configs["off"]) as (off_url, _),
        server(folder, db, 1, on_log, timeout, config=configs["on"]) as (on_url, _),
    ):
        urls = {"off": off_url, "on": on_url}
        for mode in MODES:  # warm-up
            wrk(urls[mode], connections=1, seconds=min(2.0, seconds), env=env)
        for repeat in range(repeats):
            for mode in MODES:
                result = wrk(
                    urls[mode],
                    connections=1,
                    seconds=seconds,
                    env={**env, "BENCH_SEED": str(repeat)},
                )
                record = {f"p{q}_ms": result[f"p{q}_us"] / 1e3 for q in PERCENTILES}
                record |= {"requests_per_s": result["requests_per_s"], "errors": result["errors"]}
                results[mode].append(record)
                print(f"HTTP ranker {mode}: {_line(record)}", flush=True)
    return results


def _line(record: dict[str, float]) -> str:
    return ", ".join(f"p{q} {record[f'p{q}_ms']:.2f} ms" for q in PERCENTILES)


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def render(payload: dict[str, Any], level: str = "##") -> list[str]:
    """The report section of a :func:`measure` payload."""
    stage = payload["stage"]
    candidates = payload["candidates"]
    lines = [
        f"{level} Recall then rank: a DIN rank stage behind the server",
        "",
        f"{_store_text(payload.get('setup'))}, with a rank stage trained on it (`recforge rank-stage "
        f"RUN --model din --db STORE`: {stage['model']}, {stage['epochs']} epoch(s), "
        f"{stage['train_seconds']} s, validation AUC {stage['valid'].get('auc', float('nan')):.3f}). "
        f"Ranker on: `rank_candidates = {candidates}` (iALS recalls {candidates} candidates, DIN "
        "orders them over the user's live history); off: `rank_candidates = 0` (the iALS order). "
        f"Requests: `k=10` for random users, the same users on and off; one thread; "
        f"{payload['repeats']} interleaved repetitions, median (min–max); "
        f"{payload['requests']:,} calls per repetition in process, {payload['seconds']:g} s of "
        "`wrk` at concurrency 1 against one worker per repetition over HTTP.",
        "",
        "| path | ranker | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|---|",
    ]
    paths = [("in process (`RecommendationService.recommend`)", payload["in_process"])]
    if payload.get("http"):
        paths.append(("HTTP (`recforge serve`, 1 worker, wrk -c1)", payload["http"]))
    for name, runs in paths:
        for mode in MODES:
            cells = [median_text([r[f"p{q}_ms"] for r in runs[mode]], 2) for q in PERCENTILES]
            label = f"on (DIN, {candidates} candidates)" if mode == "on" else "off"
            lines.append(f"| {name} | {label} | {' | '.join(cells)} |")
    lines += ["", "| path | p50 on/off | p95 on/off | p99 on/off |", "|---|---|---|---|"]
    for name, runs in paths:
        ratios = [
            statistics.median(r[f"p{q}_ms"] for r in runs["on"])
            / statistics.median(r[f"p{q}_ms"] for r in runs["off"])
            for q in PERCENTILES
        ]
        lines.append(f"| {name} | " + " | ".join(f"{ratio:.2f}x" for ratio in ratios) + " |")
    lines += [
        "",
        f"Notes: {payload.get('note') or '-'} Load average (1, 5, 15 min) before "
        f"{payload['load_before']}, after {payload['load_after']}; machine: "
        f"{payload['cpu_count']} cores. Rank-stage data: {stage['data']}",
    ]
    return lines


def _store_text(setup: dict[str, Any] | None) -> str:
    if setup is None:
        return "The store and iALS run above"
    return (
        f"Store: SQLite, {setup['items']:,} items, {setup['users']:,} users, "
        f"{setup['events']:,} events, drawn as above; recall: {setup['model']}"
    )


def render_only(payload: dict[str, Any]) -> str:
    """The report when only the ranker comparison has results."""
    lines = ["# Serving under load (only the ranker comparison has results)", ""]
    lines += render(payload)
    lines += ["", "## Environment", "", environment_markdown(payload["environment"]), ""]
    return "\n".join(lines)
