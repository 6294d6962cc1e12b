"""Ranking (CTR) models side by side: embedding+MLP base model, Wide & Deep, DeepFM, DCN,
DCN-V2, DIN, DIEN, LightGBM and XGBoost on one feature pipeline.

Protocols (the builders are in `recforge.data.ctr`; the features in
`recforge.features.pipeline`, fitted on the training rows only):

- `amazon-beauty`, `ml-100k`: DIN's next-behaviour protocol. Each user's behaviours in order
  b_1..b_n (Beauty: S3-Rec's sequences; ML-100K: ratings >= 4 by time); the row for b_t reads
  the history b_1..b_{t-1} and is paired with one sampled item the user never touched
  (label 0). Rows for t = 2..n-2 train, b_{n-1} validates, the last behaviour b_n tests.
- `ml-1m-cross`: the feature-cross protocol of the DCN-V2 paper and RecBole. Every
  MovieLens-1M rating except the neutral 3s is a row (AutoInt's preprocessing, which the
  DCN-V2 paper follows), label = rating >= 4, random 8:1:1 split, user demographics and movie
  genres and year, no history (DIN and DIEN need one and are not run).
- `criteo`: the full Criteo file of the Kaggle challenge (`--criteo-path`, not shipped): every
  impression a row, random 8:1:1 split, C1..C26 sparse (values seen < 10 times in training
  unknown), I1..I13 dense as log(1 + x), standardised; no user, item or history.

Every model's candidates are trained on the training rows with early stopping on validation
AUC; the candidate with the best validation AUC is chosen (never the test rows) and trained
again with two more seeds; test AUC, GAUC (impression-weighted per-user AUC, DIN's paper) and
log loss are reported as the median over the 3 seeds with min-max.

    python benchmarks/ranking.py --dataset ml-100k          # ~10 min on 2 cores
    python benchmarks/ranking.py --dataset amazon-beauty    # ~1 h
    python benchmarks/ranking.py --dataset ml-1m-cross      # ~2 h on one core
    python benchmarks/ranking.py --dataset criteo --criteo-path /path/to/train.txt  # days on 2 cores
    python benchmarks/ranking.py --render                   # rewrite the markdown
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from recforge.core.batches import FeatureBatch
from recforge.data.ctr import CTRTables, ctr_tables
from recforge.evaluation.protocols import evaluate_ctr
from recforge.features.fields import FeatureSchema
from recforge.features.pipeline import FeaturePipeline
from recforge.models import RANKERS
from recforge.models.gbdt import GBDTConfig, GBDTRanker
from recforge.models.gbdt_features import one_hot_matrix
from recforge.training.ranking import RankerTrainConfig, evaluate_ranker, fit_ranker

from _common import (
    RESULTS,
    environment,
    environment_markdown,
    load_raw,
    median_text,
    ran_cells,
    ran_stamp,
    save_raw,
)

log = logging.getLogger("bench")
NAME = "ranking"
NEURAL = ["dnn", "widedeep", "deepfm", "dcn", "dcnv2", "din", "dien"]
GBDT = ["lightgbm", "xgboost"]
ORDER = [*NEURAL, *GBDT, "logistic"]

Candidate = tuple[dict[str, Any], dict[str, Any]]  # (model params, training overrides)


@dataclass(frozen=True)
class Setup:
    history_length: int
    training: RankerTrainConfig
    search: dict[str, list[Candidate]]
    anchors: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pipeline: dict[str, Any] = field(default_factory=dict)  # more FeaturePipeline arguments


def gbdt_grid(library: str) -> list[Candidate]:
    return [
        ({"library": library, "num_leaves": leaves, "learning_rate": 0.05}, {})
        for leaves in (31, 127)
    ]


SEQUENCE_SEARCH: dict[str, list[Candidate]] = {
    "dnn": [({"embedding_dim": 18, "hidden": (200, 80)}, {})],
    "widedeep": [({"embedding_dim": 18, "hidden": (200, 80)}, {})],
    "deepfm": [({"embedding_dim": 18, "hidden": (200, 80), "dropout": 0.0}, {})],
    "dcn": [
        ({"embedding_dim": 18, "cross_layers": 3, "hidden": (200, 80), "batch_norm": False}, {})
    ],
    "dcnv2": [({"embedding_dim": 18, "cross_layers": 3, "hidden": (200, 80)}, {})],
    "din": [({"embedding_dim": 18}, {})],
    "dien": [({"embedding_dim": 18}, {})],
    "lightgbm": gbdt_grid("lightgbm"),
    "xgboost": [
        ({"library": "xgboost", "max_depth": depth, "learning_rate": 0.05}, {}) for depth in (6, 10)
    ],
}

SEQUENCE_TRAINING = RankerTrainConfig(
    epochs=20, batch_size=1024, lr=0.001, patience=2, valid_metric="auc", progress=False
)

#: RecBole's ml-1m context benchmark: embedding 16 for every model; MLP as its DCN-V2 default
ML1M_MLP: dict[str, Any] = {"embedding_dim": 16, "hidden": (256, 256, 256), "dropout": 0.2}
ML1M_L2 = (0.0, 0.01, 0.03, 0.1)

CRITEO_MLP: dict[str, Any] = {"embedding_dim": 10, "hidden": (400, 400, 400), "dropout": 0.1}

SEQUENCE_ANCHORS = [
    ("BARS AmazonElectronics_x1 gAUC: DNN 0.8790, DIN 0.8835, DIEN 0.8856", "their dataset"),
    ("DIN repository GAUC on Amazon Electronics: DIN 0.8711", "their dataset"),
]

SETUPS: dict[str, Setup] = {
    "amazon-beauty": Setup(
        history_length=20,
        training=SEQUENCE_TRAINING,
        # the base model and DIN also with DIN's mini-batch aware L2 (the models overfit
        # after 2-3 epochs here)
        search={
            **SEQUENCE_SEARCH,
            **{
                name: [
                    (params, {"embedding_l2": l2})
                    for params, _ in SEQUENCE_SEARCH[name]
                    for l2 in (0.0, 0.01, 0.1, 1.0)
                ]
                for name in ("dnn", "din")
            },
        },
        anchors=SEQUENCE_ANCHORS,
        notes=[
            "Histories keep the latest 20 behaviours (Beauty's sequences have 8.9 items on "
            "average; 20 covers the validation and test rows of most users whole).",
            "Without embedding regularisation every neural model peaks after 2-3 epochs, "
            "its test AUC ~0.03 under its validation AUC: Beauty is sparse (12,101 items "
            "with ~16 behaviours each) and the id embeddings overfit. DIN's mini-batch "
            "aware L2 (`embedding_l2` 0 / 0.01 / 0.1 / 1, chosen on validation) was searched "
            "for the base model and DIN only: the largest value wins for both (larger ones "
            "not tried) and lifts test AUC by +0.043 (DNN 0.8107) and +0.027 (DIN 0.7936). "
            "The other rows have no such regulariser, so the table compares them unequally. "
            "The anchors' order DNN < DIN < DIEN does not hold here: DIN stays under the "
            "base model and DIEN (unregularised) under both.",
        ],
    ),
    "ml-100k": Setup(
        history_length=50,
        training=SEQUENCE_TRAINING,
        search=SEQUENCE_SEARCH,
        anchors=SEQUENCE_ANCHORS,
        notes=[
            "Only 940 users have a validation and a test row each (1,880 rows per split): "
            "differences of ~0.01 AUC are within the noise of one split.",
            "One candidate per neural model (the papers' widths at embedding 18, Adam lr "
            "0.001, batch 1,024, early stopping on validation AUC with patience 2); the "
            "search is the papers' settings, not a tuned grid.",
            "The GBDT rows are deterministic (one thread, no row or column subsampling): the "
            "three seeds give one number. Their early stopping watches validation AUC, so "
            "their log loss (probabilities never calibrated) is not comparable.",
        ],
    ),
    "ml-1m-cross": Setup(
        history_length=0,
        # lr x0.1 at each validation without a better AUC (FuxiCTR's reduce-on-plateau);
        # with the embedding L2 below it is what lets the regularised models settle
        training=replace(
            SEQUENCE_TRAINING, batch_size=4096, epochs=30, lr=0.005, lr_decay=0.1, patience=3
        ),
        # every neural row: DIN's mini-batch aware embedding L2 (0 = without)
        search={
            **{
                name: [({**ML1M_MLP, **extra}, {"embedding_l2": l2}) for l2 in ML1M_L2]
                for name, extra in (
                    ("dnn", {}),
                    ("widedeep", {}),
                    ("deepfm", {}),
                    ("dcn", {"cross_layers": 3}),
                )
            },
            # RecBole's best DCN-V2 setting on this protocol (its hyper-parameter log), with
            # its deep-network dropout order and its norm penalty on the cross matrices
            "dcnv2": [
                (
                    {
                        **ML1M_MLP,
                        "hidden": (256, 256),
                        "cross_layers": 2,
                        "structure": "parallel",
                        "batch_norm": True,
                        "dropout_first": True,
                        "cross_penalty": 1.0,
                    },
                    {"embedding_l2": l2},
                )
                for l2 in ML1M_L2
            ],
            "lightgbm": gbdt_grid("lightgbm"),
            "xgboost": SEQUENCE_SEARCH["xgboost"],
            # RecBole's LR row: one weight per feature value (scikit-learn, L2 = 1 / C)
            "logistic": [({"C": c}, {}) for c in (0.1, 1.0, 10.0)],
        },
        anchors=[
            ("DCN-V2 paper (MovieLens-1M): DCN-V2 AUC 0.8964, log loss 0.3160", "same protocol"),
            (
                "RecBole docs (MovieLens-1M, random 8:1:1): DCN-V2 0.9000 / 0.3119, DeepFM "
                "0.8997, DCN 0.8994, Wide & Deep 0.8987, LR 0.8699",
                "same protocol",
            ),
        ],
        notes=[
            "The issue's description of this protocol (every rating a row, label = rating "
            ">= 4) leaves out that the neutral ratings are dropped. The anchors need it: the "
            "logistic row (one weight per feature value, scikit-learn) gets test AUC 0.8724 "
            "here, by RecBole's LR (0.8699); with the 3s kept as negatives the same regression "
            "gets 0.791 (a check on that split outside this script).",
            "Neural rows: embedding 16 for every field (RecBole's width for every model), "
            "Adam lr 0.005, batch 4,096, up to 30 epochs, validation AUC after each; at each "
            "validation without a better AUC the learning rate is divided by 10 (FuxiCTR's "
            "reduce-on-plateau), after 3 in a row training stops and the best epoch's weights "
            "are restored. Each searches DIN's mini-batch aware embedding L2 (Zhou et al. "
            "2018, Sec. 5.1; `embedding_l2`) over 0 / 0.01 / 0.03 / 0.1.",
            "The embedding L2 is what lifts every neural row past 0.900: +0.004 to +0.008 test "
            "AUC over the same model without it (the `embedding_l2: 0.0` candidates below, "
            "which land where RecBole's unregularised runs do). With it the models end within "
            "~0.002 of each other, so on this protocol the regulariser matters more than the "
            "cross network. The learning-rate step is what lets it pay: in exploratory GPU "
            "runs (validation only, outside this script) L2 0.01 at embedding 32 without the "
            "step gained about a quarter as much. The grid's largest value (0.1) wins for DNN "
            "and DCN: larger values were not tried.",
            "RecBole's runs of this protocol (its repository, benchmark/md/ml-1m_context.md and "
            "benchmark/hyper/context/DCNV2-ml-1m_context.md): 7 fields (user_id, item_id, age, "
            "gender, occupation, genre, release_year; no zip code), embedding 16, batch 4,096, "
            "validation every epoch, no embedding regularisation; its best DCN-V2 setting is "
            "2 cross layers beside an MLP 256-256 with batch norm, dropout 0.2, lr 0.005 "
            "(validation 0.9008, test 0.8998). Its DCN-V2 differs from the paper's in two "
            "ways: its MLP drops out each layer's input (so x0 is dropped out on the deep "
            "side), and its loss adds reg_weight x the sum of the cross matrices' Frobenius "
            "norms. `dropout_first` and `cross_penalty` (1, RecBole's reg_weight) give both; "
            "the DCN-V2 candidates are that setting.",
            "DCN-V2 reaches test AUC 0.9048 and log loss 0.3038, the best row: **above the "
            "issue's 0.900 target**, RecBole's 0.9000 / 0.3119 and the DCN-V2 paper's "
            "0.8964 / 0.3160.",
            "XGBoost's best round is its last (the cap is 1,000): more rounds might add a "
            "little; the gap to the neural rows is ~0.03 AUC. The GBDT and logistic rows are "
            "deterministic (three seeds, one number). The samples/s column is not a speed "
            "figure: two benchmarks shared the 2 cores (see ranking_speed.md for speed).",
            "Tried before this grid and left out (exploratory validation runs, not in this "
            "script): without the zip code, lr 0.01, RecBole's N(0, 1) start for the cross "
            "matrices, MLP 1,024-1,024 or 512-512, movie-title words as a field, batch 2,048 "
            "or 1,024, embedding 32 or 64 without L2, 3 cross layers, the stacked and the "
            "mixture cross, dropout 0.3, weight decay; cross_penalty 0 and 5; the paper's "
            "structure at lr 0.001 (a previous run of this script: validation ~0.002 under "
            "RecBole's setting). None moved validation AUC by more than ~0.001.",
        ],
    ),
    # Settings of BARS's Criteo_x1 runs (FuxiCTR 1.1.0 logs in reczoo/BARS,
    # ranking/ctr/{DNN,DCN,DCNv2}/*_criteo_x1/README.md): embedding 10, MLP (400, 400, 400),
    # dropout 0.1, no batch norm, Adam lr 0.001, batch 4096, early stopping with patience 2;
    # DCN 3 cross layers; DCN-V2 parallel, 3 full-rank cross layers beside an MLP (500, 500, 500).
    # min_count 10 is BARS's Criteo_x4_001 threshold (the Criteo_x1 files come filtered).
    "criteo": Setup(
        history_length=0,
        training=replace(SEQUENCE_TRAINING, batch_size=4096, epochs=20),
        search={
            "dnn": [({**CRITEO_MLP, "activation": "relu"}, {})],
            "widedeep": [(CRITEO_MLP, {})],
            "deepfm": [(CRITEO_MLP, {})],
            "dcn": [({**CRITEO_MLP, "cross_layers": 3, "batch_norm": False}, {})],
            "dcnv2": [
                (
                    {
                        **CRITEO_MLP,
                        "hidden": (500, 500, 500),
                        "cross_layers": 3,
                        "structure": "parallel",
                    },
                    {},
                )
            ],
        },
        anchors=[
            (
                "BARS Criteo_x1 test AUC, mean of 5 runs: DNN 0.8137, DCN 0.8138, DCN-V2 "
                "0.8139 (best run 0.8142)",
                "same data; their 7:2:1 split and preprocessed features",
            )
        ],
        notes=[
            "BARS divides the learning rate by 10 when validation AUC stops improving; in "
            "their logs that step adds ~0.003 AUC. recforge's loop keeps it fixed.",
            "BARS regularises embeddings with L2 1e-5 (FuxiCTR's embedding_regularizer); "
            "these runs use none.",
        ],
        pipeline={"dense_transform": "log", "min_count": 10},
    ),
}


@dataclass
class Prepared:
    tables: CTRTables
    schema: FeatureSchema
    train: FeatureBatch
    valid: FeatureBatch
    test: FeatureBatch
    seconds: float


def prepare(name: str, setup: Setup, path: str | None = None) -> Prepared:
    started = time.perf_counter()
    tables = ctr_tables(name, seed=0, path=path)
    history = tables.history if setup.history_length else ()
    pipeline = FeaturePipeline(
        sparse=tables.sparse,
        multi=tables.multi,
        dense=tables.dense,
        history=history,
        history_length=setup.history_length or 50,
        history_negatives=bool(history),
        **setup.pipeline,
    ).fit(tables.train, users=tables.users, items=tables.items)
    rng = np.random.default_rng(0)
    events = tables.events if history else None
    splits = [
        pipeline.transform(rows, events=events, rng=rng)
        for rows in (tables.train, tables.valid, tables.test)
    ]
    return Prepared(tables, pipeline.schema, *splits, seconds=time.perf_counter() - started)


def ctr_scores(logits: np.ndarray, batch: FeatureBatch) -> dict[str, float]:
    return evaluate_ctr(batch.label, logits, batch.group)


def run_one(
    name: str,
    params: dict[str, Any],
    training: dict[str, Any],
    seed: int,
    data: Prepared,
    setup: Setup,
) -> dict[str, Any]:
    started = time.perf_counter()
    if name in GBDT:
        model = GBDTRanker(GBDTConfig(**params, seed=seed, threads=torch.get_num_threads()))
        model.fit(data.train, data.valid, data.schema)
        fit_seconds = time.perf_counter() - started
        return {
            "valid": ctr_scores(model.predict_logits(data.valid), data.valid),
            "test": ctr_scores(model.predict_logits(data.test), data.test),
            "best_epoch": model.n_trees_,
            "fit_seconds": round(fit_seconds, 2),
            "samples_per_second": None,
        }
    if name == "logistic":
        linear = LogisticRegression(**params, max_iter=1000, random_state=seed)
        linear.fit(one_hot_matrix(data.train, data.schema), data.train.label.numpy())
        fit_seconds = time.perf_counter() - started
        valid, test = (
            ctr_scores(linear.decision_function(one_hot_matrix(batch, data.schema)), batch)
            for batch in (data.valid, data.test)
        )
        return {
            "valid": valid,
            "test": test,
            "best_epoch": int(linear.n_iter_[0]),
            "fit_seconds": round(fit_seconds, 2),
            "samples_per_second": None,
        }
    model_class = RANKERS[name]
    torch.manual_seed(seed)
    ranker = model_class(model_class.config_class(**params), data.schema)
    config = replace(setup.training, seed=seed, **training)
    result = fit_ranker(ranker, data.train, data.valid, config)
    return {
        "valid": evaluate_ranker(ranker, data.valid),
        "test": evaluate_ranker(ranker, data.test),
        "best_epoch": result.best_epoch,
        "fit_seconds": round(result.seconds, 2),
        "samples_per_second": round(result.samples_per_second),
    }


def search(name: str, data: Prepared, setup: Setup, seeds: int, save) -> dict[str, Any]:
    grid = setup.search[name]
    candidates = []
    for params, training in grid:
        outcome = run_one(name, params, training, 0, data, setup)
        outcome.update(params=params, training=training)
        candidates.append(outcome)
        log.info("%s %s %s valid auc %.4f", name, params, training, outcome["valid"]["auc"])
    best = max(range(len(candidates)), key=lambda i: candidates[i]["valid"]["auc"])
    params, training = grid[best]
    entry = {
        "candidates": candidates,
        "best": best,
        "params": params,
        "training": training,
        "runs": [candidates[best]],
    }
    for seed in range(1, seeds):
        save(entry)
        entry["runs"].append(run_one(name, params, training, seed, data, setup))
    return entry


def fmt(value: float) -> str:
    return f"{value:.4f}"


def table(dataset: str, payload: dict[str, Any]) -> list[str]:
    section = payload["datasets"].get(dataset)
    if not section and dataset == "criteo":
        return [
            "Not run here: the full Criteo data is not on this machine; the 200-row sample "
            "only checks the reader. `python benchmarks/ranking.py --dataset criteo "
            "--criteo-path /path/to/train.txt` runs it.",
            "",
        ]
    if not section:
        return [f"Not run yet: `python benchmarks/ranking.py --dataset {dataset}`.", ""]
    lines = [
        section["description"],
        "",
        "| model | chosen on validation AUC | valid AUC | test AUC | test GAUC | test log loss | seeds | epochs / trees / iterations | train samples/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in ORDER:
        entry = section["models"].get(name)
        if entry is None:
            continue
        runs = entry["runs"]
        chosen = ", ".join(f"{k}={v}" for k, v in {**entry["params"], **entry["training"]}.items())
        valid = entry["candidates"][entry["best"]]["valid"]["auc"]
        cells = [median_text([r["test"][m] for r in runs], 4) for m in ("auc", "gauc", "logloss")]
        epochs = ", ".join(str(r["best_epoch"]) for r in runs)
        speeds = [r["samples_per_second"] for r in runs if r["samples_per_second"]]
        speed = f"{statistics.median(speeds):,.0f}" if speeds else "-"
        lines.append(
            f"| {name} | {chosen} | {fmt(valid)} | {' | '.join(cells)} | {len(runs)} | {epochs} | {speed} |"
        )
    setup = SETUPS[dataset]
    for text, where in setup.anchors:
        lines.append(f"| *{text}* | published ({where}) | | | | | | | |")
    lines += ["", *[f"- {note}" for note in setup.notes], ""]
    return lines


def candidates_table(payload: dict[str, Any]) -> list[str]:
    lines = [
        "| dataset | model | params | training | valid AUC | test AUC | epochs / trees / iterations | fit s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for dataset, section in payload["datasets"].items():
        for name in ORDER:
            for cand in section["models"].get(name, {}).get("candidates", []):
                lines.append(
                    f"| {dataset} | {name} | {cand['params']} | {cand['training']} | {fmt(cand['valid']['auc'])} "
                    f"| {fmt(cand['test']['auc'])} | {cand['best_epoch']} | {cand['fit_seconds']} |"
                )
    return lines


def render(payload: dict[str, Any]) -> str:
    lines = ["# Ranking models (CTR)", ""]
    for block in __doc__.split("\n\n")[1:4]:  # the protocol paragraphs, bullets kept apart
        lines += [" ".join(item.split()) for item in block.replace("\n- ", "\n\0- ").split("\0")]
        lines.append("")
    lines += ["Raw numbers: `docs/results/raw/ranking.json`.", ""]
    for dataset in SETUPS:
        lines += [f"## {dataset}", "", *table(dataset, payload)]
    lines += [
        "## Every candidate (validation decides; test shown for transparency)",
        "",
        *candidates_table(payload),
        "",
    ]
    lines += ["## How each row was made", "", "| dataset | model | command | date |"]
    lines.append("|---|---|---|---|")
    for dataset, section in payload["datasets"].items():
        for name in ORDER:
            entry = section["models"].get(name)
            if entry is not None:
                lines.append(f"| {dataset} | {name} | {ran_cells(entry)} |")
    lines.append("")
    for dataset, section in payload["datasets"].items():
        lines += [
            f"## Environment ({dataset}, the latest run)",
            "",
            environment_markdown(section["environment"]),
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", choices=sorted(SETUPS), default="ml-100k")
    parser.add_argument("--only", nargs="*", default=None, help="models to (re)run")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--render", action="store_true", help="only rewrite the markdown")
    parser.add_argument(
        "--criteo-path", help="the Criteo file (Kaggle train.txt) of --dataset criteo"
    )
    args = parser.parse_args()
    if not args.render and (args.dataset == "criteo") != (args.criteo_path is not None):
        parser.error("--criteo-path is needed with --dataset criteo, and only there")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if not args.render:
        torch.set_num_threads(args.threads)
        setup = SETUPS[args.dataset]
        data = prepare(args.dataset, setup, args.criteo_path)
        log.info(
            "%s prepared in %.1f s: %d / %d / %d rows",
            args.dataset,
            data.seconds,
            len(data.train),
            len(data.valid),
            len(data.test),
        )
        mine: dict[str, Any] = {}
        for name in ORDER:
            if (args.only and name not in args.only) or name not in setup.search:
                continue
            if name in RANKERS and RANKERS[name].requires_history and not data.schema.history:
                continue

            def save(entry: dict[str, Any], name: str = name) -> None:
                entry["ran"] = ran_stamp()
                mine[name] = entry
                payload = load_raw(NAME) or {"datasets": {}}  # other runs may be saving beside us
                section = payload["datasets"].setdefault(args.dataset, {"models": {}})
                section["models"].update(mine)
                section.update(description=data.tables.description, environment=environment())
                save_raw(NAME, payload)

            save(search(name, data, setup, args.seeds, save))
    payload = load_raw(NAME) or {"datasets": {}}
    (RESULTS / f"{NAME}.md").write_text(render(payload))
    print(render(payload))


if __name__ == "__main__":
    main()
