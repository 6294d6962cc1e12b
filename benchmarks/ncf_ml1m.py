"""The NCF paper's MovieLens-1M table (He et al. 2017), measured here.

Protocol: the paper's files (``$RECFORGE_DATA/ml-1m/ncf``): each user's latest rating is the
test item, ranked among the paper's 99 sampled negatives; HR@10 and NDCG@10.
Model selection: one random training item per user is held out as validation (the
reconstructed training file has no timestamps, so "latest" is not available) with 99
negatives the user never rated; every grid and early stopping look only at validation
NDCG@10. The chosen configuration is then rerun with further seeds; the table shows the
median test value and the spread over seeds.

    python benchmarks/ncf_ml1m.py                # everything (~50 min on 2 cores)
    python benchmarks/ncf_ml1m.py --only ease ials --seeds 1
    python benchmarks/ncf_ml1m.py --render       # rewrite the markdown from raw JSON
"""

from __future__ import annotations

from recforge.data.dataset import DataConfig
from recforge.training.experiment import EvalConfig
from recforge.training.loop import TrainConfig

from _common import ROOT
from _search import ORDER, PRETRAINED_GRID, Benchmark, main

BENCH = Benchmark(
    data=DataConfig(dataset="ncf-ml-1m", split="ncf", seed=0),
    evaluation=EvalConfig(protocol="sampled", ks=(10,)),
    training=TrainConfig(
        epochs=20, batch_size=4096, patience=3, valid_metric="ndcg@10", progress=False
    ),
    runs_dir=ROOT / "runs" / "bench" / "ncf_ml1m",
    # small grids: every neural candidate costs minutes here; lr is scaled up from the
    # paper's batch of 256 to our 4,096
    search={
        "popularity": [({}, {})],
        "itemknn": [({"k_neighbours": k}, {}) for k in (20, 50, 100)],
        "ease": [({"l2": l2}, {}) for l2 in (500.0, 1000.0, 2000.0)],
        "ials": [
            ({"factors": f, "alpha": a, "regularization": r, "iterations": 20}, {})
            for f in (64, 128, 256)
            for a in (2.0, 4.0, 8.0)
            for r in (25.0, 50.0, 100.0, 200.0)
        ],
        "bprmf": [
            ({"factors": 64}, {"loss": "bpr", "n_negatives": 1, "lr": lr, "weight_decay": wd})
            for lr, wd in ((0.002, 0.0), (0.005, 0.0), (0.005, 1e-6))
        ],
        # weight_decay is Adam's coupled L2 on every parameter; 1e-5 already underfits
        "gmf": [
            ({"factors": f}, {"lr": lr, "weight_decay": wd})
            for f, lr, wd in (
                (32, 0.002, 0.0),
                (32, 0.005, 0.0),
                (32, 0.002, 1e-6),
                (64, 0.002, 1e-6),
                (64, 0.002, 3e-6),
            )
        ],
        "mlp": [({"layers": (128, 64, 32)}, {"lr": lr}) for lr in (0.002, 0.005)],
        "neumf": [
            ({"factors": 32, "layers": (128, 64, 32)}, {"lr": lr, "weight_decay": wd})
            for lr, wd in ((0.002, 0.0), (0.005, 0.0), (0.002, 1e-6))
        ],
        "neumf-pretrained": PRETRAINED_GRID,
    },
    anchors={
        "neumf-pretrained": (
            "NeuMF with pre-training (He et al. 2017; the issue's anchor)",
            {"hr@10": 0.726, "ndcg@10": 0.445},
        ),
        "neumf": (
            "paper target for NeuMF: HR ≥ 0.72, NDCG ≥ 0.44",
            {"hr@10": 0.72, "ndcg@10": 0.44},
        ),
        "gmf": ("tuned dot-product MF (Rendle et al. 2020)", {"hr@10": 0.7294, "ndcg@10": 0.4523}),
        "ease": ("SLIM, reported by Rendle et al. 2020", {"hr@10": 0.7161, "ndcg@10": 0.4470}),
    },
)

INTRO = """# NCF paper table on MovieLens-1M (He et al. 2017 protocol)

Written by `python benchmarks/ncf_ml1m.py` (all rows; `--only NAME ...` reruns some, and the
Environment section shows the command of the last run). Raw numbers:
`docs/results/raw/ncf_ml1m.json`; run directories with configs and training logs:
`runs/bench/ncf_ml1m/` (not committed).

Test protocol: the paper's own files — each user's latest rating is held out and ranked among
the paper's 99 negatives (156 negative lists contain the user's own test item; as in the
reference code, whose candidates form a set, that duplicate is ignored). Model selection: one
random training item per user held out as validation with 99 fresh negatives; every grid and
early stopping use validation NDCG@10 only; the test file is read once per trained model,
after training, and never feeds a choice. Models train on the training file minus the
validation items (6,040 of 994,169 rows). Validation is easier than test (a random item
rather than the latest one), which is why validation values are higher.

## Where this stands against the paper

- Popularity lands at the ItemPop level of the NCF paper's figures (about 0.45 HR@10), a
  check on the protocol and the files.
- NCF models land about 0.02 HR@10 below the paper (NeuMF with pre-training: 0.726 / 0.445,
  the issue's anchor). Likely causes, none verified: the paper's released code evaluates
  the test file after every epoch and reports the best epoch, while here early stopping
  sees only a validation item; and our validation item is random, not the latest (the
  reconstructed training file has no timestamps), so it rewards a different fit than the
  temporal test. Smaller batches did not help (see the batch sweep in `speed.md`); nor did
  exploratory GMF runs outside this grid (128 factors, 8 negatives, or batch 1,024 at
  lr 0.001: test HR@10 0.700–0.704).
- The strongest models here are the linear/factorisation baselines (iALS, EASE), at the
  level of SLIM in Rendle et al. 2020 but below their tuned MF (0.7294 / 0.4523), which
  needed far longer training than this grid affords.
"""


if __name__ == "__main__":
    main("ncf_ml1m", BENCH, ORDER, INTRO, __doc__)
