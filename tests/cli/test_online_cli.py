"""``recforge retrain`` and ``recforge serve`` from the command line."""

from __future__ import annotations

import json
import time

from test_cli import run_cli

from recforge.cli.online import shop_to_store, store_tables
from recforge.data.synthetic import ShopConfig, generate_shop
from recforge.serving.store import EventStore

SMALL = ShopConfig(n_users=120, n_items=60, n_days=20)

RETRAIN = """
name = "gmf-store"
[data]
dataset = "ignored: the store is the data"
split = "leave_one_out_time"
eval_negatives = 0
[model]
name = "gmf"
factors = 8
[training]
epochs = 2
progress = false
[evaluation]
protocol = "full"
ks = [10]
"""


def stored_shop(tmp_path) -> str:
    db = str(tmp_path / "shop.db")
    with EventStore(db) as store:
        shop = generate_shop(SMALL, seed=3)
        assert shop_to_store(shop, store) == len(shop.tables.interactions)
        assert shop_to_store(shop, store) == 0  # a second copy is a no-op (stable event ids)
    return db


def test_retrain_writes_and_activates_runs(monkeypatch, capsys, tmp_path):
    db = stored_shop(tmp_path)
    models = tmp_path / "models"
    code, out, err = run_cli(monkeypatch, capsys, "retrain", "--db", db, "--models", str(models))
    assert code == 0, err
    first = json.loads((models / "active.json").read_text())["current"]
    assert first.startswith("ials-") and "(active)" in out
    assert json.loads((models / first / "metrics.json").read_text())["test"]["hr@10"] > 0
    config = tmp_path / "retrain.toml"
    config.write_text(RETRAIN)
    code, out, err = run_cli(
        monkeypatch, capsys, "retrain", "--db", db, "--models", str(models),
        "--config", str(config), "--set", "model.factors=4", "--no-activate",
    )  # fmt: skip
    assert code == 0, err
    pointer = json.loads((models / "active.json").read_text())
    assert pointer["current"] == first  # --no-activate leaves the active run alone
    assert len([p for p in models.iterdir() if p.is_dir()]) == 2


def test_retrain_on_an_empty_store_is_a_one_line_error(monkeypatch, capsys, tmp_path):
    db = str(tmp_path / "empty.db")
    code, _, err = run_cli(monkeypatch, capsys, "retrain", "--db", db, "--models", str(tmp_path))
    assert code == 2
    assert err.strip().startswith("error:") and "no events stored" in err
    assert len(err.strip().splitlines()) == 1


def test_serve_refuses_a_bad_settings_file(monkeypatch, capsys, tmp_path):
    config = tmp_path / "serve.toml"
    config.write_text("max_batch = 0\n")
    code, _, err = run_cli(monkeypatch, capsys, "serve", "--config", str(config), "--port", "1")
    assert code == 2 and "max_batch" in err
    config.write_text("max_bach = 10\n")
    code, _, err = run_cli(monkeypatch, capsys, "serve", "--config", str(config), "--port", "1")
    assert code == 2 and "max_bach" in err and "unknown key" in err


def test_store_tables_keep_time_order_and_string_ids(tmp_path):
    db = stored_shop(tmp_path)
    with EventStore(db) as store:
        tables = store_tables(store)
    frame = tables.interactions
    assert frame["user_id"].map(type).eq(str).all()
    assert frame["timestamp"].is_monotonic_increasing
    assert tables.items is not None and {"title", "categories"} <= set(tables.items.columns)


def test_shop_can_end_now(tmp_path):
    end = time.time()
    with EventStore(str(tmp_path / "now.db")) as store:
        shop_to_store(generate_shop(SMALL, seed=1), store, end_at=end)
        assert abs(float(store.export_events()["timestamp"].max()) - end) < 1.0


def test_server_logs_are_json_lines_with_the_request_fields():
    import logging

    from recforge.cli.serve import JsonFormatter

    record = logging.LogRecord(
        "recforge.serving.access", logging.INFO, "", 0, "GET %s", ("/x",), None
    )
    record.status = 200
    record.ms = 1.5
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "GET /x" and entry["status"] == 200 and entry["ms"] == 1.5
    assert entry["level"] == "info" and entry["logger"] == "recforge.serving.access"


def test_shipped_configs_parse():
    """Every TOML under configs/ is a valid experiment (a typo would fail only at run time)."""
    from pathlib import Path

    from recforge.training.experiment import load_experiment

    configs = sorted((Path(__file__).parents[2] / "configs").glob("*.toml"))
    assert len(configs) >= 4
    for path in configs:
        load_experiment(path)
