"""Gradient-boosted tree rankers, LightGBM or XGBoost, on the neural rankers' features.

Gradient boosting fits a sum of regression trees, each to the gradient of the loss at the
current scores (Friedman, "Greedy Function Approximation: A Gradient Boosting Machine",
Annals of Statistics 2001), in LightGBM (Ke et al., NeurIPS 2017) or XGBoost (Chen &
Guestrin, KDD 2016). Two objectives:

- ``binary``: log loss of the click label (as the neural rankers); stops on validation AUC.
- ``lambdarank``: LambdaMART (Burges, "From RankNet to LambdaRank to LambdaMART: An
  Overview", MSR-TR-2010-82): pairwise gradients within a query weighted by the NDCG change
  of swapping the pair. A query is ``batch.group`` (a user's rows, brought together here:
  rows may come in any order); stops on validation NDCG@``eval_at``.

The input is :func:`~recforge.models.gbdt_features.gbdt_features` of the neural rankers'
:class:`~recforge.core.batches.FeatureBatch`, with the libraries' own categorical splits
(pandas ``category`` columns; XGBoost with ``enable_categorical`` and ``hist``). Scores are
raw margins, beside the neural rankers' logits. A saved model is a directory: the
library's model file (LightGBM text, XGBoost JSON) and ``gbdt.json``; nothing is pickled.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import lightgbm as lgb
import numpy as np
import xgboost as xgb

import recforge
from recforge.core.batches import FeatureBatch
from recforge.core.config import from_dict
from recforge.core.errors import ConfigError
from recforge.features.fields import FeatureSchema
from recforge.models.checkpoint import CheckpointError
from recforge.models.gbdt_features import (
    ID_FIELDS_AS,
    GBDTTable,
    IdFieldsAs,
    check_batch,
    frequent_ids,
    gbdt_features,
    gbdt_table,
)

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
LIBRARIES = ("lightgbm", "xgboost")
OBJECTIVES = ("binary", "lambdarank")


@dataclass(frozen=True)
class GBDTConfig:
    """Args:
    library: ``"lightgbm"`` or ``"xgboost"``.
    objective: ``"binary"`` (log loss) or ``"lambdarank"`` (LambdaMART over ``batch.group``).
    n_estimators: most boosting rounds (trees); early stopping usually ends sooner.
    learning_rate: shrinkage of each tree.
    num_leaves: most leaves per tree. Both libraries grow trees leaf-wise, best split first
        (XGBoost with ``grow_policy="lossguide"``), so one config means alike trees.
    max_depth: depth limit, 0 for none (LightGBM -1).
    min_child_samples: fewest rows in a leaf (LightGBM only: XGBoost has no row count).
    min_child_weight: smallest hessian sum in a leaf (LightGBM ``min_sum_hessian_in_leaf``).
    subsample: fraction of rows drawn for each tree (LightGBM bagging every round).
    colsample: fraction of feature columns drawn for each tree.
    reg_lambda: L2 penalty on leaf values (LightGBM ``lambda_l2``, XGBoost ``lambda``).
    early_stopping_rounds: stop when the validation metric has not improved for this many
        rounds and keep the best round's trees; 0 (or no validation batch) trains all.
    eval_at: ``k`` of the validation NDCG@k that stops ``lambdarank``.
    rank_truncation: ``lambdarank`` pairs only rows within this many top positions of a
        group (LightGBM ``lambdarank_truncation_level``, XGBoost ``topk`` pairs); 0, the
        default, pairs all rows: GAUC 0.852 against 0.842 at LightGBM's 30 on ML-100K.
    max_cat_to_onehot: a categorical field with at most this many values is split one
        value against the rest; larger ones by a partition of values ordered by gradient.
    max_cat_threshold: most values on one side of a categorical split.
    cat_smooth: smoothing of per-value gradient statistics (LightGBM only).
    id_fields_as: how the user and item id fields enter (see ``gbdt_features``).
        ``"categorical"`` by default: ids carry the per-user and per-item biases, which
        neither a float index (``"numeric"``) nor ``"drop"`` keeps. Validation AUC (rating
        >= 4 as a click, random 8:1:1, LightGBM defaults): ML-100K with history 0.769
        categorical / 0.749 numeric / 0.687 dropped (XGBoost alike); ML-1M ids and
        demographics 0.794 / 0.719 (0.725 with ids ordered by frequency, as recforge's
        encoders order them; one-hot logistic regression 0.794). Early stopping,
        ``cat_smooth`` and ``max_cat_threshold`` hold back the overfitting of rare
        values; the price is speed (see ``max_id_categories``). ``"drop"`` suits
        evaluation on users or items unseen in training.
    max_id_categories: with ``"categorical"`` ids, only this many of each id field's most
        frequent training values keep a category of their own; the rest read as
        unknown. 0 (default) keeps all: on ML-1M a cap of 3000 cost 0.005 AUC and 1000
        cost 0.04. Ids with tens of thousands of values make fitting 4-13x and scoring
        ~20x slower than numeric ids (both libraries, 500k rows); cap them when speed
        matters more.
    multi_values: leading values of a large multi-valued field kept as categories.
    multi_hot_max: a multi-valued field with at most this many values becomes 0/1 columns.
    seed: seeds row and column sampling (and LightGBM's deterministic mode).
    threads: CPU threads for training and scoring.
    """

    library: Literal["lightgbm", "xgboost"] = "lightgbm"
    objective: Literal["binary", "lambdarank"] = "binary"
    n_estimators: int = 1000
    learning_rate: float = 0.05
    num_leaves: int = 31
    max_depth: int = 0
    min_child_samples: int = 20
    min_child_weight: float = 1e-3
    subsample: float = 1.0
    colsample: float = 1.0
    reg_lambda: float = 1.0
    early_stopping_rounds: int = 50
    eval_at: int = 10
    rank_truncation: int = 0
    max_cat_to_onehot: int = 4
    max_cat_threshold: int = 32
    cat_smooth: float = 10.0
    id_fields_as: IdFieldsAs = "categorical"
    max_id_categories: int = 0
    multi_values: int = 2
    multi_hot_max: int = 32
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        choices = {"library": LIBRARIES, "objective": OBJECTIVES, "id_fields_as": ID_FIELDS_AS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(name, f"must be one of {allowed}, got {getattr(self, name)!r}")
        minimums = {"n_estimators": 1, "num_leaves": 2, "max_depth": 0, "min_child_samples": 1,
                    "early_stopping_rounds": 0, "eval_at": 1, "rank_truncation": 0,
                    "max_cat_to_onehot": 1, "max_cat_threshold": 1, "max_id_categories": 0,
                    "multi_values": 0, "multi_hot_max": 0, "seed": 0, "threads": 1}  # fmt: skip
        for name, minimum in minimums.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ConfigError(name, f"must be an integer >= {minimum}, got {value!r}")
        for name in ("learning_rate", "subsample", "colsample"):
            value = getattr(self, name)
            if isinstance(value, bool) or not 0 < value <= 1:
                raise ConfigError(name, f"must lie in (0, 1], got {value!r}")
        for name in ("min_child_weight", "reg_lambda", "cat_smooth"):
            value = getattr(self, name)
            if isinstance(value, bool) or not np.isfinite(value) or value < 0:
                raise ConfigError(name, f"must be a finite number >= 0, got {value!r}")


class GBDTRanker:
    """A LightGBM or XGBoost ranker of :class:`FeatureBatch` rows; ``fit(...) -> self``.

    Learned state: ``booster_`` (a ``lightgbm.Booster`` or ``xgboost.Booster`` holding only
    the kept rounds), ``schema_``, ``columns_`` (feature names), ``id_categories_`` (the
    id values with categories of their own), ``n_trees_`` (rounds kept) and
    ``best_score_`` (validation AUC or NDCG@k at that round; None without one).
    """

    config_class: ClassVar[type] = GBDTConfig

    booster_: Any
    schema_: FeatureSchema
    columns_: list[str]
    id_categories_: dict[str, np.ndarray]  # id field -> (K,) int64 indices
    n_trees_: int
    best_score_: float | None

    def __init__(self, config: GBDTConfig | None = None) -> None:
        self.config = config if config is not None else GBDTConfig()

    def fit(
        self, train: FeatureBatch, valid: FeatureBatch | None, schema: FeatureSchema
    ) -> GBDTRanker:
        """Boost on ``train``; with ``valid``, stop early on its AUC (``binary``) or
        NDCG@``eval_at`` (``lambdarank``) and keep the best round."""
        self.id_categories_ = {}
        if self.config.id_fields_as == "categorical" and self.config.max_id_categories:
            check_batch(train, schema, "train")  # before counting its ids
            self.id_categories_ = frequent_ids(train, schema, self.config.max_id_categories)
        objective, options = self.config.objective, self._options()
        table = gbdt_table(train, schema, objective=objective, name="train", **options)
        valid_table = None
        if valid is not None:
            valid_table = gbdt_table(valid, schema, objective=objective, name="valid", **options)
        fit = _fit_lightgbm if self.config.library == "lightgbm" else _fit_xgboost
        self.booster_, self.n_trees_, self.best_score_ = fit(self.config, table, valid_table)
        self.schema_ = schema
        self.columns_ = [str(name) for name in table.frame.columns]
        logger.info("%s: %d trees kept, validation score %s", self.config, self.n_trees_,
                    self.best_score_)  # fmt: skip
        return self

    def predict_logits(self, batch: FeatureBatch) -> np.ndarray:
        """Raw margins ``(B,)`` float64 (log-odds for ``binary``); higher ranks first."""
        self._check_fitted()
        frame = gbdt_features(batch, self.schema_, **self._options())
        if list(frame.columns) != self.columns_:
            raise ValueError(f"batch gives columns {list(frame.columns)}, fitted: {self.columns_}")
        if self.config.library == "lightgbm":
            scores = self.booster_.predict(frame, raw_score=True, num_threads=self.config.threads)
        else:
            matrix = xgb.DMatrix(frame, enable_categorical=True, nthread=self.config.threads)
            scores = self.booster_.predict(matrix, output_margin=True)
        return np.asarray(scores, dtype=np.float64)

    def feature_importances(self) -> dict[str, float]:
        """Total split gain per feature column (0 for columns no split uses)."""
        self._check_fitted()
        if self.config.library == "lightgbm":
            gains = self.booster_.feature_importance(importance_type="gain")
            found = dict(zip(self.booster_.feature_name(), gains.tolist(), strict=True))
        else:
            found = self.booster_.get_score(importance_type="total_gain")
        return {name: float(found.get(name, 0.0)) for name in self.columns_}

    def save(self, directory: str | Path) -> None:
        """Write the library's model file and ``gbdt.json`` into ``directory``."""
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        model_file = _model_file(self.config.library)
        self.booster_.save_model(str(directory / model_file))
        backend = lgb if self.config.library == "lightgbm" else xgb
        meta = {
            "format_version": FORMAT_VERSION,
            "model": "gbdt",
            "config": dataclasses.asdict(self.config),
            "schema": self.schema_.to_dict(),
            "columns": self.columns_,
            "id_categories": {name: ids.tolist() for name, ids in self.id_categories_.items()},
            "n_trees": self.n_trees_,
            "best_score": self.best_score_,
            "library_version": recforge.__version__,
            f"{self.config.library}_version": backend.__version__,
        }
        (directory / "gbdt.json").write_text(json.dumps(meta, indent=2) + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> GBDTRanker:
        """The ranker saved by :meth:`save` in ``directory``."""
        path = Path(directory) / "gbdt.json"
        try:
            meta = json.loads(path.read_text())
        except FileNotFoundError as error:
            raise CheckpointError(f"{path}: GBDT model description not found") from error
        except json.JSONDecodeError as error:
            raise CheckpointError(f"{path}: not valid JSON ({error})") from error
        if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
            version = meta.get("format_version") if isinstance(meta, dict) else None
            raise CheckpointError(
                f"{path}: GBDT format_version {version!r} is not supported "
                f"(this recforge reads version {FORMAT_VERSION})"
            )
        try:
            config = from_dict(GBDTConfig, meta["config"], prefix="model", source=path)
            ranker = cls(config)
            ranker.schema_ = FeatureSchema.from_dict(meta["schema"])
            ranker.columns_ = [str(name) for name in meta["columns"]]
            ranker.id_categories_ = {
                name: np.asarray(ids, dtype=np.int64) for name, ids in meta["id_categories"].items()
            }
            ranker.n_trees_ = int(meta["n_trees"])
            ranker.best_score_ = meta["best_score"]
        except KeyError as error:
            raise CheckpointError(f"{path}: missing key {error}") from error
        if not (model_path := path.parent / _model_file(config.library)).is_file():
            raise CheckpointError(f"{model_path}: model file not found")
        if config.library == "lightgbm":
            ranker.booster_ = lgb.Booster(model_file=str(model_path))
        else:
            ranker.booster_ = xgb.Booster(params={"nthread": config.threads})
            ranker.booster_.load_model(str(model_path))
        return ranker

    def _check_fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise RuntimeError("GBDTRanker is not fitted: call fit() or GBDTRanker.load()")

    def _options(self) -> dict[str, Any]:
        """The config's keyword arguments of :func:`gbdt_features`."""
        config = self.config
        return {
            "id_fields_as": config.id_fields_as,
            "id_categories": self.id_categories_,
            "multi_values": config.multi_values,
            "multi_hot_max": config.multi_hot_max,
        }


def _model_file(library: str) -> str:
    return "model.txt" if library == "lightgbm" else "model.json"


def _truncation(config: GBDTConfig, table: GBDTTable) -> int:
    """Top positions of a group that LambdaMART pairs (0 in the config: all)."""
    largest = 1 if table.group_sizes is None else int(table.group_sizes.max())
    return config.rank_truncation or largest


def _fit_lightgbm(
    config: GBDTConfig, table: GBDTTable, valid: GBDTTable | None
) -> tuple[lgb.Booster, int, float | None]:
    """Train with LightGBM; return the booster cut to its best round, the rounds kept and
    the validation score there."""
    binary = config.objective == "binary"
    params = {
        "objective": config.objective,
        "learning_rate": config.learning_rate,
        "num_leaves": config.num_leaves,
        "max_depth": config.max_depth or -1,
        "min_data_in_leaf": config.min_child_samples,
        "min_sum_hessian_in_leaf": config.min_child_weight,
        "bagging_fraction": config.subsample,
        "bagging_freq": int(config.subsample < 1),
        "feature_fraction": config.colsample,
        "lambda_l2": config.reg_lambda,
        "max_cat_to_onehot": config.max_cat_to_onehot,
        "max_cat_threshold": config.max_cat_threshold,
        "cat_smooth": config.cat_smooth,
        "metric": "auc" if binary else "ndcg",
        "eval_at": [config.eval_at],
        "lambdarank_truncation_level": _truncation(config, table),
        "seed": config.seed,
        "num_threads": config.threads,
        "deterministic": True,
        "verbosity": -1,
    }
    train_set = lgb.Dataset(table.frame, label=table.label, group=table.group_sizes)
    valid_sets: list[lgb.Dataset] = []
    callbacks: list[Callable[..., Any]] = []
    if valid is not None:
        sizes = valid.group_sizes
        valid_sets.append(lgb.Dataset(valid.frame, valid.label, group=sizes, reference=train_set))
        if config.early_stopping_rounds > 0:
            callbacks.append(lgb.early_stopping(config.early_stopping_rounds, verbose=False))
    scores: dict[str, Any] = {}
    callbacks.append(lgb.record_evaluation(scores))
    booster = lgb.train(
        params,
        train_set,
        num_boost_round=config.n_estimators,
        valid_sets=valid_sets,
        valid_names=["valid"] * len(valid_sets),
        callbacks=callbacks,
    )
    kept = booster.best_iteration or booster.current_iteration()
    best = None if valid is None else float(next(iter(scores["valid"].values()))[kept - 1])
    # keep only the best round's trees, so the saved model scores as the fitted one does
    booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=kept))
    return booster, kept, best


