"""``recforge rank-stage``: trains a ranker on a run's data and writes a stage the server
loads; ids-only data works; bad input is a one-line error."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from recforge.cli.main import main
from recforge.cli.online import shop_to_store
from recforge.cli.rank_stage import run_data_config
from recforge.core.config import from_dict
from recforge.data.synthetic import ShopConfig, generate_shop
from recforge.models.two_stage import RankStage
from recforge.serving.registry import ModelRegistry
from recforge.serving.service import RecommendationService
from recforge.serving.settings import ServingSettings
from recforge.serving.store import EventRecord, EventStore

RUN = """
name = "tiny"
output_dir = "{out}"

[data]
dataset = "synthetic"
events = ["click", "cart", "purchase"]
[data.synthetic]
n_users = 120
n_items = 80
n_days = 20

[model]
name = "gmf"
factors = 8

[training]
epochs = 1
batch_size = 512
progress = false

[evaluation]
protocol = "full"
ks = [10]
"""
SMALL = ("--set", "ranker.embedding_dim=4", "--set", "ranker.mlp_widths=[8]")


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["recforge", *args])
    try:
        main()
        code = 0
    except SystemExit as done:
        code = int(done.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error_line(code: int, err: str) -> str:
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def run_dir(monkeypatch, capsys, tmp_path) -> Path:
    config = tmp_path / "tiny.toml"
    config.write_text(RUN.format(out=(tmp_path / "models").as_posix()))
    code, _, err = run_cli(monkeypatch, capsys, "train", str(config))
    assert code == 0, err
    return tmp_path / "models" / "tiny"


def test_rank_stage_writes_a_stage_the_server_uses(monkeypatch, capsys, run_dir, tmp_path):
    code, out, err = run_cli(
        monkeypatch, capsys, "rank-stage", str(run_dir), "--model", "din", "--epochs", "1", *SMALL
    )
    assert code == 0, err
    saved = json.loads((run_dir / "rank_stage" / "training.json").read_text())
    assert saved["model"] == "din" and saved["ranker"]["embedding_dim"] == 4
    assert saved["behaviours"] == {
        "events": ["click", "cart", "purchase"],
        "implicit_threshold": None,
    }
    assert f"validation auc {saved['valid']['auc']:.4f}" in " ".join(out.split())
    stage = RankStage.load(run_dir / "rank_stage")
    assert stage.name == "DIN" and stage.pipeline.history == ("item_id", "category", "brand")

    # served from a store of the same shop: the store's string ids reach the ranker as the
    # integers it was trained on, and its history holds the events its rows counted (the
    # run's data keeps clicks, carts and purchases: a view is not a behaviour)
    data = run_data_config(run_dir)
    shop = generate_shop(from_dict(ShopConfig, data.synthetic), seed=data.seed)
    seen: list[tuple[object, list[object]]] = []
    with EventStore(tmp_path / "shop.db") as store:
        shop_to_store(shop, store)
        store.add_events(
            [
                EventRecord("viewed-now", "3", "78", "view", 1.0, time.time()),
                EventRecord("clicked-now", "3", "79", "click", 1.0, time.time()),
            ]
        )
        registry = ModelRegistry(run_dir.parent)
        bundle = registry.activate("tiny")
        original = bundle.rank_stage.score_request

        def spy(user_id, item_ids, recent=(), **options):
            seen.append((user_id, list(recent)))
            return original(user_id, item_ids, recent, **options)

        monkeypatch.setattr(bundle.rank_stage, "score_request", spy)
        service = RecommendationService(store, ServingSettings(db=str(store.url)), registry)
        answer = service.recommend("3", k=5)
    assert answer["model"]["ranker"] == "DIN"
    assert {item["source"] for item in answer["items"]} <= {"ranked", "content"}
    user_id, recent = seen[0]
    assert user_id == 3 and all(isinstance(i, int) for i in recent)
    assert recent[-1] == 79 and 78 not in recent
    clicked = shop.tables.interactions.query("user_id == 3 and event != 'view'")["item_id"]
    assert recent == [*dict.fromkeys(clicked), 79]
    logits = stage.score_request(3, [1, 2], recent)
    assert not np.allclose(logits, stage.score_request("3", [1, 2], recent))


def test_ids_only_data_and_a_rerun_replaces_the_stage(monkeypatch, capsys, tmp_path):
    log = tmp_path / "log.csv"
    rng = np.random.default_rng(0)
    lines = ["user,item,time"] + [
        f"u{user},i{item},{time}"
        for time, (user, item) in enumerate(
            zip(rng.integers(0, 20, 400), rng.integers(0, 40, 400), strict=True)
        )
    ]
    log.write_text("\n".join(lines) + "\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text(
        f'[data]\ndataset = "table"\npath = "{log.as_posix()}"\n'
        '[data.columns]\nuser_id = "user"\nitem_id = "item"\ntimestamp = "time"\n'
    )
    for model in ("dcn", "din"):
        args = ("rank-stage", str(run), "--model", model, "--epochs", "1", *SMALL[:2])
        code, out, err = run_cli(monkeypatch, capsys, *args)
        assert code == 0, err
        assert "No user or item attributes" in " ".join(out.split())
    stage = RankStage.load(run / "rank_stage")
    assert stage.name == "DIN" and stage.pipeline.sparse == ("user_id", "item_id")
    assert sorted(p.name for p in run.iterdir()) == ["config.toml", "rank_stage"]


def test_bad_input_is_one_line(monkeypatch, capsys, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    line = error_line(*run_cli(monkeypatch, capsys, "rank-stage", str(run))[::2])
    assert f"{run}: not a run directory (has no config.toml" in line
    (run / "config.toml").write_text('[data]\ndataset = "store"\n')
    line = error_line(*run_cli(monkeypatch, capsys, "rank-stage", str(run))[::2])
    assert "event store" in line and "--db" in line
    args = ("rank-stage", str(run), "--model", "dinn")
    line = error_line(*run_cli(monkeypatch, capsys, *args)[::2])
    assert "unknown ranker 'dinn'" in line and "din" in line
    args = ("rank-stage", str(run), "--set", "lr=0.1")
    line = error_line(*run_cli(monkeypatch, capsys, *args)[::2])
    assert "'lr'" in line and "training" in line
