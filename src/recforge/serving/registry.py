"""Trained models as the server holds them, and their lifecycle.

A *models folder* holds run directories (written by ``recforge train`` or ``recforge
retrain``) and one pointer file, ``active.json``, naming the current run and the one before
it. Activating or rolling back rewrites the pointer atomically (temp file + ``os.replace``);
every server process watching the folder notices the change, loads the new run *beside* the
old one and then swaps one reference, so a request in flight finishes on the bundle it
started with and no request fails during a reload. The previous bundle stays in memory, so a
rollback is instant.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recforge.core.errors import RecforgeError, UnknownIdError
from recforge.models import MODELS
from recforge.models.artifact import Artifact, load_artifact
from recforge.models.checkpoint import CheckpointError
from recforge.models.online import OnlineModel, online_model
from recforge.models.two_stage import RankStage
from recforge.serving.index import VectorIndex

logger = logging.getLogger(__name__)

POINTER = "active.json"
RANK_STAGE_DIR = "rank_stage"
"""The folder of a run holding its rank stage (``recforge rank-stage`` writes it)."""
RANK_SETTINGS_FILE = "training.json"
"""Beside the stage: how it was trained, with the ``behaviours`` its rows counted."""


@dataclass(frozen=True)
class Behaviours:
    """Which live events a rank stage reads as the user's behaviours: the ones its training
    rows counted (the run's ``events`` and ``implicit_threshold`` filters), so a request's
    history is built as the training histories were.

    >>> Behaviours(events=("click",)).keep(np.array(["view", "click"]), np.ones(2)).tolist()
    [False, True]
    """

    events: tuple[str, ...] | None = None
    implicit_threshold: float | None = None

    def keep(self, events: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``(H,)`` bool: which of a history's events are behaviours."""
        kept = np.ones(len(events), dtype=bool)
        if self.events is not None:
            kept &= np.isin(events, self.events)
        if self.implicit_threshold is not None:
            kept &= values >= self.implicit_threshold
        return kept

    @classmethod
    def load(cls, stage_dir: Path) -> Behaviours:
        """The ``behaviours`` of ``stage_dir/training.json``; all events when the file (or
        the entry) is absent.

        Raises:
            CheckpointError: the file is unreadable or the entry malformed (named).
        """
        path = stage_dir / RANK_SETTINGS_FILE
        if not path.is_file():
            return cls()
        try:
            entry = json.loads(path.read_text()).get("behaviours") or {}
            events = entry.get("events")
            threshold = entry.get("implicit_threshold")
            return cls(
                None if events is None else tuple(str(e) for e in events),
                None if threshold is None else float(threshold),
            )
        except (ValueError, TypeError, AttributeError) as error:
            raise CheckpointError(f"{path}: unreadable 'behaviours' ({error})") from error


@dataclass
class ModelBundle:
    """One loaded run: the model's serving view, its ANN indexes, id lookups and the rank
    stage that orders the recalled candidates (None: the recall order is the answer)."""

    run: str
    path: Path
    model_name: str
    artifact: Artifact
    online: OnlineModel
    item_index: VectorIndex | None
    similar_index: VectorIndex | None
    user_lookup: dict[str, int]
    item_lookup: dict[str, int]
    item_ids: list[str]
    rank_stage: RankStage | None = None
    rank_behaviours: Behaviours = field(default_factory=Behaviours)
    loaded_at: float = field(default_factory=time.time)

    def describe(self) -> dict[str, Any]:
        """What every answer says about the model that produced it."""
        return {
            "name": self.model_name,
            "run": self.run,
            "loaded_at": _iso(self.loaded_at),
            "n_items": len(self.item_ids),
            "n_users": len(self.user_lookup),
            "ranker": None if self.rank_stage is None else self.rank_stage.name,
        }

    def seen_rows(self, user_idx: int | None) -> np.ndarray:
        """Items the user interacted with in the training data (model rows)."""
        if user_idx is None:
            return np.empty(0, np.int64)
        seen = self.artifact.seen
        return seen.indices[seen.indptr[user_idx] : seen.indptr[user_idx + 1]].astype(np.int64)


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def load_bundle(path: str | Path, *, exact_limit: int = 1_000_000) -> ModelBundle:
    """Load a run directory, its rank stage (when ``rank_stage/`` exists) and build its
    indexes.

    Raises:
        CheckpointError: the model or the rank stage is broken (the file is named).
    """
    path = Path(path)
    artifact = load_artifact(path, MODELS)
    stage_dir = path / RANK_STAGE_DIR
    rank_stage = RankStage.load(stage_dir) if stage_dir.is_dir() else None
    behaviours = Behaviours.load(stage_dir) if rank_stage is not None else Behaviours()
    online = online_model(artifact.model)
    model_name = _model_name(path, artifact)
    item_ids = [str(i) for i in artifact.item_vocab.ids_]
    user_ids = [str(u) for u in artifact.user_vocab.ids_]
    bundle = ModelBundle(
        run=path.name,
        path=path,
        model_name=model_name,
        artifact=artifact,
        online=online,
        item_index=_index(online.item_vectors, exact_limit),
        similar_index=_index(online.similarity_vectors, exact_limit),
        user_lookup={user_id: row for row, user_id in enumerate(user_ids)},
        item_lookup={item_id: row for row, item_id in enumerate(item_ids)},
        item_ids=item_ids,
        rank_stage=rank_stage,
        rank_behaviours=behaviours,
    )
    logger.info(
        "loaded run %s (%s, %d items, ranker %s)",
        bundle.run,
        model_name,
        len(item_ids),
        None if rank_stage is None else rank_stage.name,
    )
    return bundle


def _index(vectors: np.ndarray | None, exact_limit: int) -> VectorIndex | None:
    return None if vectors is None else VectorIndex(vectors, exact_limit=exact_limit)


def _model_name(path: Path, artifact: Artifact) -> str:
    import tomllib

    config_path = path / "config.toml"
    if config_path.is_file():
        with config_path.open("rb") as handle:
            name = tomllib.load(handle).get("model", {}).get("name")
        if isinstance(name, str):
            return name
    return type(artifact.model).__name__.lower()


class ModelRegistry:
    """The runs of a models folder and the active one, reloaded when the pointer changes.

    Args:
        folder: the models folder.
        check_every: seconds between looks at the pointer file (0 = every call).
        exact_limit: largest catalogue searched exactly (see :class:`VectorIndex`).
    """

    def __init__(
        self, folder: str | Path, *, check_every: float = 1.0, exact_limit: int = 1_000_000
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.check_every = check_every
        self.exact_limit = exact_limit
        self._current: ModelBundle | None = None
        self._previous: ModelBundle | None = None
        self._pointer_mtime: float | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()
        self._loader: threading.Thread | None = None

    # ----------------------------------------------------------------- reading
    def current(self) -> ModelBundle | None:
        """The active bundle (None when no run is active); reloads after a pointer change."""
        now = time.monotonic()
        if now - self._checked_at >= self.check_every:
            self._checked_at = now
            self._sync()
        return self._current

    def pointer(self) -> dict[str, Any]:
        path = self.folder / POINTER
        if not path.is_file():
            return {}
        try:
            return dict(json.loads(path.read_text()))
        except (OSError, ValueError) as error:
            raise RecforgeError(f"{path}: unreadable model pointer ({error})") from error

    def runs(self) -> list[dict[str, Any]]:
        """Every run directory in the folder with its metrics, newest first."""
        pointer = self.pointer()
        out = []
        for run_dir in sorted(self.folder.iterdir(), key=_mtime, reverse=True):
            if not (run_dir / "model.pt").is_file():
                continue
            metrics_path = run_dir / "metrics.json"
            metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
            out.append(
                {
                    "run": run_dir.name,
                    "active": run_dir.name == pointer.get("current"),
                    "previous": run_dir.name == pointer.get("previous"),
                    "created": _iso(_mtime(run_dir)),
                    "metrics": metrics,
                }
            )
        return out

    def run_path(self, run: str) -> Path:
        """The folder of run ``run``; refuses names that leave the models folder."""
        path = (self.folder / run).resolve()
        if path.parent != self.folder.resolve() or not (path / "model.pt").is_file():
            raise UnknownIdError("run", run, f"no such run in {self.folder}")
        return path

    # ----------------------------------------------------------------- changing
    def activate(self, run: str) -> ModelBundle:
        """Load ``run``, make it current and record it in the pointer (the old current
        becomes previous). A run that fails to load changes nothing."""
        with self._lock:
            bundle = load_bundle(self.run_path(run), exact_limit=self.exact_limit)
            pointer = self.pointer()
            previous = pointer.get("current")
            if previous == run:
                previous = pointer.get("previous")
            self._write_pointer({"current": run, "previous": previous})
            if self._current is not None and self._current.run != run:
                self._previous = self._current
            self._current = bundle
        return bundle

    def rollback(self) -> ModelBundle:
        """Make the previous run current again."""
        previous = self.pointer().get("previous")
        if not previous:
            raise RecforgeError("no previous run to roll back to")
        return self.activate(previous)

    def _write_pointer(self, pointer: dict[str, Any]) -> None:
        pointer["activated_at"] = _iso(time.time())
        path = self.folder / POINTER
        temp = path.with_suffix(f".{os.getpid()}.tmp")
        temp.write_text(json.dumps(pointer, indent=2))
        os.replace(temp, path)
        self._pointer_mtime = path.stat().st_mtime

    def _sync(self) -> None:
        """Follow a pointer written by another process (or by hand): the first time, load
        here (nothing to serve yet); after that, load in a background thread while requests
        go on with the current bundle."""
        path = self.folder / POINTER
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            return
        if mtime == self._pointer_mtime or not self._lock.acquire(blocking=False):
            return
        self._pointer_mtime = mtime
        if self._current is None:
            self._load_pointed()
        else:
            self._loader = threading.Thread(target=self._load_pointed, daemon=True)
            self._loader.start()

    def _load_pointed(self) -> None:
        """Load the run the pointer names and swap it in (called with the lock held)."""
        try:
            run = self.pointer().get("current")
            if not run or (self._current is not None and self._current.run == run):
                return
            try:
                bundle = self._reuse_or_load(run)
            except (RecforgeError, OSError, RuntimeError, ValueError) as error:
                logger.error("could not load run %s, keeping the current one: %s", run, error)
                return
            if self._current is not None:
                self._previous = self._current
            self._current = bundle
            gc.freeze()  # long-lived, like everything loaded at start-up (see app.lifespan)
        finally:
            self._lock.release()

    def wait_for_reload(self, timeout: float = 60.0) -> None:
        """Block until a background reload (if any) has finished (for tests and scripts)."""
        loader = self._loader
        if loader is not None:
            loader.join(timeout)

    def _reuse_or_load(self, run: str) -> ModelBundle:
        if self._previous is not None and self._previous.run == run:
            return self._previous
        return load_bundle(self.run_path(run), exact_limit=self.exact_limit)


def _mtime(path: Path) -> float:
    return path.stat().st_mtime


__all__ = [
    "POINTER",
    "RANK_SETTINGS_FILE",
    "RANK_STAGE_DIR",
    "Behaviours",
    "ModelBundle",
    "ModelRegistry",
    "load_bundle",
]
