"""The rank stage of a two-stage recommender: a ranking model and the feature pipeline that
feeds it, saved and loaded together.

Two-stage recommendation recalls ``N`` candidates with a cheap model over the whole
catalogue (two-tower, Item2Vec, BPR-MF: an ANN search or a ``score_all``), then orders them
with a ranking model that reads features no retrieval model can use cheaply: the candidate
against the user's behaviour sequence (DIN, DIEN), feature crosses (DCN). :class:`RankStage`
is the second half. Offline evaluation (``recforge.evaluation.two_stage``) and the server
(``recforge.serving``) both call it, so the two cannot disagree about what the ranker saw.

Saved as a directory::

    stage/
      stage.json     {"format_version": 1, "kind": "neural" | "gbdt"}
      pipeline/      FeaturePipeline.save
      model/         ranker checkpoint (ranker.json + weights.pt) or GBDT files (gbdt.json)

>>> import pandas as pd
>>> from recforge.features.pipeline import FeaturePipeline
>>> from recforge.models.dnn import DNN, DNNConfig
>>> rows = pd.DataFrame({"user_id": ["u", "u", "v"], "item_id": ["a", "b", "a"],
...     "timestamp": [1, 2, 3], "label": [1, 0, 1]})
>>> pipeline = FeaturePipeline(sparse=("user_id", "item_id")).fit(rows)
>>> stage = RankStage(DNN(DNNConfig(embedding_dim=4, hidden=(8,)), pipeline.schema), pipeline)
>>> stage.score_request("u", ["a", "b", "unseen"]).shape
(3,)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recforge.core.batches import FeatureBatch
from recforge.features.pipeline import FeaturePipeline
from recforge.models.checkpoint import CheckpointError, read_description
from recforge.models.gbdt import GBDTRanker
from recforge.models.ranker import Ranker, predict_logits
from recforge.models.ranker_checkpoint import load_ranker, save_ranker

STAGE_FORMAT_VERSION = 1
STAGE_FILE = "stage.json"


@dataclass
class RankStage:
    """A fitted ranker (neural or GBDT) and the fitted pipeline it was trained on.

    Args:
        ranker: a :class:`Ranker` (any entry of ``RANKERS``) or a fitted :class:`GBDTRanker`.
        pipeline: the :class:`FeaturePipeline` whose ``transform`` made its training rows.
    """

    ranker: Ranker | GBDTRanker
    pipeline: FeaturePipeline

    @property
    def name(self) -> str:
        """What answers report: the ranker's class name (``DIN``, ``GBDTRanker``)."""
        return type(self.ranker).__name__

    def logits(self, batch: FeatureBatch) -> np.ndarray:
        """``(B,)`` float32 scores (log-odds of a click) of encoded rows."""
        if isinstance(self.ranker, GBDTRanker):
            return self.ranker.predict_logits(batch).astype(np.float32)
        return predict_logits(self.ranker, batch)

    def score_rows(
        self,
        rows: pd.DataFrame,
        events: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
    ) -> np.ndarray:
        """Scores of many (user, candidate, time) rows at once: how offline evaluation
        ranks every user's candidates in one pass. ``events`` are the behaviours histories
        are built from (each row reads its user's events strictly before its time)."""
        events = events if self.pipeline.history else None
        return self.logits(self.pipeline.transform(rows, events=events, users=users))

    def score_request(
        self,
        user_id: Any,
        item_ids: Sequence[Any],
        recent_item_ids: Sequence[Any] = (),
        *,
        user: Mapping[str, Any] | None = None,
        timestamp: float | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> np.ndarray:
        """Scores of one live request's candidates ``item_ids`` (see
        :meth:`FeaturePipeline.transform_request`: ``recent_item_ids`` oldest first,
        ``user`` the user's attributes when the fitted users table may be stale)."""
        if not len(item_ids):
            return np.empty(0, np.float32)
        batch = self.pipeline.transform_request(
            user_id, item_ids, recent_item_ids, timestamp=timestamp, context=context, user=user
        )
        return self.logits(batch)

    def save(self, directory: str | Path) -> Path:
        """Write the stage into ``directory`` (created if needed); returns it."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.pipeline.save(directory / "pipeline")
        if isinstance(self.ranker, GBDTRanker):
            kind = "gbdt"
            self.ranker.save(directory / "model")
        else:
            kind = "neural"
            save_ranker(self.ranker, directory / "model")
        description = {"format_version": STAGE_FORMAT_VERSION, "kind": kind}
        (directory / STAGE_FILE).write_text(json.dumps(description, indent=1) + "\n")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> RankStage:
        """The stage :meth:`save` wrote.

        Raises:
            CheckpointError: ``stage.json`` is missing, unreadable or of another format
                version, or the model files are (named).
        """
        directory = Path(directory)
        path = directory / STAGE_FILE
        description = read_description(path, "rank stage", STAGE_FORMAT_VERSION)
        kind = description.get("kind")
        if kind not in ("neural", "gbdt"):
            raise CheckpointError(f"{path}: kind {kind!r} is not 'neural' or 'gbdt'")
        try:
            pipeline = FeaturePipeline.load(directory / "pipeline")
        except (OSError, ValueError, KeyError) as error:
            raise CheckpointError(f"{directory / 'pipeline'}: {error}") from error
        ranker: Ranker | GBDTRanker
        if kind == "gbdt":
            ranker = GBDTRanker.load(directory / "model")
        else:
            ranker = load_ranker(directory / "model")
        return cls(ranker, pipeline)


__all__ = ["RankStage"]
