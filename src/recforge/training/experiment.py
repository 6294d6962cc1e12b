"""One experiment: config -> data -> model -> training -> evaluation -> run directory.

The TOML layout (every key optional except ``model.name``)::

    name = "neumf-ml1m"
    seed = 0
    output_dir = "runs"

    [data]          # recforge.data.dataset.DataConfig
    dataset = "ncf-ml-1m"
    split = "ncf"

    [model]         # name plus the fields of the model's XxxConfig
    name = "neumf"
    factors = 8

    [model.pretrained]   # NeuMF only: run dirs of trained GMF and MLP models
    gmf = "runs/gmf"
    mlp = "runs/mlp"

    [training]      # recforge.training.loop.TrainConfig
    epochs = 20

    [evaluation]
    protocol = "sampled"
    ks = [10]
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from recforge.core.config import apply_overrides, dump_toml, from_dict, load_toml, to_dict
from recforge.core.errors import ConfigError
from recforge.data.dataset import DataConfig, Prepared, prepare
from recforge.evaluation.protocols import EvaluationResult, evaluate_full, evaluate_sampled
from recforge.models import MODELS, NeuralRecommender, Recommender
from recforge.models.artifact import load_artifact, save_artifact
from recforge.models.base import KnowledgeGraphModel
from recforge.models.gmf import GMF
from recforge.models.mlp import MLP
from recforge.models.neumf import NeuMF
from recforge.models.textcnn import TextCNN
from recforge.training.loop import TrainConfig, TrainResult, fit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    """Which model and its own config (validated against the model's ``XxxConfig``)."""

    name: str
    params: Any  # the model's config dataclass instance
    pretrained: dict[str, str] = field(default_factory=dict)
    pretrained_alpha: float = 0.5


@dataclass(frozen=True)
class EvalConfig:
    """Args:
    protocol: ``"full"`` ranking over all items with training items masked, or
        ``"sampled"`` ranking of the held-out item among ``data.eval_negatives`` negatives.
    ks: cut-offs.
    valid_protocol: protocol for validation during training (default: same as ``protocol``).
    test_history: what models that read a history (sequence models, Item2Vec, EASE,
        ItemKNN, iALS) read when they rank the test items: ``"train"`` or ``"train+valid"``
        (the validation items fed as input, not trained on). ``"auto"`` feeds them on
        leave-one-out splits, where the validation item is the user's latest known one
        (the protocol of SASRec and S3-Rec), and not on ratio splits (RecBole's protocol).
        Models without a history input (BPR-MF, NCF) always score from their training.
    """

    protocol: Literal["full", "sampled"] = "full"
    ks: tuple[int, ...] = (10, 20)
    valid_protocol: Literal["full", "sampled"] | None = None
    test_history: Literal["auto", "train", "train+valid"] = "auto"

    def feeds_valid(self, split: str) -> bool:
        """Whether the test input includes the validation items for data split ``split``."""
        if self.test_history == "auto":
            return split.startswith("leave_one_out")
        return self.test_history == "train+valid"


@dataclass(frozen=True)
class ExperimentConfig:
    model: ModelSpec
    name: str = "run"
    seed: int = 0
    output_dir: str = "runs"
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainConfig = field(default_factory=TrainConfig)
    evaluation: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        model: dict[str, Any] = {"name": self.model.name, **to_dict(self.model.params)}
        if self.model.pretrained:
            model["pretrained"] = dict(self.model.pretrained)
            model["pretrained_alpha"] = self.model.pretrained_alpha
        return {
            "name": self.name,
            "seed": self.seed,
            "output_dir": self.output_dir,
            "data": to_dict(self.data),
            "model": model,
            "training": to_dict(self.training),
            "evaluation": to_dict(self.evaluation),
        }


@dataclass(frozen=True)
class _TopLevel:
    """The plain keys of an experiment file, validated before the sections."""

    name: str = "run"
    seed: int = 0
    output_dir: str = "runs"
    data: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)


