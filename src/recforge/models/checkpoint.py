"""The checkpoint format: a versioned plain dict saved with ``torch.save`` and loaded with
``weights_only=True``. Never a pickled module.

``{"format_version": 1, "model": "neumf", "config": {...}, "n_users": int, "n_items": int,
"state": {name: Tensor}, "library_version": str}``
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

import recforge
from recforge.core.config import from_dict
from recforge.core.errors import RecforgeError
from recforge.models.base import Recommender

FORMAT_VERSION = 1


class CheckpointError(RecforgeError):
    """A checkpoint file is missing, corrupt or of an unknown format version."""


def model_name(model: Recommender, registry: dict[str, Any]) -> str:
    for name, cls in registry.items():
        if type(model) is cls:
            return name
    raise CheckpointError(f"{type(model).__name__} is not in the model registry")


def save_checkpoint(model: Recommender, path: str | Path, registry: dict[str, Any]) -> None:
    """Write ``model``'s config and learned state to ``path``."""
    payload: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "model": model_name(model, registry),
        "config": _plain(dataclasses.asdict(model.config)),
        "n_users": model.n_users,
        "n_items": model.n_items,
        "state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "library_version": recforge.__version__,
    }
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def read_description(path: Path, what: str, version: int) -> dict[str, Any]:
    """The JSON object at ``path``, checked to be of format ``version``.

    Raises:
        CheckpointError: the file is missing, not JSON, or of another format (named).
    """
    try:
        description = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise CheckpointError(f"{path}: {what} not found") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path}: not valid JSON ({error})") from error
    check_format_version(description, path, version, what)
    return description


def check_format_version(payload: Any, path: Path, expected: int, what: str = "checkpoint") -> None:
    """Refuse ``payload`` unless it is a dict written in format version ``expected``."""
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise CheckpointError(f"{path}: not a recforge {what} (no format_version)")
    if payload["format_version"] != expected:
        raise CheckpointError(
            f"{path}: {what} format_version {payload['format_version']} is not supported "
            f"(this recforge reads version {expected})"
        )


def load_checkpoint(path: str | Path, registry: dict[str, Any]) -> Recommender:
    """Rebuild the model saved at ``path``."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as error:
        raise CheckpointError(f"{path}: checkpoint not found") from error
    except Exception as error:  # corrupt or not a torch file
        raise CheckpointError(f"{path}: not a readable recforge checkpoint ({error})") from error
    check_format_version(payload, path, FORMAT_VERSION)
    name = payload["model"]
    if name not in registry:
        raise CheckpointError(f"{path}: unknown model {name!r}")
    cls = registry[name]
    config = from_dict(cls.config_class, payload["config"], prefix="model", source=path)
    model = cls(config, n_users=payload["n_users"], n_items=payload["n_items"])
    model.load_state_dict(payload["state"])
    model.eval()
    return model
