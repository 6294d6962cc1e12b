"""The command line end to end on a tiny synthetic shop; bad input gives one-line errors."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from recforge.cli.main import main

TINY = """
name = "tiny"
seed = 1
output_dir = "{out}"

[data]
dataset = "synthetic"
split = "leave_one_out_time"
events = ["click", "cart", "purchase"]
[data.synthetic]
n_users = 150
n_items = 80
n_days = 20

[model]
name = "gmf"
factors = 8

[training]
epochs = 2
batch_size = 512
progress = false

[evaluation]
protocol = "full"
ks = [10]
"""


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["recforge", *args])
    try:
        main()
        code = 0
    except SystemExit as done:
        code = int(done.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(out=(tmp_path / "runs").as_posix()))
    return path


def test_train_recommend_evaluate(monkeypatch, capsys, config_file, tmp_path):
    code, out, err = run_cli(monkeypatch, capsys, "train", str(config_file))
    assert code == 0, err
    run_dir = tmp_path / "runs" / "tiny"
    for name in (
        "config.toml",
        "model.pt",
        "metrics.json",
        "manifest.json",
        "train_log.jsonl",
        "user_vocab.json",
        "item_vocab.json",
        "seen.npz",
        "items.jsonl",
    ):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0 <= metrics["test"]["hr@10"] <= 1
    assert "gmf: test" in out and f"{metrics['test']['hr@10']:.4f}" in out

    code, out, err = run_cli(
        monkeypatch, capsys, "recommend", str(run_dir), "--user", "3", "-k", "5"
    )
    assert code == 0, err
    assert "top 5 for user 3" in out
    # titles from the shop's catalogue, not only ids
    assert sum(line.count("│") >= 4 for line in out.splitlines()) == 5

    code, out, err = run_cli(monkeypatch, capsys, "evaluate", str(run_dir))
    assert code == 0, err
    assert f"{metrics['test']['hr@10']:.4f}" in out


def test_override_changes_the_run(monkeypatch, capsys, config_file, tmp_path):
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "train",
        str(config_file),
        "--set",
        "model.factors=4",
        "--set",
        "training.epochs=1",
    )
    assert code == 0, err
    saved = (tmp_path / "runs" / "tiny" / "config.toml").read_text()
    assert "factors = 4" in saved and "epochs = 1" in saved


def one_line_error(code: int, err: str) -> str:
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_unknown_config_key_names_it(monkeypatch, capsys, config_file):
    config_file.write_text(config_file.read_text().replace("epochs = 2", "epochz = 2"))
    line = one_line_error(*run_cli(monkeypatch, capsys, "train", str(config_file))[::2])
    assert "training.epochz" in line and "tiny.toml" in line


def test_wrong_type_in_override_names_key(monkeypatch, capsys, config_file):
    code, _, err = run_cli(
        monkeypatch, capsys, "train", str(config_file), "--set", "training.lr=fast"
    )
    line = one_line_error(code, err)
    assert "training.lr" in line


def test_unknown_model_name(monkeypatch, capsys, config_file):
    config_file.write_text(config_file.read_text().replace('name = "gmf"', 'name = "gfm"'))
    line = one_line_error(*run_cli(monkeypatch, capsys, "train", str(config_file))[::2])
    assert "model.name" in line and "gfm" in line


def test_unknown_user_in_recommend(monkeypatch, capsys, config_file, tmp_path):
    assert run_cli(monkeypatch, capsys, "train", str(config_file))[0] == 0
    code, _, err = run_cli(
        monkeypatch, capsys, "recommend", str(tmp_path / "runs" / "tiny"), "--user", "no-such-user"
    )
    line = one_line_error(code, err)
    assert "unknown user id 'no-such-user'" in line


def test_not_a_run_directory(monkeypatch, capsys, tmp_path):
    line = one_line_error(
        *run_cli(monkeypatch, capsys, "recommend", str(tmp_path), "--user", "1")[::2]
    )
    assert "not a recforge run directory" in line


def train_on_table(monkeypatch, capsys, ratings, columns: str) -> str:
    """Train popularity on a generic table file; return the one-line error."""
    config = ratings.parent / "table.toml"
    config.write_text(
        f'[data]\ndataset = "table"\npath = "{ratings.as_posix()}"\ncolumns = {columns}\n'
        '[model]\nname = "popularity"\n'
    )
    return one_line_error(*run_cli(monkeypatch, capsys, "train", str(config))[::2])


def test_malformed_ratings_file_names_file_and_line(monkeypatch, capsys, tmp_path):
    ratings = tmp_path / "ratings.csv"
    ratings.write_text("user,item,stars\n1,10,5\n2,11,4\n3,12,abc\n")
    line = train_on_table(
        monkeypatch, capsys, ratings, '{user_id = "user", item_id = "item", value = "stars"}'
    )
    assert "ratings.csv" in line and ":4" in line


def test_truncated_gzip_names_file(monkeypatch, capsys, tmp_path):
    import gzip

    ratings = tmp_path / "ratings.csv.gz"
    payload = gzip.compress(b"user,item\n" + b"".join(b"%d,%d\n" % (i, i) for i in range(2000)))
    ratings.write_bytes(payload[: len(payload) // 2])
    line = train_on_table(monkeypatch, capsys, ratings, '{user_id = "user", item_id = "item"}')
    assert "ratings.csv.gz" in line


def test_unknown_column_mapping(monkeypatch, capsys, tmp_path):
    ratings = tmp_path / "ratings.csv"
    ratings.write_text("user,item\n1,10\n")
    line = train_on_table(monkeypatch, capsys, ratings, '{user_id = "customer", item_id = "item"}')
    assert "customer" in line and "ratings.csv" in line


def test_unknown_dataset_lists_known(monkeypatch, capsys):
    line = one_line_error(*run_cli(monkeypatch, capsys, "datasets", "info", "ml-2m")[::2])
    assert "ml-100k" in line


def test_datasets_list(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "datasets", "list")
    assert code == 0 and "ml-1m" in out


def test_demo_writes_report_and_neumf_beats_popularity(monkeypatch, capsys, tmp_path):
    code, out, err = run_cli(monkeypatch, capsys, "demo", "--out", str(tmp_path), "--epochs", "4")
    assert code == 0, err
    assert (tmp_path / "report.md").is_file() and (tmp_path / "neumf_training.png").is_file()
    rows = {
        line.split("|")[1].strip(): line.split("|")[2].strip("* ")
        for line in out.splitlines()
        if line.startswith("| ") and line.split("|")[1].strip() in ("popularity", "neumf")
    }
    assert float(rows["neumf"]) > 2 * float(rows["popularity"])  # hr@10 on the shop


@pytest.mark.parametrize(
    ("model", "training"),
    [("sasrec", 'loss = "ce"\nbatch_size = 64'), ("gru4rec", 'loss = "ce"\nbatch_size = 64')],
)
def test_sequence_models_train_recommend_and_find_similar_items(
    monkeypatch, capsys, tmp_path, model, training
):
    text = TINY.format(out=(tmp_path / "runs").as_posix())
    text = text.replace('name = "gmf"\nfactors = 8', f'name = "{model}"\nfactors = 8\nmax_len = 10')
    text = text.replace("batch_size = 512", training)
    path = tmp_path / "seq.toml"
    path.write_text(text)
    code, out, err = run_cli(monkeypatch, capsys, "train", str(path))
    assert code == 0, err
    run_dir = tmp_path / "runs" / "tiny"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test_history"] == "train+valid"  # leave-one-out: validation item fed
    code, out, err = run_cli(monkeypatch, capsys, "recommend", str(run_dir), "--user", "3")
    assert code == 0 and "top 10 for user 3" in out, err
    code, out, err = run_cli(monkeypatch, capsys, "similar", str(run_dir), "--item", "5", "-k", "4")
    assert code == 0 and "4 items like 5" in out, err
    code, _, err = run_cli(monkeypatch, capsys, "similar", str(run_dir), "--item", "no-such-item")
    assert "unknown item id 'no-such-item'" in one_line_error(code, err)


def test_similar_needs_an_item_to_item_measure(monkeypatch, capsys, config_file, tmp_path):
    text = config_file.read_text().replace('name = "gmf"\nfactors = 8', 'name = "popularity"')
    config_file.write_text(text)
    assert run_cli(monkeypatch, capsys, "train", str(config_file))[0] == 0
    code, _, err = run_cli(
        monkeypatch, capsys, "similar", str(tmp_path / "runs" / "tiny"), "--item", "5"
    )
    assert "no item-to-item similarity" in one_line_error(code, err)


def test_textcnn_trains_from_the_config_on_item_texts(monkeypatch, capsys, tmp_path):
    text = TINY.format(out=(tmp_path / "runs").as_posix())
    text = text.replace('name = "gmf"\nfactors = 8', 'name = "textcnn"\nfactors = 8')
    path = tmp_path / "textcnn.toml"
    path.write_text(text)
    code, out, err = run_cli(monkeypatch, capsys, "train", str(path))
    assert code == 0, err
    from recforge.models import MODELS
    from recforge.models.artifact import load_artifact

    model = load_artifact(tmp_path / "runs" / "tiny", MODELS).model
    assert int((model.item_tokens > 1).sum()) > 0  # the shop's titles became tokens
    code, out, err = run_cli(
        monkeypatch, capsys, "similar", str(tmp_path / "runs" / "tiny"), "--item", "5"
    )
    assert code == 0 and "10 items like 5" in out, err


@pytest.mark.parametrize("model", ["kgcn", "kgin", "kglightgcn"])
def test_kg_model_without_a_knowledge_graph_is_a_clear_error(
    monkeypatch, capsys, config_file, model
):
    text = config_file.read_text().replace('name = "gmf"\nfactors = 8', f'name = "{model}"')
    config_file.write_text(text)
    line = one_line_error(*run_cli(monkeypatch, capsys, "train", str(config_file))[::2])
    assert "data.knowledge_graph" in line and f"{model} needs a knowledge graph" in line


@pytest.mark.parametrize("model, loss", [("kgcn", "bce"), ("kgin", "bpr"), ("kglightgcn", "bpr")])
def test_kg_model_trains_from_a_config_on_movielens_and_its_graph(
    monkeypatch, capsys, tmp_path, model, loss
):
    root = os.environ.get("RECFORGE_DATA")
    if not root or not all((Path(root) / d).is_dir() for d in ("ml-100k", "ml-100k-kg-recbole")):
        pytest.skip("MovieLens-100K and its knowledge graph not available (set RECFORGE_DATA)")
    text = f"""
name = "kg"
output_dir = "{(tmp_path / "runs").as_posix()}"
[data]
dataset = "ml-100k"
split = "ratio_random"
eval_negatives = 0
knowledge_graph = "ml-100k-kg"
[model]
name = "{model}"
[training]
loss = "{loss}"
epochs = 1
batch_size = 4096
progress = false
[evaluation]
ks = [10]
"""
    path = tmp_path / "kg.toml"
    path.write_text(text)
    code, out, err = run_cli(monkeypatch, capsys, "train", str(path))
    assert code == 0, err
    run_dir = tmp_path / "runs" / "kg"
    code, out, err = run_cli(monkeypatch, capsys, "recommend", str(run_dir), "--user", "196")
    assert code == 0 and "top 10 for user 196" in out, err
    code, out, err = run_cli(monkeypatch, capsys, "similar", str(run_dir), "--item", "242")
    assert code == 0 and "10 items like 242" in out, err
