"""The checkpoint format of ranking (CTR) models: a directory, plain JSON plus a state dict.

::

    directory/
      ranker.json   {"format_version": 1, "model": "dcnv2", "config": {...},
                     "schema": FeatureSchema.to_dict(), "library_version": str}
      weights.pt    {"format_version": 1, "state": {name: Tensor}}, read with weights_only=True

A ranker is rebuilt as ``RANKERS[model](config, schema)``: the schema carries everything the
data decided (fields, vocabulary sizes, history length), so serving needs no training data.
Never a pickled module.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

import recforge
from recforge.core.config import from_dict
from recforge.core.errors import ConfigError
from recforge.features.fields import FeatureSchema
from recforge.models import RANKERS
from recforge.models.checkpoint import CheckpointError, check_format_version, read_description
from recforge.models.ranker import Ranker

RANKER_FORMAT_VERSION = 1
CONFIG_FILE = "ranker.json"
WEIGHTS_FILE = "weights.pt"


def save_ranker(
    model: Ranker, directory: str | Path, registry: dict[str, type[Ranker]] | None = None
) -> Path:
    """Write ``model``'s config, schema and weights into ``directory`` (created if needed).

    Args:
        model: a ranker whose class is in ``registry``.
        directory: the checkpoint directory; files in it are replaced atomically.
        registry: name -> class (default ``recforge.models.RANKERS``).

    Returns:
        ``directory`` as a path.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    description = {
        "format_version": RANKER_FORMAT_VERSION,
        "model": _name(model, RANKERS if registry is None else registry),
        "config": dataclasses.asdict(model.config),  # tuples become JSON lists
        "schema": model.schema.to_dict(),
        "library_version": recforge.__version__,
    }
    state = {name: value.detach().cpu() for name, value in model.state_dict().items()}
    weights_tmp = directory / (WEIGHTS_FILE + ".tmp")
    torch.save({"format_version": RANKER_FORMAT_VERSION, "state": state}, weights_tmp)
    weights_tmp.replace(directory / WEIGHTS_FILE)
    config_tmp = directory / (CONFIG_FILE + ".tmp")
    config_tmp.write_text(json.dumps(description, indent=2, sort_keys=True) + "\n")
    config_tmp.replace(directory / CONFIG_FILE)
    return directory


def _name(model: Ranker, registry: dict[str, type[Ranker]]) -> str:
    for name, cls in registry.items():
        if type(model) is cls:
            return name
    raise CheckpointError(f"{type(model).__name__} is not in the ranker registry")


def load_ranker(directory: str | Path, registry: dict[str, type[Ranker]] | None = None) -> Ranker:
    """Rebuild the ranker saved in ``directory``, in eval mode.

    Args:
        directory: written by :func:`save_ranker`.
        registry: name -> class (default ``recforge.models.RANKERS``).

    Raises:
        CheckpointError: a file is missing or unreadable, the format version is unknown,
            the model is not in ``registry`` or the weights do not fit the model.
        ConfigError: the saved config has an unknown or ill-typed key (named).
    """
    registry = RANKERS if registry is None else registry
    directory = Path(directory)
    config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    description = read_description(config_path, "ranker checkpoint", RANKER_FORMAT_VERSION)
    name = description.get("model")
    if name not in registry:
        raise CheckpointError(f"{config_path}: unknown ranker {name!r} (known: {sorted(registry)})")
    cls = registry[name]
    config: Any = from_dict(
        cls.config_class, description.get("config", {}), prefix="model", source=config_path
    )
    try:
        schema = FeatureSchema.from_dict(description["schema"])
    except (KeyError, ValueError) as error:
        raise ConfigError("schema", str(error), config_path) from error
    try:
        payload = torch.load(weights_path, map_location="cpu", weights_only=True)
    except FileNotFoundError as error:
        raise CheckpointError(f"{weights_path}: weights not found") from error
    except Exception as error:  # corrupt or not a torch file
        raise CheckpointError(f"{weights_path}: not readable weights ({error})") from error
    check_format_version(payload, weights_path, RANKER_FORMAT_VERSION, "ranker checkpoint")
    model = cls(config, schema)
    try:
        model.load_state_dict(payload["state"])
    except (KeyError, RuntimeError) as error:
        raise CheckpointError(f"{weights_path}: weights do not fit {name!r}: {error}") from error
    model.eval()
    return model
