"""A run directory: everything needed to recommend without the training data.

::

    run_dir/
      config.toml        the resolved experiment config
      model.pt           checkpoint (see ``models.checkpoint``)
      user_vocab.json    raw user id <-> user_idx
      item_vocab.json    raw item id <-> item_idx
      seen.npz           users x items CSR of training interactions (exclude-seen filtering)
      items.jsonl        item metadata, line i = item_idx i (optional)
      metrics.json       evaluation results
      train_log.jsonl    one record per epoch (neural models)
      manifest.json      library, torch, numpy versions, date, command
"""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

import recforge
from recforge.core.errors import RecforgeError
from recforge.core.vocab import IdVocab
from recforge.models.base import Recommender
from recforge.models.checkpoint import load_checkpoint, save_checkpoint


@dataclass
class Artifact:
    """A loaded run directory."""

    path: Path
    model: Recommender
    user_vocab: IdVocab
    item_vocab: IdVocab
    seen: sp.csr_matrix
    items: pd.DataFrame | None
    metrics: dict[str, Any]

    def item_titles(self, item_idx: np.ndarray) -> list[str]:
        """Human-readable labels: the title where metadata has one, else the raw id."""
        raw = self.item_vocab.inverse_transform(item_idx)
        if self.items is None or "title" not in self.items.columns:
            return [str(x) for x in raw]
        titles = self.items["title"].to_numpy()[np.asarray(item_idx)]
        return [
            str(t) if isinstance(t, str) and t else str(r) for t, r in zip(titles, raw, strict=True)
        ]


def manifest() -> dict[str, Any]:
    import scipy

    return {
        "recforge": recforge.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "threads": torch.get_num_threads(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
    }


def save_artifact(
    run_dir: str | Path,
    model: Recommender,
    registry: dict[str, Any],
    *,
    user_vocab: IdVocab,
    item_vocab: IdVocab,
    seen: sp.csr_matrix,
    items: pd.DataFrame | None = None,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Write a run directory (config.toml is written by the caller that owns the config)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_checkpoint(model, run_dir / "model.pt", registry)
    user_vocab.save(run_dir / "user_vocab.json")
    item_vocab.save(run_dir / "item_vocab.json")
    sp.save_npz(run_dir / "seen.npz", seen.tocsr(), compressed=True)
    if items is not None:
        items.to_json(run_dir / "items.jsonl", orient="records", lines=True, force_ascii=False)
    (run_dir / "metrics.json").write_text(json.dumps(metrics or {}, indent=2))
    (run_dir / "manifest.json").write_text(json.dumps(manifest(), indent=2))
    return run_dir


def load_artifact(run_dir: str | Path, registry: dict[str, Any]) -> Artifact:
    """Load a run directory written by :func:`save_artifact`."""
    run_dir = Path(run_dir)
    if not (run_dir / "model.pt").is_file():
        raise RecforgeError(f"{run_dir}: not a recforge run directory (no model.pt)")
    model = load_checkpoint(run_dir / "model.pt", registry)
    items_path = run_dir / "items.jsonl"
    items = (
        pd.read_json(items_path, orient="records", lines=True, dtype=False, convert_dates=False)
        if items_path.is_file()
        else None
    )
    metrics_path = run_dir / "metrics.json"
    return Artifact(
        path=run_dir,
        model=model,
        user_vocab=IdVocab.load(run_dir / "user_vocab.json"),
        item_vocab=IdVocab.load(run_dir / "item_vocab.json"),
        seen=sp.load_npz(run_dir / "seen.npz").tocsr(),
        items=items,
        metrics=json.loads(metrics_path.read_text()) if metrics_path.is_file() else {},
    )
