"""MovieLens-100K, full ranking: the same models against RecBole's numbers on such a split.

Split: every user's interactions (all ratings count as implicit feedback, as in RecBole's
defaults) shuffled with seed 2020 and cut 80/10/10; the test ranks every item the user has
not seen in training or validation. Metrics: Recall@10, NDCG@10, Hit@10, MRR@10. Model
selection on validation NDCG@10 (training items masked), never on test.

    python benchmarks/ml100k_full.py              # ~10 min on 2 cores
    python benchmarks/ml100k_full.py --render
"""

from __future__ import annotations

from recforge.data.dataset import DataConfig
from recforge.training.experiment import EvalConfig
from recforge.training.loop import TrainConfig

from _common import ROOT
from _search import ORDER, PRETRAINED_GRID, Benchmark, main

BENCH = Benchmark(
    data=DataConfig(
        dataset="ml-100k", split="ratio_random", ratios=(0.8, 0.1, 0.1), eval_negatives=0, seed=2020
    ),
    evaluation=EvalConfig(protocol="full", ks=(10,)),
    training=TrainConfig(
        epochs=200, batch_size=2048, patience=10, valid_metric="ndcg@10", progress=False
    ),
    runs_dir=ROOT / "runs" / "bench" / "ml100k_full",
    columns=("recall@10", "ndcg@10", "hr@10", "mrr@10"),
    search={
        "popularity": [({}, {})],
        "itemknn": [({"k_neighbours": k}, {}) for k in (20, 50, 100, 200)],
        "ease": [({"l2": l2}, {}) for l2 in (100.0, 200.0, 400.0, 800.0)],
        "ials": [
            ({"factors": f, "alpha": a, "regularization": r, "iterations": 20}, {})
            for f in (64, 128)
            for a, r in ((2.0, 10.0), (4.0, 50.0), (8.0, 100.0))
        ],
        "bprmf": [
            ({"factors": 64}, {"loss": "bpr", "n_negatives": n, "lr": lr, "weight_decay": wd})
            for n, lr, wd in ((1, 0.001, 0.0), (1, 0.005, 0.0), (4, 0.002, 0.0), (4, 0.002, 1e-5))
        ],
        "gmf": [
            ({"factors": 64}, {"lr": lr, "n_negatives": n})
            for lr, n in ((0.002, 4), (0.005, 4), (0.002, 8))
        ],
        "mlp": [({"layers": (128, 64, 32)}, {"lr": lr}) for lr in (0.001, 0.003)],
        "neumf": [({"factors": 64, "layers": (128, 64, 32)}, {"lr": lr}) for lr in (0.001, 0.003)],
        "neumf-pretrained": PRETRAINED_GRID,
    },
    anchors={
        "bprmf": (
            "RecBole 1.2.1 BPR, same machine",
            {"recall@10": 0.2466, "ndcg@10": 0.2928, "hr@10": 0.7815},
        ),
        "neumf": ("RecBole 1.2.1 NeuMF, same machine", {"recall@10": 0.2337, "ndcg@10": 0.2778}),
        "ease": ("linear EASE on such a split here (issue)", {"recall@10": 0.28, "ndcg@10": 0.35}),
    },
)

INTRO = """# MovieLens-100K, full ranking (random 80/10/10 per user)

Written by the command in the Environment section (raw numbers: `docs/results/raw/ml100k_full.json`).

All 100,000 ratings are implicit positives (RecBole's default); each user's interactions are
shuffled (seed 2020) and split 80/10/10 with `floor` shares for validation and test
(RecBole's rule). The test ranks the whole catalogue with the user's training and validation
items masked; Recall uses the number of test items as denominator (RecBole's definition).
Grids and early stopping use validation NDCG@10 only. Anchors are RecBole 1.2.1 runs with its
defaults and seed 2020 on the same machine (from the issue); RecBole's own split differs in
its random draw, so differences of ±0.01 are within split noise.

LightGCN (RecBole: Recall@10 0.1853 / NDCG@10 0.2116) belongs to the representation issue and
is not measured here.

## Where this stands

- NeuMF reaches RecBole's NeuMF row; BPR-MF's median sits just under RecBole's BPR row, with
  its best seed on it (the spread over seeds is as large as the gap).
- EASE is the strongest model here, as in most full-ranking comparisons on MovieLens; no
  neural model reaches it, NeuMF with pre-training comes closest. The issue quotes about
  0.28 / 0.35 for EASE on such a split; here every model trains on the 80% training part
  only (as RecBole does), with no refit on training + validation after model selection,
  which is one plausible reason for the lower value.
"""


if __name__ == "__main__":
    main("ml100k_full", BENCH, ORDER, INTRO, __doc__)