def _fit_xgboost(
    config: GBDTConfig, table: GBDTTable, valid: GBDTTable | None
) -> tuple[xgb.Booster, int, float | None]:
    """Train with XGBoost; return as :func:`_fit_lightgbm` does."""
    binary = config.objective == "binary"
    params = {
        "objective": "binary:logistic" if binary else "rank:ndcg",
        "eval_metric": "auc" if binary else f"ndcg@{config.eval_at}",
        "lambdarank_num_pair_per_sample": _truncation(config, table),
        "tree_method": "hist",
        "grow_policy": "lossguide",
        "max_leaves": config.num_leaves,
        "max_depth": config.max_depth,
        "eta": config.learning_rate,
        "min_child_weight": config.min_child_weight,
        "subsample": config.subsample,
        "colsample_bytree": config.colsample,
        "lambda": config.reg_lambda,
        "max_cat_to_onehot": config.max_cat_to_onehot,
        "max_cat_threshold": config.max_cat_threshold,
        "seed": config.seed,
        "nthread": config.threads,
        "verbosity": 0,
    }

    def matrix(part: GBDTTable) -> xgb.DMatrix:
        options = {"enable_categorical": True, "nthread": config.threads}
        return xgb.DMatrix(part.frame, label=part.label, group=part.group_sizes, **options)

    evals = [] if valid is None else [(matrix(valid), "valid")]
    scores: dict[str, Any] = {}
    stopping = config.early_stopping_rounds if evals and config.early_stopping_rounds else None
    booster = xgb.train(
        params,
        matrix(table),
        num_boost_round=config.n_estimators,
        evals=evals,
        early_stopping_rounds=stopping,
        evals_result=scores,
        verbose_eval=False,
    )
    kept = booster.best_iteration + 1 if stopping else booster.num_boosted_rounds()
    best = None if valid is None else float(next(iter(scores["valid"].values()))[kept - 1])
    # keep only the best round's trees, so the saved model scores as the fitted one does
    return booster[:kept], kept, best
