"""The training loop for neural recommenders, readable top to bottom.

Each epoch is built at once as index arrays (positives plus sampled negatives, shuffled),
then sliced into batches; after each epoch an optional validation callback scores the model
and early stopping keeps the best weights.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from recforge.core.batches import UserItemBatch
from recforge.core.errors import ConfigError
from recforge.data.sampling import NegativeSampler, pairwise_epoch, pointwise_epoch
from recforge.models.base import NeuralRecommender
from recforge.training import losses

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """How a neural model is trained.

    Args:
        loss: ``"bce"`` (pointwise log loss with ``n_negatives`` per positive, NCF) or
            ``"bpr"`` (pairwise).
        epochs: maximum number of epochs.
        batch_size: samples per step. Large batches are what makes CPU training fast; scale
            ``lr`` with it.
        lr: learning rate.
        optimizer: ``"adam"``, ``"sgd"`` or ``"adagrad"``.
        weight_decay: L2 penalty passed to the optimizer.
        n_negatives: negatives per positive (pointwise) or per positive pair (BPR).
        negative_sampling: ``"uniform"`` or ``"popularity"``.
        popularity_alpha: exponent of popularity sampling.
        patience: stop after this many validations without improvement (0 disables).
        valid_metric: metric name from the validation callback that early stopping watches.
        seed: seeds negative sampling, shuffling and initialisation.
        threads: torch intra-op threads (None: leave torch's default).
        progress: show a progress bar.
    """

    loss: Literal["bce", "bpr"] = "bce"
    epochs: int = 20
    batch_size: int = 4096
    lr: float = 0.001
    optimizer: Literal["adam", "sgd", "adagrad"] = "adam"
    weight_decay: float = 0.0
    n_negatives: int = 4
    negative_sampling: Literal["uniform", "popularity"] = "uniform"
    popularity_alpha: float = 0.75
    patience: int = 5
    valid_metric: str = "ndcg@10"
    seed: int = 0
    threads: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "n_negatives"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_valid: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    samples_per_second: float = 0.0


def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.Adagrad(params, lr=config.lr, weight_decay=config.weight_decay)


def fit(
    model: NeuralRecommender,
    train: sp.csr_matrix,
    config: TrainConfig,
    *,
    validate: Callable[[NeuralRecommender], dict[str, float]] | None = None,
    log_path: str | Path | None = None,
) -> TrainResult:
    """Train ``model`` on the positives of ``train`` (users x items CSR).

    Args:
        model: a neural recommender (modified in place; ends with the best weights).
        train: training interactions; also the items excluded from negative sampling.
        config: the training settings.
        validate: called after every epoch; returns metrics such as ``{"ndcg@10": 0.4}``.
        log_path: JSON-lines file receiving one record per epoch.
    """
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    sampler = NegativeSampler(
        train, distribution=config.negative_sampling, alpha=config.popularity_alpha
    )
    optimizer = make_optimizer(model, config)
    if log_path:
        Path(log_path).write_text("")
    result = TrainResult()
    best_score = -np.inf
    best_state = None
    stale = 0
    train_seconds = 0.0
    n_samples = 0
    for epoch in range(1, config.epochs + 1):
        start = time.perf_counter()
        loss = _train_epoch(model, train, sampler, optimizer, config, rng, epoch)
        seconds = time.perf_counter() - start
        train_seconds += seconds
        n_samples += train.nnz * (
            1 + config.n_negatives if config.loss == "bce" else config.n_negatives
        )
        record: dict = {"epoch": epoch, "loss": loss, "seconds": round(seconds, 3)}
        if validate is not None:
            valid = validate(model)
            record["valid"] = valid
            if config.valid_metric not in valid:
                raise ConfigError(
                    "training.valid_metric",
                    f"{config.valid_metric!r} is not among the validation metrics {sorted(valid)}",
                )
            score = valid[config.valid_metric]
            if score > best_score:
                best_score, stale = score, 0
                best_state = copy.deepcopy(model.state_dict())
                result.best_epoch, result.best_valid = epoch, valid
            else:
                stale += 1
        result.history.append(record)
        logger.info("epoch %d %s", epoch, record)
        if log_path:
            with Path(log_path).open("a") as log:
                log.write(json.dumps(record) + "\n")
        if validate is not None and config.patience and stale >= config.patience:
            logger.info("early stop at epoch %d (best %d)", epoch, result.best_epoch)
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        result.best_epoch = len(result.history)
    model.eval()
    result.seconds = train_seconds
    result.samples_per_second = n_samples / max(train_seconds, 1e-9)
    return result


def _train_epoch(
    model: NeuralRecommender,
    train: sp.csr_matrix,
    sampler: NegativeSampler,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    rng: np.random.Generator,
    epoch: int,
) -> float:
    model.train()
    if config.loss == "bce":
        users, items, labels = pointwise_epoch(train, sampler, config.n_negatives, rng)
        columns = [torch.from_numpy(users), torch.from_numpy(items), torch.from_numpy(labels)]
    else:
        users, positives, negatives = pairwise_epoch(train, sampler, rng, config.n_negatives)
        columns = [
            torch.from_numpy(users),
            torch.from_numpy(positives),
            torch.from_numpy(negatives),
        ]
    n_rows = len(columns[0])
    total, count = 0.0, 0
    starts = range(0, n_rows, config.batch_size)
    bar = tqdm(
        starts, desc=f"epoch {epoch}", unit="batch", disable=not config.progress, leave=False
    )
    for start in bar:
        first, second, third = (column[start : start + config.batch_size] for column in columns)
        if config.loss == "bce":
            logits = model(UserItemBatch(first, second))
            loss = losses.pointwise_bce(logits, third)
        else:
            both = model(UserItemBatch(torch.cat([first, first]), torch.cat([second, third])))
            positive, negative = both.chunk(2)
            loss = losses.bpr(positive, negative)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(first)
        count += len(first)
    if not np.isfinite(total):
        raise FloatingPointError(f"loss became {total} in epoch {epoch}; lower lr")
    return total / max(count, 1)
