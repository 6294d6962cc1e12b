"""``recforge rank-stage``: train the rank stage of a run and save it beside the run's model.

The run's saved ``config.toml`` says where its data came from; the same data becomes DIN's
next-behaviour rows (:func:`~recforge.data.ctr_behaviour.behaviour_ctr_tables`, with the run's
``implicit_threshold`` and ``events`` filters), a ranker is trained on them
(:func:`~recforge.training.rank_stage.fit_rank_stage`) and saved as ``RUN_DIR/rank_stage/``.
A server that loads the run then recalls candidates with the run's model and orders them
with the ranker. A run of ``recforge retrain`` was trained on an event store: give ``--db``.

Overrides (``--set``): ``ranker.<field>`` (the model's config, e.g. ``ranker.embedding_dim=8``),
``training.<field>`` (:class:`~recforge.training.ranking.RankerTrainConfig`),
``history_length`` and ``seed``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from recforge.core.config import apply_overrides, from_dict, load_toml
from recforge.core.errors import ConfigError, RecforgeError
from recforge.data.ctr import CTRTables
from recforge.data.ctr_behaviour import behaviour_ctr_tables
from recforge.data.dataset import DataConfig, load_tables
from recforge.models import RANKERS
from recforge.serving.registry import RANK_SETTINGS_FILE, RANK_STAGE_DIR
from recforge.training.rank_stage import GBDT_LIBRARIES, fit_rank_stage
from recforge.training.ranking import RankerTrainConfig

logger = logging.getLogger(__name__)

_SECTIONS = ("ranker", "training", "history_length", "seed")


@dataclass(frozen=True)
class RankStageRun:
    """What :func:`train_rank_stage` did: the stage folder, validation metrics, the data."""

    path: Path
    model: str
    valid: dict[str, float]
    description: str


def run_data_config(run_dir: Path) -> DataConfig:
    """The ``[data]`` section of ``run_dir/config.toml``.

    Raises:
        RecforgeError: ``run_dir`` is not a run directory (no ``config.toml``).
        ConfigError: the section has an unknown or ill-typed key (named).
    """
    path = run_dir / "config.toml"
    if not path.is_file():
        what = "does not exist" if not run_dir.exists() else "has no config.toml"
        raise RecforgeError(f"{run_dir}: not a run directory ({what}; see 'recforge train')")
    data = load_toml(path).get("data", {})
    return from_dict(DataConfig, data, prefix="data", source=path)


def rank_stage_tables(
    run_dir: Path, db: str | None = None, *, seed: int = 0, config: DataConfig | None = None
) -> CTRTables:
    """The next-behaviour rows of the data ``run_dir`` was trained on: its data ``config``
    (default: read from the run), or the event store ``db`` (for runs of ``recforge
    retrain``) filtered as the config says."""
    config = config or run_data_config(run_dir)
    if db is not None:
        from recforge.cli.online import store_tables
        from recforge.serving.store import EventStore

        with EventStore(db) as store:
            tables = store_tables(store)
    elif config.dataset == "store":
        raise RecforgeError(
            f"{run_dir}: trained on an event store ('recforge retrain'); give the store with --db"
        )
    else:
        tables = load_tables(config)
    return behaviour_ctr_tables(
        tables,
        seed=seed,
        name=tables.name,
        implicit_threshold=config.implicit_threshold,
        events=config.events,
    )


def train_rank_stage(
    run_dir: Path,
    model: str = "din",
    overrides: list[str] | None = None,
    *,
    epochs: int | None = None,
    db: str | None = None,
    progress: bool = True,
) -> RankStageRun:
    """Train ``model`` on the run's data and save it as ``run_dir/rank_stage``.

    The stage is written to a temporary folder first and then swapped in, so an old stage
    is replaced whole (a server loads it at the run's next activation).

    Raises:
        ConfigError: unknown model, override key or setting (named).
        RecforgeError: not a run directory, or a store run without ``db``.
    """
    if model not in RANKERS and model not in GBDT_LIBRARIES:
        known = ", ".join(sorted([*RANKERS, *GBDT_LIBRARIES]))
        raise ConfigError("--model", f"unknown ranker {model!r} (known: {known})")
    settings = apply_overrides({}, overrides or [])
    for key in settings:
        if key not in _SECTIONS:
            raise ConfigError(key, f"unknown key (known: {', '.join(_SECTIONS)})")
    params = settings.get("ranker", {})
    training_settings = settings.get("training", {})
    if not isinstance(params, dict) or not isinstance(training_settings, dict):
        raise ConfigError("ranker/training", "give fields: ranker.<field>=, training.<field>=")
    history_length = _int_setting(settings, "history_length", 50)
    seed = _int_setting(settings, "seed", 0)
    training_settings = {"seed": seed, "progress": progress, **training_settings}
    if epochs is not None:
        training_settings["epochs"] = epochs
    try:
        training = from_dict(RankerTrainConfig, training_settings, prefix="training")
    except ConfigError:
        raise
    except ValueError as error:
        raise ConfigError("training", str(error)) from error

    data = run_data_config(run_dir)
    tables = rank_stage_tables(run_dir, db, seed=seed, config=data)
    logger.info("%s", tables.description)
    fitted = fit_rank_stage(
        tables, model, params, training, history_length=history_length, seed=seed
    )
    final = run_dir / RANK_STAGE_DIR
    temporary = run_dir / f".{RANK_STAGE_DIR}-{os.getpid()}"
    shutil.rmtree(temporary, ignore_errors=True)
    fitted.stage.save(temporary)
    record: dict[str, Any] = {
        "model": model,
        "ranker": params,
        "training": asdict(training),
        "history_length": history_length,
        "seed": seed,
        "valid": fitted.valid,
        # what serving counts as a behaviour in a live history (serving.registry.Behaviours)
        "behaviours": {"events": data.events, "implicit_threshold": data.implicit_threshold},
        "best_epoch": None if fitted.result is None else fitted.result.best_epoch,
        "data": tables.description,
    }
    (temporary / RANK_SETTINGS_FILE).write_text(json.dumps(record, indent=1, default=str) + "\n")
    if final.exists():
        shutil.rmtree(final)
    temporary.rename(final)
    return RankStageRun(final, model, dict(fitted.valid), tables.description)


def _int_setting(settings: dict[str, Any], key: str, default: int) -> int:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(key, f"must be an integer >= 0, got {value!r}")
    return value


__all__ = ["RankStageRun", "rank_stage_tables", "run_data_config", "train_rank_stage"]
