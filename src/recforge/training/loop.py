"""The training loop for neural recommenders, readable top to bottom.

Each epoch is built at once as index arrays (positives plus sampled negatives, shuffled),
then sliced into batches; after each epoch an optional validation callback scores the model
and early stopping keeps the best weights.

Sequence models (``uses_sequences``: GRU4Rec, SASRec) train on windows of users'
time-ordered histories instead of (user, item) pairs: every position predicts the next item,
against all items (``loss = "ce"``) or ``n_negatives`` uniform negatives (``"bce"``), or
against the other targets of its batch with logQ correction (``"in_batch"``, two-tower
retrieval; see :func:`~recforge.training.losses.in_batch_logits`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor
from tqdm.auto import tqdm

from recforge.core.batches import SequenceBatch, UserItemBatch
from recforge.core.errors import ConfigError
from recforge.core.sequences import Sequences
from recforge.data.sampling import NegativeSampler, pairwise_epoch, pointwise_epoch
from recforge.models.base import NeuralRecommender
from recforge.models.sequential import SequentialRecommender
from recforge.models.twotower import TwoTower
from recforge.training import losses
from recforge.training.early_stopping import EarlyStopping

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """How a neural model is trained.

    Args:
        loss: ``"bce"`` (pointwise log loss with ``n_negatives`` per positive, NCF),
            ``"bpr"`` (pairwise) or, for sequence models, ``"ce"`` (softmax over all items)
            or ``"sampled_ce"`` (softmax over the target and ``n_negatives`` uniform items
            shared by the batch: the full softmax's cost grows with the catalogue), or
            ``"in_batch"`` (softmax over the batch's targets with logQ correction:
            ``losses.in_batch_logits``; the batch holds up to ``batch_size`` x ``max_len``
            targets, its square in logits).
        epochs: maximum number of epochs.
        batch_size: samples per step (history windows for sequence models). Large batches
            are what makes CPU training fast; scale ``lr`` with it.
        lr: learning rate.
        optimizer: ``"adam"``, ``"sgd"`` or ``"adagrad"``.
        weight_decay: L2 penalty passed to the optimizer.
        n_negatives: negatives per positive (pointwise) or per positive pair (BPR).
        negative_sampling: ``"uniform"`` or ``"popularity"``.
        popularity_alpha: exponent of popularity sampling.
        patience: stop after this many validations without improvement (0 disables).
        valid_every: validate after every this many epochs (and after the last one).
        valid_metric: metric name from the validation callback that early stopping watches.
        logq_correction: with ``"in_batch"``, subtract from each logit the log of its
            item's sampling probability (Yi et al. 2019); off trains the biased softmax.
        batch_weighting: sequence models: ``"targets"`` weighs each batch's mean loss by
            its number of targets over the epoch's mean per batch, so that every target
            counts the same whatever batch it falls in (the papers' objective, a mean over
            all positions); ``"equal"`` gives every batch's mean the same weight, which with
            the loop's length-sorted batches makes a target of a short history count several
            times more than one of a long history. ``"equal"`` was the only
            behaviour before 2026-11-29 and is kept to reproduce older results.
        seed: seeds negative sampling, shuffling and initialisation.
        threads: torch intra-op threads (None: leave torch's default).
        progress: show a progress bar.
    """

    loss: Literal["bce", "bpr", "ce", "sampled_ce", "in_batch"] = "bce"
    epochs: int = 20
    batch_size: int = 4096
    lr: float = 0.001
    optimizer: Literal["adam", "sgd", "adagrad"] = "adam"
    weight_decay: float = 0.0
    n_negatives: int = 4
    negative_sampling: Literal["uniform", "popularity"] = "uniform"
    popularity_alpha: float = 0.75
    logq_correction: bool = True
    patience: int = 5
    valid_every: int = 1
    valid_metric: str = "ndcg@10"
    batch_weighting: Literal["targets", "equal"] = "targets"
    seed: int = 0
    threads: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "n_negatives", "valid_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.batch_weighting not in ("targets", "equal"):
            raise ValueError(
                f"batch_weighting must be 'targets' or 'equal', got {self.batch_weighting!r}"
            )


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
    sequences: Sequences | None = None,
) -> TrainResult:
    """Train ``model`` on the positives of ``train`` (users x items CSR).

    Args:
        model: a neural recommender (modified in place; ends with the best weights).
        train: training interactions; also the items excluded from negative sampling.
        config: the training settings.
        validate: called after every epoch; returns metrics such as ``{"ndcg@10": 0.4}``.
        log_path: JSON-lines file receiving one record per epoch.
        sequences: the training histories in time order, for sequence models (default:
            each user's items of ``train`` in index order).
    """
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    set_graph = getattr(model, "set_graph", None)
    if getattr(model, "uses_graph", False) and callable(set_graph):
        set_graph(train)  # graph models (LightGCN) propagate over the training matrix
    if isinstance(model, SequentialRecommender):
        sequences = sequences if sequences is not None else Sequences.from_csr(train)
        model.set_histories(sequences)
        windows = sequences.windows(model.config.max_len)
        window_users = torch.from_numpy(window_user_idx(sequences, model.config.max_len))
        log_q = target_log_frequency(windows[1], model.n_items)
        epoch_samples = int((windows[1] > 0).sum())
        if config.loss == "bpr":
            raise ConfigError(
                "training.loss",
                "sequence models train with 'ce', 'sampled_ce', 'in_batch' or 'bce'",
            )
    elif config.loss in ("ce", "sampled_ce", "in_batch"):
        raise ConfigError(
            "training.loss", f"{config.loss!r} is for sequence models; use 'bce' or 'bpr'"
        )
    else:
        epoch_samples = train.nnz * (
            1 + config.n_negatives if config.loss == "bce" else config.n_negatives
        )
    sampler = NegativeSampler(
        train, distribution=config.negative_sampling, alpha=config.popularity_alpha
    )
    optimizer = make_optimizer(model, config)
    result = TrainResult()
    stopper = EarlyStopping(config.patience, log_path)
    train_seconds = 0.0
    n_samples = 0
    for epoch in range(1, config.epochs + 1):
        start = time.perf_counter()
        if isinstance(model, SequentialRecommender):
            loss = _sequence_epoch(
                model, windows, optimizer, config, rng, epoch, window_users, log_q
            )
        else:
            loss = _train_epoch(model, train, sampler, optimizer, config, rng, epoch)
        seconds = time.perf_counter() - start
        train_seconds += seconds
        n_samples += epoch_samples
        record: dict = {"epoch": epoch, "loss": loss, "seconds": round(seconds, 3)}
        if validate is not None and (epoch % config.valid_every == 0 or epoch == config.epochs):
            valid = validate(model)
            record["valid"] = valid
            if config.valid_metric not in valid:
                raise ConfigError(
                    "training.valid_metric",
                    f"{config.valid_metric!r} is not among the validation metrics {sorted(valid)}",
                )
            stopper.validated(model, epoch, valid[config.valid_metric], valid)
        stopper.record(record)
        if stopper.should_stop:
            break
    stopper.restore(model)
    result.history, result.best_epoch, result.best_valid = (
        stopper.history,
        stopper.best_epoch,
        stopper.best_valid,
    )
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
        total += _step(model, optimizer, loss) * len(first)
        count += len(first)
    return _mean_loss(total, count, epoch)


def _sequence_epoch(
    model: SequentialRecommender,
    windows: tuple[np.ndarray, np.ndarray],
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    rng: np.random.Generator,
    epoch: int,
    window_users: Tensor,
    log_q: Tensor,
) -> float:
    """One pass over shuffled history windows; returns the mean loss per target.
    ``window_users`` ``(W,)`` is each window's user, ``log_q`` ``(I,)`` the items' log
    sampling probabilities (``"in_batch"``)."""
    model.train()
    inputs, targets = (torch.from_numpy(w) for w in windows)
    total, count = 0.0, 0
    lengths = (windows[0] > 0).sum(1)  # (W,) items per window
    batches = _length_batches(lengths, config.batch_size, rng)
    per_batch = max(int(lengths.sum()), 1) / max(len(batches), 1)  # targets = inputs
    bar = tqdm(
        batches, desc=f"epoch {epoch}", unit="batch", disable=not config.progress, leave=False
    )
    for rows in bar:
        longest = max(int(lengths[rows].max()), 1)
        batch = SequenceBatch(inputs[rows, -longest:], targets[rows, -longest:])
        loss, n_targets = _sequence_loss(model, batch, config, rng, window_users[rows], log_q)
        weight = n_targets / per_batch if config.batch_weighting == "targets" else 1.0
        _step(model, optimizer, loss * weight)
        total += float(loss.detach()) * n_targets
        count += n_targets
    return _mean_loss(total, count, epoch)


def _sequence_loss(
    model: SequentialRecommender,
    batch: SequenceBatch,
    config: TrainConfig,
    rng: np.random.Generator,
    user_idx: Tensor | None = None,
    log_q: Tensor | None = None,
) -> tuple[Tensor, int]:
    """Next-item loss over every position of ``batch`` that has a target, and their number
    (``user_idx`` ``(B,)``: the windows' users; ``log_q`` ``(I,)``: for ``"in_batch"``)."""
    present = batch.targets > 0  # (B, L)
    if isinstance(model, TwoTower):  # its query may read the user's id
        hidden = model.hidden(batch.inputs, user_idx)[present]  # (N, D)
    else:
        hidden = model.hidden(batch.inputs)[present]  # (N, D)
    target = batch.targets[present] - 1  # (N,) item index
    items = model.item_vectors()  # (I, D)
    if config.loss == "in_batch":
        log_q = log_q if config.logq_correction else None
        logits = losses.in_batch_logits(hidden, items[target], target, log_q)  # (N, N)
        return losses.softmax_ce(logits, torch.arange(len(target))), len(target)
    if config.loss == "ce":
        return losses.softmax_ce(hidden @ items.T, target), len(target)
    if config.loss == "sampled_ce":  # one set of uniform negatives for the batch
        negatives = torch.from_numpy(rng.integers(0, model.n_items, config.n_negatives))
        positive = (hidden * items[target]).sum(-1, keepdim=True)  # (N, 1)
        negative = hidden @ items[negatives].T  # (N, K)
        negative = negative.masked_fill(negatives[None, :] == target[:, None], -torch.inf)
        logits = torch.cat([positive, negative], dim=1)
        return losses.softmax_ce(logits, torch.zeros_like(target)), len(target)
    negatives = torch.from_numpy(
        rng.integers(0, model.n_items, size=(len(target), config.n_negatives))
    )
    positive = (hidden * items[target]).sum(-1)  # (N,)
    negative = torch.einsum("nd,nkd->nk", hidden, items[negatives])  # (N, K)
    logits = torch.cat([positive[:, None], negative], dim=1)  # (N, 1+K)
    labels = torch.zeros_like(logits)
    labels[:, 0] = 1.0
    drawn = (negatives != target[:, None]).float()  # a drawn target is no negative
    weight = torch.cat([torch.ones_like(positive[:, None]), drawn], 1)
    # SASRec's loss −log σ(pos) − Σ log(1 − σ(neg)), averaged over positions
    return losses.pointwise_bce(logits, labels, weight) * logits.shape[1], len(target)


def target_log_frequency(targets: np.ndarray, n_items: int) -> Tensor:
    """``(I,)`` float32 log of each item's share of the target tokens ``targets`` (0 = no
    target); an item that is never a target never enters a batch and gets log(1/N)."""
    counts = np.bincount(targets[targets > 0] - 1, minlength=n_items).astype(np.float64)
    return torch.from_numpy(np.log(np.maximum(counts, 1.0) / max(counts.sum(), 1.0))).float()


def window_user_idx(sequences: Sequences, max_len: int) -> np.ndarray:
    """``(W,)`` the user of each row of ``sequences.windows(max_len)``: rows come user by
    user, ⌈(n − 1) / max_len⌉ of them for a history of n items.

    >>> window_user_idx(Sequences.from_lists([[5, 6, 7, 8], [1], [2, 3]]), 2).tolist()
    [0, 0, 2]
    """
    n_inputs = np.maximum(np.diff(sequences.indptr) - 1, 0)  # (U,) positions with a next item
    return np.repeat(np.arange(len(sequences)), -(-n_inputs // max_len))


def _step(model: NeuralRecommender, optimizer: torch.optim.Optimizer, loss: Tensor) -> float:
    """One optimiser step on ``loss`` plus the model's own term (``auxiliary_loss``, such
    as KGIN's intent independence), whatever the loop; returns the summed value."""
    auxiliary = model.auxiliary_loss()
    if auxiliary is not None:
        loss = loss + auxiliary
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def _mean_loss(total: float, count: int, epoch: int) -> float:
    if not np.isfinite(total):
        raise FloatingPointError(f"loss became {total} in epoch {epoch}; lower lr")
    return total / max(count, 1)


def _length_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator, pool: int = 50
) -> list[torch.Tensor]:
    """Shuffled batches of window indices in which windows have similar lengths, so each
    batch is cut to its longest window instead of ``max_len`` (most histories are short).

    Windows are shuffled, sorted by length within pools of ``pool`` batches, cut into
    batches, and the batches shuffled.
    """
    order = rng.permutation(len(lengths))
    span = batch_size * pool
    for start in range(0, len(order), span):
        chunk = order[start : start + span]
        order[start : start + span] = chunk[np.argsort(lengths[chunk], kind="stable")]
    batches = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
    return [torch.from_numpy(batches[i]) for i in rng.permutation(len(batches))]
