"""The bookkeeping both training loops share: per-epoch records, the best weights by a
validation score, patience, and the JSON-lines log."""

from __future__ import annotations

import copy
import json
import logging
import math
from pathlib import Path
from typing import Any

from torch import nn

logger = logging.getLogger(__name__)


class EarlyStopping:
    """Keep the weights of the best validation score (higher is better) and stop after
    ``patience`` validations without improvement (0: never stop early).

    Args:
        patience: validations without a better score before :attr:`should_stop`.
        log_path: JSON-lines file that receives every epoch's record (truncated here).

    Example:
        >>> model = nn.Linear(1, 1)
        >>> stopper = EarlyStopping(patience=1)
        >>> stopper.validated(model, 1, 0.5, {"auc": 0.5})
        >>> stopper.validated(model, 2, 0.4, {"auc": 0.4})
        >>> stopper.should_stop, stopper.best_epoch
        (True, 1)
    """

    def __init__(self, patience: int, log_path: str | Path | None = None) -> None:
        self.patience = patience
        self.log_path = Path(log_path) if log_path else None
        self.history: list[dict[str, Any]] = []
        self.best_score = -math.inf
        self.best_epoch = 0
        self.best_valid: dict[str, float] = {}
        self._best_state: dict[str, Any] | None = None
        self._stale = 0
        if self.log_path is not None:
            self.log_path.write_text("")

    def validated(
        self, model: nn.Module, epoch: int, score: float, valid: dict[str, float]
    ) -> None:
        """Note epoch ``epoch``'s validation ``score`` (keeps a copy of the weights when it
        is the best so far)."""
        if score > self.best_score:
            self.best_score, self._stale = score, 0
            self._best_state = copy.deepcopy(model.state_dict())
            self.best_epoch, self.best_valid = epoch, valid
        else:
            self._stale += 1

    def record(self, record: dict[str, Any]) -> None:
        """Keep, log and write one epoch's record."""
        self.history.append(record)
        logger.info("epoch %d %s", record["epoch"], record)
        if self.log_path is not None:
            with self.log_path.open("a") as log:
                log.write(json.dumps(record) + "\n")

    @property
    def should_stop(self) -> bool:
        stop = bool(self.patience) and self._stale >= self.patience
        if stop:
            logger.info("early stop at epoch %d (best %d)", len(self.history), self.best_epoch)
        return stop

    def restore(self, model: nn.Module) -> None:
        """Load the best weights into ``model`` (without validation: keep the last ones,
        and count the last epoch as the best) and put it in eval mode."""
        if self._best_state is not None:
            model.load_state_dict(self._best_state)
        else:
            self.best_epoch = len(self.history)
        model.eval()
