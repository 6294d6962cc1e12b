"""Sequential recommendation: the representation models (GRU4Rec, SASRec, Item2Vec) against
the foundation baselines, on full ranking and on 1-plus-99 sampled ranking.

Data: Amazon Beauty with S3-Rec's preprocessing (`$RECFORGE_DATA/amazon-s3rec`, 22,363
users, 12,101 items) or MovieLens-100K with timestamps (`--dataset ml-100k`, every rating an
interaction). Each user's last item (by time) is the test item, the one before it the
validation item, the rest is training. When the test item is ranked, models that read a
history (GRU4Rec, SASRec, Item2Vec, EASE, iALS by fold-in) read the training items plus the
validation item, as in SASRec's and S3-Rec's protocol; none is trained on it. Full ranking
ranks every item the user has not interacted with before; the sampled protocol ranks the
held-out item against 99 items the user never interacted with, drawn uniformly. Model
selection on validation NDCG@10 under full ranking, never on test; each chosen model is then
trained with 3 seeds and its test items are scored under both protocols.

    python benchmarks/representation.py                      # Beauty, ~1.5 h on 2 cores
    python benchmarks/representation.py --dataset ml-100k    # ~20 min
    python benchmarks/representation.py --render             # rewrite the markdown
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import replace
from typing import Any

from recforge.data.dataset import DataConfig
from recforge.models import MODELS
from recforge.models.artifact import load_artifact
from recforge.training.experiment import EvalConfig, evaluate_on
from recforge.training.loop import TrainConfig

from _common import ROOT, environment_markdown, median_text
from _search import Benchmark, main, runs_table

ORDER = [
    "popularity",
    "ease",
    "ials",
    "bprmf",
    "item2vec",
    "gru4rec",
    "sasrec",
    "sasrec-bce",
    "sasrec-post",
]
#: rows chosen and early-stopped on sampled validation (the paper's protocol and loss)
SAMPLED_ROWS = {"sasrec-bce": "sasrec", "sasrec-post": "sasrec"}
COLUMNS = ("hr@10", "ndcg@10")
COLUMNS_KS = (10,)

# sequence models: softmax over the target and 1,024 uniform negatives per batch on Beauty
# (the full softmax over 12k items costs 10x more per epoch here), over all items on ML-100K
SEQUENCE_TRAINING = {"batch_size": 256, "epochs": 120, "valid_every": 3, "patience": 3}
#: SASRec as the paper trains it (one uniform negative per position, binary cross-entropy)
PAPER_TRAINING = {
    **SEQUENCE_TRAINING,
    "loss": "bce",
    "n_negatives": 1,
    "lr": 0.001,
    "batch_size": 128,
    "epochs": 200,
    "valid_every": 5,
    "patience": 4,
}

BEAUTY = Benchmark(
    data=DataConfig(dataset="amazon-beauty", split="leave_one_out_time", eval_negatives=99),
    evaluation=EvalConfig(protocol="full", ks=(10,)),
    # each epoch ends with a full-ranking validation of 22k users (~2 s here): a short
    # patience keeps the BPR-MF search to minutes
    training=TrainConfig(
        epochs=60, batch_size=4096, patience=4, valid_metric="ndcg@10", progress=False
    ),
    runs_dir=ROOT / "runs" / "bench" / "representation",
    columns=COLUMNS,
    search={
        "popularity": [({}, {})],
        "ease": [({"l2": l2}, {}) for l2 in (100.0, 400.0, 1600.0)],
        "ials": [
            ({"factors": 64, "alpha": a, "regularization": r, "iterations": 15}, {})
            for a, r in ((2.0, 10.0), (8.0, 50.0), (20.0, 100.0))
        ],
        "bprmf": [
            ({"factors": 64}, {"loss": "bpr", "n_negatives": 1, "lr": lr, "weight_decay": wd})
            for lr, wd in ((0.005, 0.0), (0.01, 1e-6))
        ],
        "item2vec": [
            ({"factors": 64, "window": w, "recent": r}, {}) for w, r in ((3, 5), (5, 10), (5, 3))
        ],
        "gru4rec": [
            (
                {"factors": 64, "hidden_size": 128, "max_len": 50, "dropout": 0.3},
                {**SEQUENCE_TRAINING, "loss": "sampled_ce", "n_negatives": 1024, "lr": 0.002},
            )
        ],
        "sasrec": [
            (
                {"factors": 64, "max_len": 50, "dropout": 0.5, "blocks": 2, "heads": 1},
                {**SEQUENCE_TRAINING, "loss": "sampled_ce", "n_negatives": n, "lr": 0.002},
            )
            for n in (1024, 4096)
        ],
        # SASRec as its paper trains it, chosen on sampled validation
        "sasrec-bce": [
            (
                {"factors": 64, "max_len": 50, "dropout": 0.5, "blocks": 2, "heads": 1},
                PAPER_TRAINING,
            )
        ],
        # the SASRec baseline of S3-Rec's code (the anchors' source): post-norm blocks, two
        # heads, GELU, feed-forward 4 x 64, batch 256; trained and chosen as sasrec-bce
        "sasrec-post": [
            (
                {
                    "factors": 64,
                    "max_len": 50,
                    "dropout": 0.5,
                    "blocks": 2,
                    "heads": 2,
                    "norm_first": False,
                    "activation": "gelu",
                    "feedforward": 256,
                },
                {**PAPER_TRAINING, "batch_size": 256},
            )
        ],
    },
    aliases=SAMPLED_ROWS,
    valid_protocols=dict.fromkeys(SAMPLED_ROWS, "sampled"),
)

ML100K = replace(
    BEAUTY,
    data=DataConfig(dataset="ml-100k", split="leave_one_out_time", eval_negatives=99),
    runs_dir=ROOT / "runs" / "bench" / "representation-ml100k",
    search={
        **BEAUTY.search,
        "ease": [({"l2": l2}, {}) for l2 in (50.0, 200.0, 800.0)],
        "gru4rec": [
            (
                {"factors": 64, "hidden_size": 128, "max_len": 200, "dropout": 0.2},
                {**SEQUENCE_TRAINING, "loss": "ce", "lr": 0.002, "batch_size": 32},
            )
        ],
        "sasrec": [
            (
                {"factors": 64, "max_len": 200, "dropout": 0.2, "blocks": 2, "heads": 1},
                {**SEQUENCE_TRAINING, "loss": "ce", "lr": 0.002, "batch_size": 32},
            )
        ],
    },
)

DATASETS = {"beauty": ("representation", BEAUTY), "ml-100k": ("representation_ml100k", ML100K)}

#: published numbers on the Beauty split (S3-Rec, CIKM 2020; BSARec, AAAI 2024)
ANCHORS = {
    "sampled": [
        ("PopRec (S3-Rec paper)", 0.3386, 0.1803),
        ("GRU4Rec (S3-Rec paper)", 0.4106, 0.2584),
        ("SASRec (S3-Rec paper)", 0.4696, 0.3156),
        ("S3-Rec (S3-Rec paper)", 0.5506, 0.3732),
    ],
    "full": [("SASRec (S3-Rec repo)", 0.0605, 0.0318), ("BSARec (paper)", 0.1008, 0.0611)],
}


def sampled_test(entry: dict[str, Any], data: Any) -> list[dict[str, float]]:
    """The chosen runs' test items under the 1-plus-99 protocol (the saved models already
    read the histories the test protocol gives them)."""
    out = []
    for run in entry["runs"]:
        model = load_artifact(ROOT / run["run_dir"], MODELS).model
        out.append(evaluate_on(model, data, "test", "sampled", COLUMNS_KS).metrics)
    return out


def add_sampled(entry: dict[str, Any], data: Any) -> None:
    entry["sampled"] = sampled_test(entry, data)


def table(payload: dict[str, Any], protocol: str, anchors: bool) -> list[str]:
    lines = [
        "| model | chosen on validation NDCG@10 (full; sampled for SASRec-BCE) | test HR@10 "
        "| test NDCG@10 "
        "| reads valid item | seeds | best epochs | fit s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in ORDER:
        entry = payload["models"].get(name)
        if entry is None:
            continue
        metrics = [r["test"] for r in entry["runs"]] if protocol == "full" else entry["sampled"]
        chosen = ", ".join(f"{k}={v}" for k, v in {**entry["params"], **entry["training"]}.items())
        fit = statistics.median(r["fit_seconds"] for r in entry["runs"])
        cells = " | ".join(median_text([m[c] for m in metrics], 4) for c in COLUMNS)
        epochs = ", ".join(str(r["best_epoch"]) for r in entry["runs"] if r["best_epoch"]) or "-"
        reads = "no" if name in ("popularity", "bprmf") else "yes"
        lines.append(
            f"| {name} | {chosen or '-'} | {cells} | {reads} | {len(metrics)} | {epochs} "
            f"| {fit:.1f} |"
        )
    for label, hr, ndcg in ANCHORS[protocol] if anchors else []:
        lines.append(f"| *{label}* | published | {hr:.4f} | {ndcg:.4f} | | | | |")
    return lines


NOTES = {
    "beauty": [
        "- Sampled vs full ranking: `sasrec` trains with a softmax against 1,024 or 4,096 "
        "uniform negatives per batch (the number chosen on full-ranking validation, where "
        "4,096 was ahead in a first exploration: validation HR@10 0.1009 against 0.0956); it "
        "clears the published SASRec "
        "row on full ranking by a wide margin (HR@10 0.0813, the issue's 0.08 bar); on the "
        "1-plus-99 protocol its NDCG@10 (0.3174) passes the S3-Rec paper's SASRec (0.3156) "
        "and its HR@10 (0.4564) does not (0.4696). "
        "`sasrec-bce` is SASRec as its paper trains it (one uniform negative per position, "
        "binary cross-entropy, lr 0.001, batch 128, up to 200 epochs), chosen and "
        "early-stopped on the sampled protocol's validation: its full-ranking numbers land on "
        "the published full-ranking SASRec row (the S3-Rec repository's SASRec trains with "
        "this loss), and its sampled test HR@10 is ~3 % under the S3-Rec paper's SASRec row "
        "although its sampled validation HR@10 reaches ~0.50. `sasrec-post` is the S3-Rec "
        "code's SASRec blocks (post-norm, two heads, GELU, feed-forward 256, batch 256), "
        "trained and chosen the same way, one seed: it does worse (sampled HR@10 0.4440, "
        "validation 0.4936, best epoch 70), so the block layout does not explain the gap. "
        "No model here reaches S3-Rec's self-supervised pre-training (not implemented).",
        "- Sequence models train with a softmax over the target and 1,024 (SASRec: or 4,096) "
        'items drawn uniformly per batch (`loss = "sampled_ce"`); the full softmax over '
        '12,101 items (`loss = "ce"`) costs more per epoch and was not searched here for '
        "time (4,096 beat 1,024 on validation, so it is the next candidate). SASRec's "
        "paper trains with one sampled negative per position (binary cross-entropy), the "
        "anchors' loss.",
        "- BPR-MF is under-tuned: the search stops at 60 epochs with patience 4 (each epoch "
        "ends with a full-ranking validation of 22k users); a first attempt with lr 0.001 was "
        "still improving at epoch 71 (validation NDCG@10 0.0294 against the chosen 0.0251) "
        "when it was stopped to keep the run short. It cannot read the validation item "
        "without retraining.",
        "- Item2Vec scores a user as the mean input vector of their latest items against the "
        "items' context (output) vectors (see `models/item2vec.py` for why not the cosine).",
        "- The sampled protocol's negatives are drawn here (uniform over items the user never "
        "interacted with, seed 0), not S3-Rec's unpublished sample files, so sampled numbers "
        "carry that sampling noise; our popularity row differs from S3-Rec's PopRec for that "
        "reason.",
    ],
    "ml-100k": [
        "- No published numbers on exactly this split; the same-machine RecBole peers in the "
        "issue give speed, not accuracy (see `representation_speed.md`).",
        '- Sequence models train with the full softmax over the 1,682 items (`loss = "ce"`), '
        "on batches of 32 windows of up to 200 items (MovieLens histories are long: 1,105 "
        "windows in all).",
    ],
}


def render_for(dataset: str, name: str, bench: Benchmark):
    title = {
        "beauty": "Representation models on Amazon Beauty (S3-Rec split)",
        "ml-100k": "Representation models on MovieLens-100K (leave-one-out by time)",
    }[dataset]

    def render(payload: dict[str, Any]) -> str:
        anchors = dataset == "beauty"
        lines = [
            f"# {title}",
            "",
            " ".join(__doc__.split("\n\n")[1].split()),
            "",
            f"Written by `python benchmarks/representation.py --dataset {dataset}`; raw: "
            f"`docs/results/raw/{name}.json`. Other representation results: "
            "[MovieLens-100K](representation_ml100k.md), [cold start](cold_start.md), "
            "[knowledge graph](knowledge_graph.md), [speed](representation_speed.md).",
            "",
            "## Full ranking (items seen before masked)",
            "",
            *table(payload, "full", anchors),
            "",
            "## Sampled ranking (held-out item + 99 uniform negatives)",
            "",
            *table(payload, "sampled", anchors),
            "",
            "Test values: median over seeds (min–max); popularity and EASE are deterministic. "
            "`fit s` was measured while other benchmarks shared the 2 cores (not a speed "
            "figure: see [representation_speed.md](representation_speed.md)).",
            "",
            "## Notes",
            "",
            *NOTES[dataset],
            "",
            "## Every candidate (validation decides, on the sampled protocol for sasrec-bce and on full ranking for the rest; test on full ranking)",
            "",
            *bench.candidates_table(payload, ORDER),
            "",
            *runs_table(payload, ORDER),
            "## Environment (the latest run)",
            "",
            environment_markdown(payload["environment"]),
            "",
        ]
        return "\n".join(lines)

    return render


def pop_dataset(argv: list[str]) -> str:
    """Take ``--dataset NAME`` out of ``argv`` (the rest is the shared search command line)."""
    if "--dataset" not in argv:
        return "beauty"
    at = argv.index("--dataset")
    dataset = argv[at + 1] if at + 1 < len(argv) else ""
    if dataset not in DATASETS:
        sys.exit(f"--dataset must be one of {sorted(DATASETS)}")
    del argv[at : at + 2]
    return dataset


if __name__ == "__main__":
    chosen = pop_dataset(sys.argv)
    name, bench = DATASETS[chosen]
    main(
        name,
        bench,
        ORDER,
        "",
        __doc__,
        after_search=add_sampled,
        render_payload=render_for(chosen, name, bench),
    )
