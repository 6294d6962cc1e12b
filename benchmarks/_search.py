"""Model selection on validation, then test: shared by the accuracy benchmarks.

Every candidate trains with early stopping on the validation metric; the candidate with the
best validation value is chosen; only then is it rerun with further seeds. Test numbers are
computed for every trained model (the run directory keeps them) but never feed a choice.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import torch

from recforge.data.dataset import DataConfig, Prepared, prepare
from recforge.models import MODELS
from recforge.training.experiment import (
    EvalConfig,
    ExperimentConfig,
    ModelSpec,
    run_experiment,
)
from recforge.training.loop import TrainConfig

from _common import (
    RESULTS,
    ROOT,
    environment,
    environment_markdown,
    load_raw,
    median_text,
    ran_cells,
    ran_stamp,
    save_raw,
)

log = logging.getLogger("bench")
DETERMINISTIC = ("popularity", "itemknn", "ease")
#: the rows of the accuracy tables, in order
ORDER = [
    "popularity",
    "itemknn",
    "ease",
    "ials",
    "bprmf",
    "gmf",
    "mlp",
    "neumf",
    "neumf-pretrained",
]

Candidate = tuple[dict[str, Any], dict[str, Any]]  # (model params, training overrides)

#: NeuMF started from the chosen GMF and MLP (He et al. 2017, Sec. 3.4.1): the paper switches
#: to plain SGD because Adam's moments are not carried over; a small Adam step is tried too
PRETRAINED_GRID: list[Candidate] = [
    ({}, {"optimizer": "sgd", "lr": 0.05}),
    ({}, {"optimizer": "adam", "lr": 0.0005}),
]


@dataclass
class Benchmark:
    data: DataConfig
    evaluation: EvalConfig
    training: TrainConfig
    search: dict[str, list[Candidate]]
    runs_dir: Path
    select_on: str = "ndcg@10"
    columns: tuple[str, ...] = ("hr@10", "ndcg@10")
    anchors: dict[str, tuple[str, dict[str, float]]] = field(default_factory=dict)
    #: table rows that train a registered model under another name
    aliases: dict[str, str] = field(default_factory=lambda: {"neumf-pretrained": "neumf"})
    #: rows validated (early stopping and selection) under another protocol than
    #: ``evaluation.protocol``, e.g. a model chosen for the sampled protocol
    valid_protocols: dict[str, Literal["full", "sampled"]] = field(default_factory=dict)

    def experiment(
        self,
        name: str,
        params: dict[str, Any],
        training: dict[str, Any],
        seed: int,
        tag: str,
        pretrained: dict[str, str] | None = None,
    ) -> ExperimentConfig:
        model_name = self.aliases.get(name, name)
        config_class = MODELS[model_name].config_class
        if "seed" in {f.name for f in fields(config_class)}:
            params = {**params, "seed": seed}  # models with their own RNG (iALS init)
        return ExperimentConfig(
            model=ModelSpec(model_name, config_class(**params), pretrained or {}),
            name=tag,
            seed=seed,
            output_dir=str(self.runs_dir),
            data=self.data,
            training=replace(self.training, seed=seed, **training),
            evaluation=replace(
                self.evaluation,
                valid_protocol=self.valid_protocols.get(name, self.evaluation.valid_protocol),
            ),
        )

    def run_one(self, config: ExperimentConfig, data: Prepared) -> dict[str, Any]:
        started = time.perf_counter()
        result = run_experiment(config, data=data)
        valid = result.valid  # measured before the test input was fed
        return {
            "run_dir": str(result.run_dir.resolve().relative_to(ROOT)),
            "valid": valid,
            "test": result.test.metrics,
            "best_epoch": result.train.best_epoch if result.train else None,
            "fit_seconds": round(result.fit_seconds, 2),
            "samples_per_second": round(result.train.samples_per_second) if result.train else None,
            "seconds": round(time.perf_counter() - started, 2),
        }

    def run_search(
        self,
        name: str,
        data: Prepared,
        seeds: int,
        done: dict[str, Any],
        progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Search ``name``'s grid, then rerun the chosen candidate with more seeds;
        ``progress`` receives the entry after each extra seed (a stopped run keeps what it
        finished)."""
        grid = self.search[name]
        pretrained = None
        if name == "neumf-pretrained":
            gmf, mlp = done["gmf"], done["mlp"]
            pretrained = {
                "gmf": str(ROOT / gmf["runs"][0]["run_dir"]),
                "mlp": str(ROOT / mlp["runs"][0]["run_dir"]),
            }
            shape = {"factors": gmf["params"]["factors"], "layers": mlp["params"]["layers"]}
            grid = [({**shape, **params}, training) for params, training in grid]
        candidates = []
        for index, (params, training) in enumerate(grid):
            config = self.experiment(name, params, training, 0, f"{name}-c{index}-s0", pretrained)
            outcome = self.run_one(config, data)
            outcome.update(params=params, training=training)
            candidates.append(outcome)
            log.info(
                "%s %s %s valid %s test %s",
                name,
                params,
                training,
                self.fmt(outcome["valid"]),
                self.fmt(outcome["test"]),
            )
        best = max(range(len(candidates)), key=lambda i: candidates[i]["valid"][self.select_on])
        params, training = grid[best]
        entry = {
            "candidates": candidates,
            "best": best,
            "params": params,
            "training": training,
            "runs": [candidates[best]],
        }
        if name not in DETERMINISTIC:
            for seed in range(1, seeds):
                if progress is not None:
                    progress(entry)
                config = self.experiment(
                    name, params, training, seed, f"{name}-c{best}-s{seed}", pretrained
                )
                entry["runs"].append(self.run_one(config, data))
        return entry

    def fmt(self, metrics: dict[str, float]) -> str:
        return " / ".join(f"{metrics[c]:.4f}" for c in self.columns)

    def table(self, payload: dict[str, Any], order: list[str]) -> list[str]:
        heads = " | ".join(f"**test {c}**" for c in self.columns)
        lines = [
            f"| model | chosen on validation | valid {' / '.join(self.columns)} | {heads} | seeds | epochs | fit s | anchor |",
            "|---|---|---|" + "---|" * len(self.columns) + "---|---|---|---|",
        ]
        for name in order:
            if name not in payload["models"]:
                continue
            entry = payload["models"][name]
            runs = entry["runs"]
            cells = [median_text([r["test"][c] for r in runs], 4) for c in self.columns]
            chosen = (
                ", ".join(f"{k}={v}" for k, v in {**entry["params"], **entry["training"]}.items())
                or "-"
            )
            valid = entry["candidates"][entry["best"]]["valid"]
            epochs = ", ".join(str(r["best_epoch"]) for r in runs if r["best_epoch"]) or "-"
            fit = statistics.median(r["fit_seconds"] for r in runs)
            anchor = self.anchors.get(name)
            anchor_text = (
                " / ".join(f"{anchor[1][c]:.4f}" if c in anchor[1] else "–" for c in self.columns)
                + f" — {anchor[0]}"
                if anchor
                else ""
            )
            lines.append(
                f"| {name} | {chosen} | {self.fmt(valid)} | {' | '.join(cells)} | {len(runs)} | {epochs} | {fit:.1f} | {anchor_text} |"
            )
        return lines

    def candidates_table(self, payload: dict[str, Any], order: list[str]) -> list[str]:
        lines = [
            f"| model | params | training | valid {' / '.join(self.columns)} | test {' / '.join(self.columns)} | epochs | fit s |",
            "|---|---|---|---|---|---|---|",
        ]
        for name in order:
            for cand in payload["models"].get(name, {}).get("candidates", []):
                lines.append(
                    f"| {name} | {cand['params']} | {cand['training']} | {self.fmt(cand['valid'])} | "
                    f"{self.fmt(cand['test'])} | {cand['best_epoch'] or '-'} | {cand['fit_seconds']} |"
                )
        return lines


