"""Train the rank stage of a two-stage recommender from labelled CTR rows.

:func:`fit_rank_stage` fits a :class:`~recforge.features.pipeline.FeaturePipeline` on the
training rows, encodes the training and validation rows, trains a ranker (any entry of
``RANKERS``, or ``"lightgbm"`` / ``"xgboost"``) with early stopping on validation, and returns
the pair as a :class:`~recforge.models.two_stage.RankStage` ready to save beside a recall
model's run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from recforge.core.config import from_dict
from recforge.core.errors import ConfigError
from recforge.data.ctr import CTRTables
from recforge.features.pipeline import FeaturePipeline
from recforge.models import RANKERS
from recforge.models.gbdt import GBDTConfig, GBDTRanker
from recforge.models.two_stage import RankStage
from recforge.training.ranking import RankerTrainConfig, RankerTrainResult, fit_ranker

logger = logging.getLogger(__name__)

GBDT_LIBRARIES = ("lightgbm", "xgboost")


@dataclass
class FittedStage:
    """A trained rank stage with how its training went (None for GBDT models)."""

    stage: RankStage
    result: RankerTrainResult | None
    valid: dict[str, float] = field(default_factory=dict)


def fit_rank_stage(
    tables: CTRTables,
    model: str,
    params: dict[str, Any] | None = None,
    training: RankerTrainConfig | None = None,
    *,
    history_length: int = 50,
    seed: int = 0,
) -> FittedStage:
    """Fit the pipeline on ``tables.train`` and train ``model`` on it.

    Args:
        tables: labelled rows (``recforge.data.ctr``); their ``events`` feed the histories.
        model: a ``RANKERS`` name or ``"lightgbm"`` / ``"xgboost"``.
        params: the model's config fields (unknown keys are an error naming them).
        training: how a neural ranker trains (default :class:`RankerTrainConfig`).
        history_length: most recent behaviours kept per row (when ``tables`` has histories).
        seed: seeds the model's initialisation, shuffling and history negatives.

    Raises:
        ConfigError: unknown model name, or a params key the model's config lacks.
    """
    params = dict(params or {})
    training = training or RankerTrainConfig()
    if model not in RANKERS and model not in GBDT_LIBRARIES:
        known = sorted([*RANKERS, *GBDT_LIBRARIES])
        raise ConfigError("ranker.model", f"unknown ranker {model!r} (known: {known})")
    needs_history = model in RANKERS and RANKERS[model].requires_history
    history = tables.history if tables.events is not None and history_length > 0 else ()
    if needs_history and not history:
        raise ConfigError("ranker.model", f"{model!r} reads a behaviour history; the data has none")
    pipeline = FeaturePipeline(
        sparse=tables.sparse,
        multi=tables.multi,
        dense=tables.dense,
        history=history,
        history_length=max(history_length, 1),
        history_negatives=bool(history) and model == "dien",
    ).fit(tables.train, users=tables.users, items=tables.items)
    rng = np.random.default_rng(seed)
    events = tables.events if history else None
    train = pipeline.transform(tables.train, events=events, rng=rng)
    valid = pipeline.transform(tables.valid, events=events, rng=rng) if len(tables.valid) else None
    if model in GBDT_LIBRARIES:
        settings = {**params, "library": model, "seed": seed}
        gbdt_config = from_dict(GBDTConfig, settings, prefix="ranker")
        gbdt = GBDTRanker(gbdt_config).fit(train, valid, pipeline.schema)
        valid_score = {} if gbdt.best_score_ is None else {"auc": gbdt.best_score_}
        return FittedStage(RankStage(gbdt, pipeline), None, valid_score)
    model_class = RANKERS[model]
    config: Any = from_dict(model_class.config_class, params, prefix="ranker")
    torch.manual_seed(seed)
    ranker = model_class(config, pipeline.schema)
    result = fit_ranker(ranker, train, valid, training)
    logger.info("%s: best epoch %d, validation %s", model, result.best_epoch, result.best_valid)
    return FittedStage(RankStage(ranker, pipeline), result, dict(result.best_valid))


__all__ = ["FittedStage", "fit_rank_stage"]