def parse_model(table: dict[str, Any], source: str | Path | None = None) -> ModelSpec:
    """``[model]``: ``name`` picks the class; the other keys fill its config dataclass."""
    params = dict(table)
    if "name" not in params:
        raise ConfigError("model.name", f"required (one of {', '.join(MODELS)})", source)
    name = params.pop("name")
    if name not in MODELS:
        known = ", ".join(MODELS)
        raise ConfigError("model.name", f"unknown model {name!r} (known: {known})", source)
    pretrained = params.pop("pretrained", {})
    alpha = params.pop("pretrained_alpha", 0.5)
    if pretrained and name != "neumf":
        raise ConfigError("model.pretrained", "only neumf starts from pretrained models", source)
    if pretrained and set(pretrained) != {"gmf", "mlp"}:
        raise ConfigError("model.pretrained", "needs exactly the keys gmf and mlp", source)
    config: Any = from_dict(MODELS[name].config_class, params, prefix="model", source=source)
    return ModelSpec(name, config, dict(pretrained), float(alpha))


def parse_experiment(data: dict[str, Any], source: str | Path | None = None) -> ExperimentConfig:
    """Validate a parsed TOML document into an :class:`ExperimentConfig`; ``seed`` also
    seeds the data split and training unless they set their own."""
    top = from_dict(_TopLevel, data, source=source)
    return ExperimentConfig(
        model=parse_model(top.model, source),
        name=top.name,
        seed=top.seed,
        output_dir=top.output_dir,
        data=from_dict(DataConfig, {"seed": top.seed, **top.data}, prefix="data", source=source),
        training=from_dict(
            TrainConfig, {"seed": top.seed, **top.training}, prefix="training", source=source
        ),
        evaluation=from_dict(EvalConfig, top.evaluation, prefix="evaluation", source=source),
    )


