"""Errors that reach the user as one readable line.

Every error raised for bad input names where the problem is: a file and line, a config key,
a column or an id. The CLI prints ``str(error)`` and exits non-zero, never a traceback.
"""

from __future__ import annotations

from pathlib import Path


class RecforgeError(Exception):
    """Base class of every error recforge raises on purpose."""


class DataFormatError(RecforgeError, ValueError):
    """A data file is malformed, truncated or does not match its declared format.

    Args:
        path: the file that is wrong.
        message: what is wrong.
        line: 1-based line number where the problem is, when known.
    """

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class ConfigError(RecforgeError, ValueError):
    """A config key is unknown, missing or of the wrong type.

    Args:
        key: dotted path of the offending key, e.g. ``training.lr``.
        message: what is wrong.
        source: the file the key came from, when known.
    """

    def __init__(self, key: str, message: str, source: str | Path | None = None) -> None:
        self.key = key
        self.source = None if source is None else str(source)
        prefix = f"{self.source}: " if self.source else ""
        super().__init__(f"{prefix}config key '{key}': {message}")


class UnknownIdError(RecforgeError, KeyError):
    """A raw user or item id is not in the vocabulary."""

    def __init__(self, kind: str, raw_id: object, hint: str = "") -> None:
        self.kind = kind
        self.raw_id = raw_id
        super().__init__(f"unknown {kind} id {raw_id!r}" + (f"; {hint}" if hint else ""))

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class DatasetNotFoundError(RecforgeError, FileNotFoundError):
    """A dataset's files are not where recforge looked for them."""
