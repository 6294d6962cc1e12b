"""The rank stage: trained from CTR rows, saved, loaded, and scoring live requests exactly as
it scores offline rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recforge.core.errors import ConfigError
from recforge.data.ctr import CTRTables
from recforge.data.ctr_rows import next_behaviour_rows
from recforge.models.checkpoint import CheckpointError
from recforge.models.two_stage import RankStage
from recforge.training.rank_stage import fit_rank_stage
from recforge.training.ranking import RankerTrainConfig

QUICK = RankerTrainConfig(epochs=2, batch_size=64, progress=False, threads=1)


def tables(with_history: bool = True) -> CTRTables:
    """Users who each stick to one category of a 40-item catalogue."""
    rng = np.random.default_rng(0)
    items = pd.DataFrame({"item_id": np.arange(40), "category": [f"c{i % 4}" for i in range(40)]})
    behaviours = pd.DataFrame(
        [
            (user, int(rng.choice(np.arange(user % 4, 40, 4))), position)
            for user in range(30)
            for position in range(8)
        ],
        columns=["user_id", "item_id", "timestamp"],
    )
    rows = next_behaviour_rows(behaviours, items["item_id"], rng)
    return CTRTables(
        "toy",
        rows.train,
        rows.valid,
        rows.test,
        rows.events if with_history else None,
        None,
        items,
        sparse=("user_id", "item_id", "category"),
        multi={},
        dense=(),
        history=("item_id", "category") if with_history else (),
        description="toy",
    )


@pytest.mark.parametrize("model", ["din", "dcn", "lightgbm"])
def test_a_saved_stage_scores_requests_as_it_scores_rows(model: str, tmp_path: Path) -> None:
    data = tables()
    params = {"num_leaves": 4, "n_estimators": 5} if model == "lightgbm" else {"embedding_dim": 4}
    fitted = fit_rank_stage(data, model, params, QUICK, history_length=5)
    loaded = RankStage.load(fitted.stage.save(tmp_path / "stage"))
    events = data.events
    assert events is not None
    user, at = 3, 7
    history = events[(events["user_id"] == user) & (events["timestamp"] < at)]["item_id"]
    candidates = [3, 7, 11, 0, 99]  # 99 is unknown to the pipeline
    rows = pd.DataFrame({"user_id": user, "item_id": candidates, "timestamp": at})
    offline = fitted.stage.score_rows(rows, events)
    live = loaded.score_request(user, candidates, history.tolist(), timestamp=at)
    np.testing.assert_allclose(live, offline, rtol=1e-5, atol=1e-6)
    assert loaded.name == fitted.stage.name
    assert loaded.score_request(user, []).shape == (0,)


def test_bad_requests_for_a_stage_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown ranker 'nope'"):
        fit_rank_stage(tables(), "nope")
    with pytest.raises(ConfigError, match="reads a behaviour history"):
        fit_rank_stage(tables(with_history=False), "din", {"embedding_dim": 4}, QUICK)
    with pytest.raises(ConfigError, match="hidden_units"):
        fit_rank_stage(tables(), "dcn", {"hidden_units": 3}, QUICK)
    with pytest.raises(CheckpointError, match="rank stage not found"):
        RankStage.load(tmp_path)
    stage = fit_rank_stage(tables(), "dcn", {"embedding_dim": 4}, QUICK).stage.save(tmp_path / "s")
    (stage / "stage.json").write_text(json.dumps({"format_version": 1, "kind": "magic"}))
    with pytest.raises(CheckpointError, match="kind 'magic'"):
        RankStage.load(stage)
    (stage / "stage.json").write_text("{broken")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        RankStage.load(stage)