def load_experiment(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read a TOML experiment, apply ``key.path=value`` overrides, validate."""
    data = apply_overrides(load_toml(path), overrides or [])
    return parse_experiment(data, source=path)


def build_model(spec: ModelSpec, n_users: int, n_items: int) -> Recommender:
    """Instantiate the model of ``spec``; NeuMF with ``pretrained`` loads GMF and MLP runs."""
    if spec.pretrained:
        gmf = load_artifact(spec.pretrained["gmf"], MODELS).model
        mlp = load_artifact(spec.pretrained["mlp"], MODELS).model
        if not isinstance(gmf, GMF) or not isinstance(mlp, MLP):
            raise ConfigError("model.pretrained", "gmf and mlp must be runs of gmf and mlp models")
        if (gmf.n_users, gmf.n_items) != (n_users, n_items):
            raise ConfigError("model.pretrained", "pretrained runs used other data (sizes differ)")
        model = NeuMF.from_pretrained(gmf, mlp, alpha=spec.pretrained_alpha)
        if model.config != spec.params:
            logger.warning("NeuMF config taken from the pretrained runs: %s", model.config)
        return model
    model_class: Any = MODELS[spec.name]
    return model_class(spec.params, n_users=n_users, n_items=n_items)


def evaluate_on(
    model: Recommender, data: Prepared, which: str, protocol: str, ks: tuple[int, ...]
) -> EvaluationResult:
    """Evaluate on the ``valid`` or ``test`` part with the ``full`` or ``sampled`` protocol."""
    if protocol == "sampled":
        users, items = data.held_out_pairs(which)
        negatives = data.valid_negatives if which == "valid" else data.test_negatives
        if negatives is None:
            raise ConfigError(
                "evaluation.protocol", "sampled evaluation needs data.eval_negatives > 0"
            )
        return evaluate_sampled(model, users, items, negatives, ks=ks)
    target = data.valid if which == "valid" else data.test
    exclude = data.train if which == "valid" else (data.train + data.valid).tocsr()
    return evaluate_full(model, target, exclude=exclude, ks=ks)


def feed_test_history(model: Recommender, data: Prepared, feed_valid: bool) -> bool:
    """Give a model that reads histories the training plus validation histories before the
    test items are ranked; returns whether it did."""
    reads = getattr(model, "set_histories", None)
    if not feed_valid or reads is None or data.test_input_sequences is None or not data.valid.nnz:
        return False
    reads(data.test_input_sequences)
    return True


@dataclass
class RunResult:
    run_dir: Path
    model: Recommender
    data: Prepared
    test: EvaluationResult
    train: TrainResult | None
    fit_seconds: float
    #: validation metrics, measured before any validation item is fed as test input
    valid: dict[str, float] = field(default_factory=dict)


def run_experiment(
    config: ExperimentConfig, *, run_dir: str | Path | None = None, data: Prepared | None = None
) -> RunResult:
    """Train and evaluate one model; write its run directory."""
    torch.manual_seed(config.seed)
    run_dir = Path(run_dir or Path(config.output_dir) / config.name)
    run_dir.mkdir(parents=True, exist_ok=True)
    dump_toml(config.to_dict(), run_dir / "config.toml")
    data = data or prepare(config.data)
    logger.info(
        "data %s: %d users, %d items, %d train",
        data.name,
        data.n_users,
        data.n_items,
        data.train.nnz,
    )
    model = build_model(config.model, data.n_users, data.n_items)
    if isinstance(model, KnowledgeGraphModel):  # KGCN, KGIN, KG-LightGCN: read the item graph
        if data.knowledge_graph is None:
            raise ConfigError(
                "data.knowledge_graph",
                f"{config.model.name} needs a knowledge graph (e.g. 'ml-100k-kg')",
            )
        model = type(model).for_graph(model.config, data.n_users, data.knowledge_graph)
    if isinstance(model, TextCNN):  # its item tower reads item texts
        if data.items is None:
            raise ConfigError(
                "model.name", f"{config.model.name} needs item metadata; {data.name} has none"
            )
        model = TextCNN.from_items(model.config, data.n_users, data.items, train=data.train)
    ks = config.evaluation.ks
    valid_protocol = config.evaluation.valid_protocol or config.evaluation.protocol
    start = time.perf_counter()
    train_result = None
    if isinstance(model, NeuralRecommender):
        has_valid = data.valid.nnz > 0

        def validate(current: NeuralRecommender) -> dict[str, float]:
            return evaluate_on(current, data, "valid", valid_protocol, ks).metrics

        train_result = fit(
            model,
            data.train,
            config.training,
            validate=validate if has_valid else None,
            log_path=run_dir / "train_log.jsonl",
            sequences=data.train_sequences,
        )
    else:
        inputs: dict[str, Any] = {}
        if getattr(model, "uses_sequences", False):  # time-ordered histories (Item2Vec)
            inputs["sequences"] = data.train_sequences
        if getattr(model, "uses_item_text", False):  # item metadata (content model)
            inputs["items"] = data.items
        model.fit(data.train, **inputs)
    fit_seconds = time.perf_counter() - start
    metrics: dict[str, Any] = {}
    if train_result is not None:
        metrics.update(
            best_epoch=train_result.best_epoch,
            valid=train_result.best_valid,
            samples_per_second=round(train_result.samples_per_second),
        )
    elif data.valid.nnz:  # before any test input is fed
        metrics["valid"] = evaluate_on(model, data, "valid", valid_protocol, ks).metrics
    fed = feed_test_history(model, data, config.evaluation.feeds_valid(config.data.split))
    test = evaluate_on(model, data, "test", config.evaluation.protocol, ks)
    metrics.update(
        test=test.metrics,
        protocol=config.evaluation.protocol,
        test_history="train+valid" if fed else "train",
        n_test_users=test.n_users,
        fit_seconds=round(fit_seconds, 3),
    )
    save_artifact(
        run_dir,
        model,
        MODELS,
        user_vocab=data.user_vocab,
        item_vocab=data.item_vocab,
        seen=(data.train + data.valid + data.test).tocsr(),
        items=data.items,
        metrics=metrics,
    )
    test.per_user_to_csv(run_dir / "per_user_test.csv")
    logger.info("test %s", json.dumps(test.metrics))
    return RunResult(
        run_dir, model, data, test, train_result, fit_seconds, metrics.get("valid", {})
    )
