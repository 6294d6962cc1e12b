"""The full-Criteo route of the ranking benchmark (`ctr_tables("criteo", path=...)`), checked on
the 200-row sample: the same rows as ``criteo-sample``, categorical columns read as pandas
``category`` (what fits 45 million rows in memory) encoding exactly as the object strings do,
and a DCN at the benchmark's Criteo settings training on the encoded rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import real_data
from recforge.core.errors import DatasetNotFoundError
from recforge.data.ctr import CTRTables, ctr_tables
from recforge.data.sources.criteo import CATEGORICAL_COLUMNS, INTEGER_COLUMNS
from recforge.features.pipeline import FeaturePipeline
from recforge.models.dcn import DCN, DCNConfig
from recforge.training.ranking import RankerTrainConfig, evaluate_ranker, fit_ranker

# benchmarks/ranking.py, SETUPS["criteo"]: pipeline arguments and the DCN candidate
PIPELINE: dict[str, Any] = {"dense_transform": "log", "min_count": 10}
DCN_PARAMS = {
    "embedding_dim": 10,
    "hidden": (400, 400, 400),
    "dropout": 0.1,
    "cross_layers": 3,
    "batch_norm": False,
}


def pipeline(tables: CTRTables, min_count: int) -> FeaturePipeline:
    return FeaturePipeline(
        sparse=tables.sparse, dense=tables.dense, **{**PIPELINE, "min_count": min_count}
    ).fit(tables.train)


def test_criteo_needs_its_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"ctr_tables\('criteo'\) reads the file"):
        ctr_tables("criteo")
    missing = tmp_path / "train.txt"
    with pytest.raises(DatasetNotFoundError, match=r"train\.txt"):
        ctr_tables("criteo", path=missing)
    with pytest.raises(ValueError, match="path= is only for 'criteo'"):
        ctr_tables("ml-100k", path=missing)


def test_criteo_file_in_kaggle_layout(tmp_path: Path) -> None:
    """TAB-separated, no header, as the Kaggle train.txt: 10 rows -> 8 / 1 / 1."""
    lines = [
        "\t".join([str(k % 2), str(k), *[""] * 12, f"{k % 3:08x}", *[""] * 25]) for k in range(10)
    ]
    path = tmp_path / "train.txt"
    path.write_text("\n".join(lines) + "\n")
    tables = ctr_tables("criteo", path=path, seed=3)
    assert (len(tables.train), len(tables.valid), len(tables.test)) == (8, 1, 1)
    assert tables.name == "criteo" and isinstance(tables.train["C1"].dtype, pd.CategoricalDtype)
    every = pd.concat([tables.train, tables.valid, tables.test]).sort_values("timestamp")
    assert every["I1"].tolist() == [float(k) for k in range(10)]
    assert every["label"].tolist() == [k % 2 for k in range(10)]


@pytest.mark.slow
def test_criteo_route_on_the_sample_trains_dcn() -> None:
    folder = real_data("criteo-sample")
    full = ctr_tables("criteo", path=folder / "criteo_sample.txt")
    sample = ctr_tables("criteo-sample", root=folder.parent)
    assert (len(full.train), len(full.valid), len(full.test)) == (160, 20, 20)
    assert full.sparse == ("user_id", "item_id", *CATEGORICAL_COLUMNS)
    assert full.dense == INTEGER_COLUMNS
    for split in ("train", "valid", "test"):  # same split, same rows
        ours, theirs = getattr(full, split), getattr(sample, split)
        assert ours["timestamp"].tolist() == theirs["timestamp"].tolist()
        assert ours["C1"].astype(object).where(ours["C1"].notna(), None).tolist() == (
            theirs["C1"].tolist()
        )

    # min_count 1: every value of the sample keeps its index, so all of them are compared
    categories, strings = pipeline(full, 1), pipeline(sample, 1)  # strings: the sample route
    for ours, theirs in zip((full.train, full.test), (sample.train, sample.test), strict=True):
        assert torch.equal(categories.transform(ours).sparse, strings.transform(theirs).sparse)
        assert torch.equal(categories.transform(ours).dense, strings.transform(theirs).dense)
    encoded = pipeline(full, int(PIPELINE["min_count"]))
    batches = [encoded.transform(rows) for rows in (full.train, full.valid, full.test)]
    # dense: log(1 + max(x, 0)) standardised on the training rows, missing -> 0
    logs = np.log1p(np.maximum(full.train["I1"].to_numpy(), 0.0))
    present = logs[~np.isnan(logs)]
    expected_i1 = np.where(np.isnan(logs), 0.0, (logs - present.mean()) / present.std())
    np.testing.assert_allclose(batches[0].dense[:, 0].numpy(), expected_i1, rtol=1e-5, atol=1e-6)

    torch.manual_seed(0)
    model = DCN(DCNConfig(**DCN_PARAMS), encoded.schema)
    config = RankerTrainConfig(epochs=1, batch_size=4096, progress=False, patience=2)
    result = fit_ranker(model, batches[0], batches[1], config)
    assert len(result.history) == 1 and np.isfinite(result.history[0]["loss"])
    scores = evaluate_ranker(model, batches[2])
    assert 0.0 <= scores["auc"] <= 1.0 and np.isfinite(scores["logloss"])
