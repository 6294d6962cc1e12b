"""The training loop for ranking (CTR) models, readable top to bottom.

The training rows are one :class:`~recforge.core.batches.FeatureBatch` of tensors; each
epoch shuffles them with a seeded generator and slices the permutation into batches
(``FeatureBatch.rows``). The objective per batch is

    mean BCE with logits
    + the model's auxiliary loss, when ``training_outputs`` gives one (DIEN)
    + ``embedding_l2`` × DIN's mini-batch aware L2 (Zhou et al. 2018, Sec. 5.1) over the
      embedding rows the batch reads, ``Σ_j ||w_j||² / n_j``

where ``n_j`` counts index ``j`` in the whole training data. Rows stay where the caller
put them (CPU memory); each batch is moved to the model's device. The regulariser reads
``model.embedding`` (the :class:`~recforge.models.ranker.FeatureEmbedding` every ranker holds
under that name) and its ``batch_indices``. ``weight_decay`` is the optimiser's L2 on the
other (dense) parameters; embedding tables never get it.

After each epoch the validation rows (when given) are scored; early stopping watches
``valid_metric`` (AUC and GAUC up, log loss down) and the best weights are restored. With
``lr_decay < 1`` each validation without a better metric also multiplies the learning rate.

Dimension letters: B rows, V rows of an embedding table.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from scipy.special import expit
from torch import Tensor, nn
from tqdm.auto import tqdm

from recforge.core.batches import FeatureBatch
from recforge.core.errors import ConfigError
from recforge.evaluation import metrics
from recforge.models.ranker import FeatureEmbedding, Ranker, predict_logits
from recforge.training import losses
from recforge.training.early_stopping import EarlyStopping

logger = logging.getLogger(__name__)

#: metrics where lower is better
_LOWER_IS_BETTER = {"logloss"}


@dataclass(frozen=True)
class RankerTrainConfig:
    """How a ranker is trained.

    Args:
        epochs: maximum number of passes over the training rows.
        batch_size: rows per step.
        lr: learning rate.
        weight_decay: optimiser L2 on the dense (non-embedding) parameters.
        embedding_l2: ``λ`` of DIN's mini-batch aware regularisation (0 disables).
        optimizer: ``"adam"``, ``"adagrad"`` or ``"sgd"``.
        patience: stop after this many epochs without a better validation metric
            (0: run all epochs, still restoring the best).
        lr_decay: multiply the learning rate by this after each validation without a
            better metric (reduce on plateau, as FuxiCTR/BARS train; 1 keeps it fixed).
        valid_metric: ``"auc"``, ``"gauc"`` or ``"logloss"`` on the validation rows.
        seed: seeds shuffling and dropout (build the model under ``torch.manual_seed``
            for a reproducible initialisation).
        threads: torch intra-op threads (None: leave torch's default).
        progress: show a progress bar per epoch.
        eval_batch_size: rows per forward pass when scoring.
    """

    epochs: int = 20
    batch_size: int = 1024
    lr: float = 0.001
    weight_decay: float = 0.0
    embedding_l2: float = 0.0
    optimizer: Literal["adam", "adagrad", "sgd"] = "adam"
    patience: int = 2
    lr_decay: float = 1.0
    valid_metric: Literal["auc", "gauc", "logloss"] = "auc"
    seed: int = 0
    threads: int | None = None
    progress: bool = True
    eval_batch_size: int = 65536

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        for name in ("weight_decay", "embedding_l2", "patience"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.lr_decay <= 1:  # also refuses NaN
            raise ValueError(f"lr_decay must be in (0, 1], got {self.lr_decay}")
        if self.optimizer not in ("adam", "adagrad", "sgd"):
            raise ValueError(f"optimizer must be adam, adagrad or sgd, got {self.optimizer!r}")
        if self.valid_metric not in ("auc", "gauc", "logloss"):
            raise ValueError(
                f"valid_metric must be auc, gauc or logloss, got {self.valid_metric!r}"
            )


@dataclass
class RankerTrainResult:
    """Per-epoch records ``{"epoch", "loss", "seconds", "valid": {...}}``, the chosen epoch
    and its validation metrics, training time (validation excluded) and throughput."""

    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_valid: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    samples_per_second: float = 0.0


def make_ranker_optimizer(model: nn.Module, config: RankerTrainConfig) -> torch.optim.Optimizer:
    """The optimiser with ``weight_decay`` on dense parameters only (not on any
    ``nn.Embedding``, whose regulariser is ``embedding_l2``)."""
    embedding_ids = {
        id(parameter)
        for module in model.modules()
        if isinstance(module, nn.Embedding)
        for parameter in module.parameters(recurse=False)
    }
    trainable = [p for p in model.parameters() if p.requires_grad]
    dense = [p for p in trainable if id(p) not in embedding_ids]
    tables = [p for p in trainable if id(p) in embedding_ids]
    groups: list[dict] = [
        {"params": params, "weight_decay": decay}
        for params, decay in ((dense, config.weight_decay), (tables, 0.0))
        if params
    ]
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr)
    if config.optimizer == "adagrad":
        return torch.optim.Adagrad(groups, lr=config.lr)
    return torch.optim.SGD(groups, lr=config.lr)


def fit_ranker(
    model: Ranker,
    train: FeatureBatch,
    valid: FeatureBatch | None,
    config: RankerTrainConfig,
    *,
    log_path: str | Path | None = None,
) -> RankerTrainResult:
    """Train ``model`` on ``train`` (in place; it ends in eval mode with the best weights).

    Args:
        model: a ranker; with ``embedding_l2 > 0`` it must hold its
            :class:`~recforge.models.ranker.FeatureEmbedding` as ``model.embedding``.
        train: the training rows.
        valid: validation rows for early stopping (None: train all epochs, keep the last).
        config: the training settings.
        log_path: JSON-lines file receiving one record per epoch.

    Example:
        >>> from recforge.features.fields import FeatureSchema, Field
        >>> from recforge.models.dnn import DNN, DNNConfig
        >>> schema = FeatureSchema((Field("user_id", "sparse", 6), Field("item_id", "sparse", 6)))
        >>> _ = torch.manual_seed(0)
        >>> sparse = torch.randint(2, 6, (64, 2))
        >>> rows = FeatureBatch(sparse, torch.zeros(64, 0), (sparse[:, 1] > 3).float(),
        ...                     sparse[:, 0])
        >>> model = DNN(DNNConfig(embedding_dim=4, hidden=(8,)), schema)
        >>> config = RankerTrainConfig(epochs=2, batch_size=16, progress=False)
        >>> result = fit_ranker(model, rows, rows, config)
        >>> len(result.history), sorted(result.best_valid)
        (2, ['auc', 'gauc', 'logloss'])
    """
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    counts = _index_counts(model, train, config) if config.embedding_l2 > 0 else {}
    optimizer = make_ranker_optimizer(model, config)
    result = RankerTrainResult()
    stopper = EarlyStopping(config.patience if valid is not None else 0, log_path)
    # reduce on plateau: the score is "higher is better", so any non-increase is a plateau
    plateau = (
        torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode="max",
            factor=config.lr_decay,
            patience=0,
            threshold=0.0,
            threshold_mode="abs",
            eps=0.0,
        )
        if config.lr_decay < 1
        else None
    )
    for epoch in range(1, config.epochs + 1):
        start = time.perf_counter()
        loss = _train_epoch(model, train, optimizer, counts, config, rng, epoch)
        seconds = time.perf_counter() - start
        result.seconds += seconds
        record: dict = {"epoch": epoch, "loss": loss, "seconds": round(seconds, 3)}
        if valid is not None:
            scores = evaluate_ranker(model, valid, batch_size=config.eval_batch_size)
            record["valid"] = scores
            score = _selection_score(scores, config.valid_metric)
            stopper.validated(model, epoch, score, scores)
            if plateau is not None:
                lr = optimizer.param_groups[0]["lr"]
                plateau.step(score)
                if optimizer.param_groups[0]["lr"] != lr:
                    record["lr"] = optimizer.param_groups[0]["lr"]
        stopper.record(record)
        if stopper.should_stop:
            break
    stopper.restore(model)
    result.history, result.best_epoch, result.best_valid = (
        stopper.history,
        stopper.best_epoch,
        stopper.best_valid,
    )
    result.samples_per_second = len(train) * len(result.history) / max(result.seconds, 1e-9)
    return result


def _train_epoch(
    model: Ranker,
    train: FeatureBatch,
    optimizer: torch.optim.Optimizer,
    counts: dict[str, Tensor],
    config: RankerTrainConfig,
    rng: np.random.Generator,
    epoch: int,
) -> float:
    """One shuffled pass; returns the mean objective per row."""
    model.train()
    order = torch.from_numpy(rng.permutation(len(train)))
    total = 0.0
    starts = range(0, len(train), config.batch_size)
    bar = tqdm(
        starts, desc=f"epoch {epoch}", unit="batch", disable=not config.progress, leave=False
    )
    device = _device(model)
    for start in bar:
        rows = train.rows(order[start : start + config.batch_size]).to(device)
        outputs = model.training_outputs(rows)
        loss = losses.pointwise_bce(outputs.logits, rows.label)
        if outputs.auxiliary_loss is not None:
            loss = loss + outputs.auxiliary_loss
        if counts:
            loss = loss + config.embedding_l2 * _embedding_penalty(model, rows, counts)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(rows)
    if not math.isfinite(total):
        raise FloatingPointError(f"loss became {total} in epoch {epoch}; lower lr")
    return total / max(len(train), 1)


def _device(model: Ranker) -> torch.device:
    """Where the model's parameters are: the rows of each batch are moved there."""
    return next(model.parameters()).device


def _embedding(model: Ranker) -> FeatureEmbedding:
    embedding = getattr(model, "embedding", None)
    if not isinstance(embedding, FeatureEmbedding):
        raise ConfigError(
            "training.embedding_l2",
            f"{type(model).__name__} holds no FeatureEmbedding as .embedding; "
            "mini-batch aware regularisation needs it",
        )
    return embedding


def _table(embedding: FeatureEmbedding, name: str) -> nn.Embedding:
    table = embedding.tables[name]
    assert isinstance(table, nn.Embedding)
    return table


def _index_counts(
    model: Ranker, train: FeatureBatch, config: RankerTrainConfig
) -> dict[str, Tensor]:
    """``n_j``: occurrences of each index of each table in the training rows, ``{name: (V,)}``."""
    embedding = _embedding(model)
    counts = {
        name: torch.zeros(_table(embedding, name).num_embeddings, dtype=torch.float32)
        for name in embedding.tables
    }
    for start in range(0, len(train), config.eval_batch_size):
        rows = train.rows(torch.arange(start, min(start + config.eval_batch_size, len(train))))
        for name, used in embedding.batch_indices(rows).items():
            counts[name] += torch.bincount(used.cpu(), minlength=len(counts[name])).float()
    return {name: count.to(_device(model)) for name, count in counts.items()}


def _embedding_penalty(model: Ranker, rows: FeatureBatch, counts: dict[str, Tensor]) -> Tensor:
    embedding = _embedding(model)
    return sum(
        (
            losses.minibatch_aware_l2(_table(embedding, name).weight, used, counts[name])
            for name, used in embedding.batch_indices(rows).items()
        ),
        start=torch.zeros((), device=rows.label.device),
    )


def _selection_score(scores: dict[str, float], metric: str) -> float:
    value = scores[metric]
    if math.isnan(value):
        raise ConfigError(
            "training.valid_metric",
            f"{metric!r} is undefined on the validation rows (no user with both classes?)",
        )
    return -value if metric in _LOWER_IS_BETTER else value


def evaluate_ranker(
    model: Ranker, batch: FeatureBatch, *, batch_size: int = 65536
) -> dict[str, float]:
    """AUC, GAUC (groups = ``batch.group``, DIN's impression-weighted user AUC) and log loss
    of ``model`` on labelled rows. GAUC is NaN when no group holds both classes.

    Raises:
        ValueError: the rows hold a single class (AUC undefined).
    """
    logits = predict_logits(model, batch, batch_size).astype(np.float64)
    labels = batch.label.cpu().numpy()
    groups = batch.group.cpu().numpy()
    try:
        group_auc = metrics.gauc(labels, logits, groups)
    except ValueError:
        group_auc = math.nan
    return {
        "auc": metrics.auc(labels, logits),
        "gauc": group_auc,
        "logloss": metrics.log_loss(labels, expit(logits)),
    }
