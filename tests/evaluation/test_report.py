"""Result tables and training-curve plots."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from recforge.core.errors import DataFormatError
from recforge.evaluation.report import plot_training_curves, read_training_log, results_table

ROWS = {
    "popularity": {"hr@10": 0.45, "ndcg@10": 0.25, "logloss": 0.70},
    "neumf": {"hr@10": 0.68512, "ndcg@10": 0.41, "logloss": 0.35},
    "ease": {"hr@10": 0.68508, "ndcg@10": 0.42},
}


class TestResultsTable:
    def test_markdown_content_and_bold_best(self) -> None:
        table = results_table(ROWS, ["hr@10", "ndcg@10", "logloss"], digits=3)
        assert table.splitlines() == [
            "| model | hr@10 | ndcg@10 | logloss |",
            "|---|---:|---:|---:|",
            "| popularity | 0.450 | 0.250 | 0.700 |",
            # hr@10 ties after rounding to 3 digits: both bold; logloss: lower is better
            "| neumf | **0.685** | 0.410 | **0.350** |",
            "| ease | **0.685** | **0.420** | n/a |",
        ]

    def test_default_columns_and_digits(self) -> None:
        table = results_table({"a": {"x": 1.0}, "b": {"y": 2.0, "x": 0.5}})
        assert table.splitlines()[0] == "| model | x | y |"
        assert table.splitlines()[2] == "| a | **1.0000** | n/a |"
        assert table.splitlines()[3] == "| b | 0.5000 | **2.0000** |"

    def test_pipes_are_escaped_and_nan_is_missing(self) -> None:
        table = results_table({"a|b": {"m": math.nan}}, ["m"])
        assert table.splitlines()[2] == "| a\\|b | n/a |"

    def test_json_round_trip(self) -> None:
        text = results_table(ROWS, ["hr@10", "logloss"], fmt="json", digits=4)
        assert json.loads(text) == {
            "popularity": {"hr@10": 0.45, "logloss": 0.7},
            "neumf": {"hr@10": 0.6851, "logloss": 0.35},
            "ease": {"hr@10": 0.6851, "logloss": None},
        }
        assert list(json.loads(text)) == ["popularity", "neumf", "ease"]

    def test_bad_arguments(self) -> None:
        with pytest.raises(ValueError, match="fmt must be"):
            results_table(ROWS, ["hr@10"], fmt="html")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="digits"):
            results_table(ROWS, ["hr@10"], digits=-1)


def write_log(path: Path, records: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(record) for record in records) + "\n\n")
    return path


RECORDS = [
    {"epoch": 1, "loss": 0.69, "valid": {"hr@10": 0.40, "ndcg@10": 0.22}, "seconds": 3.1},
    {"epoch": 2, "loss": 0.41, "valid": {"hr@10": 0.55, "ndcg@10": 0.31}, "seconds": 3.0},
    {"epoch": 3, "loss": 0.33, "valid": {"hr@10": 0.61}, "seconds": 2.9},
]


class TestTrainingCurves:
    def test_plot_from_file_is_a_png(self, tmp_path: Path) -> None:
        from matplotlib.image import imread

        log = write_log(tmp_path / "train.jsonl", RECORDS)
        out = plot_training_curves(log, tmp_path / "curves.png")
        assert out == tmp_path / "curves.png"
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        height, width = imread(out).shape[:2]
        assert (width, height) == (1100, 400)  # two panels of 5.5 x 4 inches at 100 dpi

    def test_plot_without_validation_has_one_panel(self, tmp_path: Path) -> None:
        from matplotlib.image import imread

        out = plot_training_curves(
            [{"epoch": 1, "loss": 1.0}, {"epoch": 2, "loss": 0.5}], tmp_path / "loss.png"
        )
        assert imread(out).shape[:2] == (400, 550)

    def test_read_log_keeps_order_and_skips_blank_lines(self, tmp_path: Path) -> None:
        log = write_log(tmp_path / "train.jsonl", RECORDS)
        assert read_training_log(log) == RECORDS

    def test_bad_json_names_file_and_line(self, tmp_path: Path) -> None:
        log = tmp_path / "train.jsonl"
        log.write_text(json.dumps(RECORDS[0]) + "\n{not json\n")
        with pytest.raises(DataFormatError, match=r"train\.jsonl:2: not JSON"):
            read_training_log(log)

    def test_record_without_epoch(self, tmp_path: Path) -> None:
        log = write_log(tmp_path / "train.jsonl", [RECORDS[0], {"loss": 0.3}])
        with pytest.raises(DataFormatError, match=r"train\.jsonl:2: record has no numeric 'epoch'"):
            plot_training_curves(log, tmp_path / "out.png")
        with pytest.raises(DataFormatError, match="'valid' must be an object"):
            read_training_log([{"epoch": 1, "valid": [0.5]}])
        with pytest.raises(DataFormatError, match="no records"):
            read_training_log([])
