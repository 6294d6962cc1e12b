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
selection on validation NDCG@10 under full ranking (under the sampled protocol for the rows
made to face the sampled anchors: sasrec-bce, sasrec-post, sasrec-ce), never on test; each chosen
model is then trained with 3 seeds and its test items are scored under both protocols.

    python benchmarks/representation.py                      # Beauty, ~4 h on 2 cores
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
    "sasrec-ce",
]
#: rows chosen and early-stopped on sampled validation (the paper's protocol and loss)
SAMPLED_ROWS = {"sasrec-bce": "sasrec", "sasrec-post": "sasrec", "sasrec-ce": "sasrec"}
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

#: SASRec with the blocks of S3-Rec's code (the anchors' source): post-norm, two heads,
#: GELU, feed-forward 4 x 64 without inner dropout, N(0, 0.02) weights
S3REC_BLOCKS = {
    "factors": 64,
    "max_len": 50,
    "dropout": 0.5,
    "blocks": 2,
    "heads": 2,
    "norm_first": False,
    "activation": "gelu",
    "feedforward": 256,
    "feedforward_dropout": False,
    "block_init": "normal",
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
                {
                    **SEQUENCE_TRAINING,
                    "loss": "sampled_ce",
                    "n_negatives": n,
                    "lr": 0.002,
                    "batch_weighting": weighting,
                },
            )
            # "equal": the loop's batch weighting before 2026-11-29, the row's earlier choice
            for n, weighting in ((1024, "targets"), (4096, "targets"), (4096, "equal"))
        ],
        # SASRec as its paper trains it, chosen on sampled validation
        "sasrec-bce": [
            (
                {"factors": 64, "max_len": 50, "dropout": 0.5, "blocks": 2, "heads": 1},
                PAPER_TRAINING,
            )
        ],
        # the SASRec baseline of S3-Rec's code, batch 256; trained and chosen as sasrec-bce
        "sasrec-post": [(S3REC_BLOCKS, {**PAPER_TRAINING, "batch_size": 256})],
        # the same model trained with the full softmax over all items
        "sasrec-ce": [(S3REC_BLOCKS, {**SEQUENCE_TRAINING, "loss": "ce", "lr": 0.001})],
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
        "| model | chosen on validation NDCG@10 (full; sampled for sasrec-bce/-post/-ce) "
        "| test HR@10 "
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
        "- SASRec against its anchors. `sasrec-post` is the SASRec of S3-Rec's code block for "
        "block (post-norm, two heads, GELU, feed-forward 256 without inner dropout, N(0, 0.02) "
        "weights; one uniform negative per position with binary cross-entropy, lr 0.001, "
        "batch 256), chosen and early-stopped on sampled validation: sampled test HR@10 / "
        "NDCG@10 0.4663 / 0.3144, where S3-Rec's repository reports 0.4651 / 0.3142 for its "
        "own rerun of this model (`reproduce/README.md`) and the paper 0.4696 / 0.3156; on "
        "full ranking 0.0595 / 0.0313 against the repository's 0.0605 / 0.0318. `sasrec-ce` "
        'is the same model trained with the softmax over all 12,101 items (`loss = "ce"`), '
        "chosen the same way: sampled test 0.5019 / 0.3527 (median; one seed stopped at "
        "epoch 18 with 0.4878), full ranking 0.0939 / 0.0572, the best model here on both "
        "protocols (under BSARec's 0.1008 / 0.0611 on full ranking); ~27 s per epoch on one thread against ~4 s for the binary cross-entropy. "
        "No model here has S3-Rec's self-supervised pre-training (not implemented; its "
        "paper's 0.5506 / 0.3732).",
        "- `sasrec` (the paper's pre-norm blocks, one head; softmax over the target and 1,024 "
        "or 4,096 uniform negatives per batch, chosen on full-ranking validation) is the "
        "full-ranking row: test 0.0910 / 0.0542 (published SASRec 0.0605 / 0.0318, BSARec "
        "0.1008 / 0.0611), and on the sampled protocol 0.4981 / 0.3488, above the S3-Rec "
        "paper's SASRec (0.4696 / 0.3156). `sasrec-bce` is SASRec as its paper trains it (pre-norm "
        "blocks, one uniform negative per position, batch 128): rerun with the batch "
        "weighting below fixed, it gets 0.4692 / 0.3160 sampled, the S3-Rec paper's SASRec "
        "(0.4696 / 0.3156) to within 0.0004, and 0.0588 / 0.0307 on full ranking (S3-Rec "
        "repository 0.0605 / 0.0318); with the old weighting it got 0.4556 / 0.3069 and "
        "0.0592 / 0.0312 and needed 135-175 epochs instead of 90-95.",
        "- Batch weighting. Training batches hold windows of similar length (fast on short "
        "histories). Until 2026-11-29 the loop gave every batch's mean loss the same weight "
        '(`batch_weighting = "equal"`), which counts a position of a short history several '
        "times more than one of a long history; now each batch counts in proportion to its "
        "targets (`\"targets\"`), the papers' mean over all positions. It moved SASRec's "
        "numbers here: `sasrec`'s search holds both (validation in the candidates table), "
        "and `sasrec-post`'s earlier run (old weighting, PyTorch's initialisation of the "
        "blocks and dropout inside the feed-forward: three differences at once) reached a "
        "sampled validation HR@10 of 0.4936 (test 0.4440, one seed) against 0.5142 now. Rows "
        "made before 2026-11-29 (dates under 'How each row was made') used the old "
        "weighting; none of them trains a sequence model.",
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
            "## Every candidate (validation decides, on the sampled protocol for sasrec-bce, "
            "sasrec-post and sasrec-ce and on full ranking for the rest; test on full ranking)",
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
    """Take ``--dataset NAME`` out of ``argv`` (the rest is the shared search command line;
    the recorded command keeps it)."""
    if "--dataset" not in argv:
        return "beauty"
    at = argv.index("--dataset")
    dataset = argv[at + 1] if at + 1 < len(argv) else ""
    if dataset not in DATASETS:
        sys.exit(f"--dataset must be one of {sorted(DATASETS)}")
    del argv[at : at + 2]
    return dataset


if __name__ == "__main__":
    search_argv = sys.argv[1:]
    chosen = pop_dataset(search_argv)
    name, bench = DATASETS[chosen]
    main(
        name,
        bench,
        ORDER,
        "",
        __doc__,
        after_search=add_sampled,
        render_payload=render_for(chosen, name, bench),
        argv=search_argv,
    )