def render(bench: Benchmark, payload: dict[str, Any], order: list[str], intro: str) -> str:
    lines = [intro, "## Results", ""]
    lines += bench.table(payload, order)
    lines += [
        "",
        "Test values: median over seeds (min–max); popularity, ItemKNN and EASE are deterministic.",
        "",
    ]
    if payload.get("notes"):
        lines += ["## Notes", "", payload["notes"], ""]
    lines += ["## Every candidate (validation decides; test shown for transparency)", ""]
    lines += bench.candidates_table(payload, order)
    lines += ["", *runs_table(payload, order)]
    lines += ["## Environment (the latest run)", "", environment_markdown(payload["environment"])]
    return "\n".join([*lines, ""])


def runs_table(payload: dict[str, Any], order: list[str]) -> list[str]:
    """Which command produced each row (a row rerun with ``--only`` keeps its own command;
    rows from before this was recorded say so)."""
    lines = ["## How each row was made", "", "| row | command | date |", "|---|---|---|"]
    for name in order:
        entry = payload["models"].get(name)
        if entry is not None:
            lines.append(f"| {name} | {ran_cells(entry)} |")
    return [*lines, ""]


def main(
    name: str,
    bench: Benchmark,
    order: list[str],
    intro: str,
    doc: str | None,
    *,
    after_search: Callable[[dict[str, Any], Prepared], None] | None = None,
    render_payload: Callable[[dict[str, Any]], str] | None = None,
    argv: list[str] | None = None,
) -> None:
    """Command line shared by the accuracy benchmarks; results go to docs/results/NAME.md.

    ``after_search`` adds to a model's entry (e.g. more protocols on the chosen runs);
    ``render_payload`` replaces the standard report; ``argv`` is the command line left
    after a script's own options (default ``sys.argv[1:]``; the recorded command is always
    the whole of ``sys.argv``)."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="*", default=None, help="models to (re)run")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--render", action="store_true", help="only rewrite the markdown")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("recforge").setLevel(logging.ERROR)
    payload = load_raw(name) or {"models": {}}
    mine: dict[str, Any] = {}  # entries this process computed
    if not args.render:
        torch.set_num_threads(args.threads)
        data = prepare(bench.data)
        for model in order:
            if args.only and model not in args.only:
                continue

            def save(entry: dict[str, Any], model: str = model) -> None:
                if after_search is not None:
                    after_search(entry, data)
                mine[model] = entry
                entry["ran"] = ran_stamp()
                # merge into the file as it is now: other models' runs may be saving beside us
                fresh = load_raw(name) or {"models": {}}
                fresh["models"].update(mine)
                fresh["environment"] = environment()
                save_raw(name, fresh)

            save(bench.run_search(model, data, args.seeds, payload["models"], progress=save))
            payload = load_raw(name) or payload
    report = render_payload(payload) if render_payload else render(bench, payload, order, intro)
    (RESULTS / f"{name}.md").write_text(report)
    print((RESULTS / f"{name}.md").read_text())
