"""Training throughput of the ranking (CTR) models on MovieLens-100K, per batch size and
thread count.

The features are built once as `benchmarks/ranking.py --dataset ml-100k` builds them (DIN's
next-behaviour protocol, histories of the latest 50 behaviours, sampled history negatives
for DIEN's auxiliary loss) and the first `--rows` training rows are kept. Each neural model,
with its parameters in the ranking benchmark (`SEQUENCE_SEARCH`), trains one epoch over them
with `fit_ranker` and no validation: shuffled batches, forward, BCE (+ DIEN's auxiliary
loss), backward, Adam step. An untimed epoch over 4 batches warms each setting up; then
`--repeats` timed epochs give samples/s = rows / epoch seconds, shown as median (min–max).
The best batch size of a model and thread count is the one with the highest median.
LightGBM and XGBoost (their first ML-100K candidate) fit a fixed 100 rounds on the same rows,
with no early stopping; rows/s = rows / fit seconds, the conversion of the rows to the
library's table included (rows × trees / s would not compare with the neural models).
Threads are set in the process: `torch.set_num_threads`, the GBDT libraries' own
`threads`. Run it on a quiet machine.

    python benchmarks/ranking_speed.py            # under 10 min on 2 quiet cores
    python benchmarks/ranking_speed.py --render   # rewrite the markdown from the raw JSON
    python benchmarks/ranking_speed.py --rows 5000 --repeats 1 --models dnn din --out /tmp/rs
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ranking import GBDT, NEURAL, SEQUENCE_SEARCH, SETUPS, Prepared, prepare
from recforge.core.batches import FeatureBatch
from recforge.models import RANKERS
from recforge.models.gbdt import GBDTConfig, GBDTRanker
from recforge.training.ranking import fit_ranker

from _common import RAW, RESULTS, environment, environment_markdown, median_text, save_raw

NAME = "ranking_speed"
DATASET = "ml-100k"
GBDT_ROUNDS = 100
WARMUP_BATCHES = 4


def neural_speeds(
    name: str, rows: FeatureBatch, data: Prepared, threads: int, batch_size: int, repeats: int
) -> list[float]:
    """samples/s of ``repeats`` timed epochs of ``name`` over ``rows`` (after a warm-up)."""
    torch.set_num_threads(threads)
    params, _ = SEQUENCE_SEARCH[name][0]
    torch.manual_seed(0)
    model_class = RANKERS[name]
    model = model_class(model_class.config_class(**params), data.schema)
    config = replace(
        SETUPS[DATASET].training, epochs=1, batch_size=batch_size, threads=threads, progress=False
    )
    warmup = rows.rows(torch.arange(min(len(rows), WARMUP_BATCHES * batch_size)))
    fit_ranker(model, warmup, None, config)
    return [
        fit_ranker(model, rows, None, replace(config, seed=seed)).samples_per_second
        for seed in range(repeats)
    ]


def gbdt_speeds(
    library: str, rows: FeatureBatch, data: Prepared, threads: int, repeats: int
) -> tuple[list[float], list[float]]:
    """(fit seconds, rows/s) of ``repeats`` fits of a fixed ``GBDT_ROUNDS`` rounds."""
    params, _ = SEQUENCE_SEARCH[library][0]
    config = GBDTConfig(
        **params, n_estimators=GBDT_ROUNDS, early_stopping_rounds=0, seed=0, threads=threads
    )
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        model = GBDTRanker(config).fit(rows, None, data.schema)
        seconds.append(time.perf_counter() - started)
        if model.n_trees_ != GBDT_ROUNDS:
            raise RuntimeError(f"{library} kept {model.n_trees_} rounds, not {GBDT_ROUNDS}")
    return seconds, [len(rows) / s for s in seconds]


def measure(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    data = prepare(DATASET, SETUPS[DATASET])
    n_rows = min(args.rows, len(data.train))
    if n_rows < args.rows:
        print(f"only {len(data.train):,} training rows: timing {n_rows:,}", flush=True)
    rows = data.train.rows(torch.arange(n_rows))
    print(f"features built in {data.seconds:.1f} s; timing {n_rows:,} rows", flush=True)
    payload: dict[str, Any] = {
        "dataset": DATASET,
        "rows": n_rows,
        "training_rows": len(data.train),
        "repeats": args.repeats,
        "neural": [],
        "gbdt": [],
    }
    neural = [m for m in args.models if m in NEURAL]
    gbdt = [m for m in args.models if m in GBDT]
    settings = len(args.threads) * (len(neural) * len(args.batch_sizes) + len(gbdt))
    done = 0
    for threads in args.threads:
        for name in neural:
            for batch_size in args.batch_sizes:
                load = os.getloadavg()[0]
                speeds = neural_speeds(name, rows, data, threads, batch_size, args.repeats)
                payload["neural"].append(
                    {
                        "model": name,
                        "params": SEQUENCE_SEARCH[name][0][0],
                        "threads": threads,
                        "batch_size": batch_size,
                        "samples_per_second": speeds,
                        "load_before": load,
                    }
                )
                done += 1
                print(
                    f"[{done}/{settings}] {name} threads={threads} batch={batch_size}: "
                    f"{median_text(speeds, 0)} samples/s "
                    f"({time.perf_counter() - started:.0f} s elapsed)",
                    flush=True,
                )
        for library in gbdt:
            load = os.getloadavg()[0]
            seconds, speeds = gbdt_speeds(library, rows, data, threads, args.repeats)
            payload["gbdt"].append(
                {
                    "library": library,
                    "params": SEQUENCE_SEARCH[library][0][0],
                    "threads": threads,
                    "rounds": GBDT_ROUNDS,
                    "seconds": seconds,
                    "rows_per_second": speeds,
                    "load_before": load,
                }
            )
            done += 1
            print(
                f"[{done}/{settings}] {library} threads={threads}: {median_text(seconds, 1)} s, "
                f"{median_text(speeds, 0)} rows/s ({time.perf_counter() - started:.0f} s elapsed)",
                flush=True,
            )
    payload["environment"] = {**environment(), "threads": "per row of the tables"}
    payload["seconds"] = round(time.perf_counter() - started, 1)
    return payload


def best_batch(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return max(runs, key=lambda run: statistics.median(run["samples_per_second"]))


def neural_table(payload: dict[str, Any]) -> list[str]:
    batch_sizes = sorted({run["batch_size"] for run in payload["neural"]})
    lines = [
        "| model | threads | "
        + " | ".join(f"batch {b:,}" for b in batch_sizes)
        + " | best batch | 2 threads / 1 thread (best batches) |",
        "|---|---|" + "---|" * len(batch_sizes) + "---|---|",
    ]
    by_setting = {(r["model"], r["threads"], r["batch_size"]): r for r in payload["neural"]}
    for name in NEURAL:
        best_of = {}
        for threads in sorted({r["threads"] for r in payload["neural"]}):
            runs = [r for r in payload["neural"] if r["model"] == name and r["threads"] == threads]
            if runs:
                best_of[threads] = best_batch(runs)
        for threads, best in best_of.items():
            cells = []
            for size in batch_sizes:
                run = by_setting.get((name, threads, size))
                text = median_text(run["samples_per_second"], 0) if run else "-"
                cells.append(f"**{text}**" if run is best else text)
            ratio = ""
            if threads == 2 and 1 in best_of:
                one = statistics.median(best_of[1]["samples_per_second"])
                ratio = f"{statistics.median(best['samples_per_second']) / one:.2f}x"
            lines.append(
                f"| {name} | {threads} | {' | '.join(cells)} | {best['batch_size']:,} | {ratio} |"
            )
    return lines


def gbdt_table(payload: dict[str, Any]) -> list[str]:
    lines = [
        f"| library | params | threads | fit s ({GBDT_ROUNDS} rounds) | rows/s |",
        "|---|---|---|---|---|",
    ]
    for run in payload["gbdt"]:
        params = ", ".join(f"{k}={v}" for k, v in run["params"].items() if k != "library")
        lines.append(
            f"| {run['library']} | {params} | {run['threads']} | {median_text(run['seconds'], 2)} "
            f"| {median_text(run['rows_per_second'], 0)} |"
        )
    return lines


def render(payload: dict[str, Any], raw_path: str) -> str:
    lines = [
        "# Ranking models: training speed",
        "",
        *[" ".join(block.split()) for block in __doc__.split("\n\n")[1:2]],
        "",
        f"Written by `python benchmarks/ranking_speed.py`; raw: `{raw_path}`. Accuracy of "
        "the same configurations: [ranking.md](ranking.md) (`ml-100k`).",
        "",
        f"{payload['rows']:,} of the {payload['training_rows']:,} training rows, "
        f"timed epochs (GBDT: fits) per setting: {payload['repeats']}; the whole run took "
        f"{payload['seconds']:.0f} s.",
        "",
    ]
    if payload["neural"]:
        lines += [
            "## Neural rankers: training samples/s (best batch size in bold)",
            "",
            *neural_table(payload),
            "",
            "| model | parameters (`benchmarks/ranking.py`, ml-100k) |",
            "|---|---|",
        ]
        for name in NEURAL:
            run = next((r for r in payload["neural"] if r["model"] == name), None)
            if run:
                lines.append(
                    f"| {name} | {', '.join(f'{k}={v}' for k, v in run['params'].items())} |"
                )
        lines.append("")
    if payload["gbdt"]:
        lines += [
            f"## Gradient-boosted trees: rows/s of fitting {GBDT_ROUNDS} rounds",
            "",
            *gbdt_table(payload),
            "",
        ]
    loads = [run["load_before"] for run in (*payload["neural"], *payload["gbdt"])]
    cores = payload["environment"].get("cpu_count")
    lines += [
        f"1-minute load average before each setting: median {statistics.median(loads):.1f}, "
        f"max {max(loads):.1f} on {cores} cores. It includes this benchmark's own process "
        "(about its thread count); more means other work shared the cores and the numbers "
        "are low.",
        "",
        "## Environment",
        "",
        environment_markdown(payload["environment"]),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--models", nargs="+", choices=[*NEURAL, *GBDT], default=[*NEURAL, *GBDT])
    parser.add_argument("--rows", type=int, default=50_000, help="training rows timed")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--render", action="store_true", help="only rewrite the markdown")
    parser.add_argument(
        "--out", type=Path, default=None, help="write the JSON and markdown here, not docs/results"
    )
    args = parser.parse_args()
    if min(args.rows, args.repeats, *args.threads, *args.batch_sizes) < 1:
        parser.error("--rows, --repeats, --threads and --batch-sizes must be >= 1")
    logging.basicConfig(level=logging.WARNING)
    raw = (args.out or RAW) / f"{NAME}.json"
    markdown = (args.out or RESULTS) / f"{NAME}.md"
    if args.render:
        if not raw.is_file():
            parser.error(f"{raw} not found: run the benchmark first")
        payload = json.loads(raw.read_text())
    else:
        payload = measure(args)
        if args.out is None:
            save_raw(NAME, payload)
        else:
            args.out.mkdir(parents=True, exist_ok=True)
            raw.write_text(json.dumps(payload, indent=2, default=float))
    shown = "docs/results/raw/ranking_speed.json" if args.out is None else str(raw)
    markdown.write_text(render(payload, shown))
    print(render(payload, shown))


if __name__ == "__main__":
    main()
