"""Strict configuration: TOML files parsed into frozen dataclasses.

An unknown key, a missing required key or a value of the wrong type is a :class:`ConfigError`
that names the dotted key. Precedence: dataclass defaults < file < ``--set a.b=c`` overrides.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Optim:
...     lr: float = 0.001
...     epochs: int = 10
>>> from_dict(Optim, {"lr": 0.01})
Optim(lr=0.01, epochs=10)
>>> from_dict(Optim, {"lr": 0.01, "epoch": 3})
Traceback (most recent call last):
...
recforge.core.errors.ConfigError: config key 'epoch': unknown key (known: lr, epochs)
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import tomli_w

from recforge.core.errors import ConfigError

T = TypeVar("T")


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(tp: Any, value: Any, key: str, source: str | None) -> Any:
    """Check ``value`` against the annotation ``tp``; convert only where lossless."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        if value not in get_args(tp):
            allowed = ", ".join(repr(a) for a in get_args(tp))
            raise ConfigError(key, f"must be one of {allowed}, got {value!r}", source)
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, key, source)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(key, f"expected {_type_name(tp)}, got {value!r}", source)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, Mapping):
            raise ConfigError(key, f"expected a table, got {value!r}", source)
        return from_dict(tp, value, prefix=key, source=source)
    if origin in (tuple, list, Sequence) or tp in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(key, f"expected a list, got {value!r}", source)
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(key, f"expected {len(args)} values, got {len(value)}", source)
            items = [
                _coerce(a, v, f"{key}[{i}]", source)
                for i, (a, v) in enumerate(zip(args, value, strict=True))
            ]
        else:
            inner = args[0] if args else Any
            items = [_coerce(inner, v, f"{key}[{i}]", source) for i, v in enumerate(value)]
        return list(items) if origin is list else tuple(items)
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(key, f"expected a table, got {value!r}", source)
        return dict(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(key, f"expected a number, got {value!r}", source)
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"expected an integer, got {value!r}", source)
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected true or false, got {value!r}", source)
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(key, f"expected a string, got {value!r}", source)
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(key, f"expected {_type_name(tp)}, got {value!r}", source)
    return value


def from_dict(
    cls: type[T], data: Mapping[str, Any], *, prefix: str = "", source: str | Path | None = None
) -> T:
    """Build the dataclass ``cls`` from a mapping, strictly.

    Args:
        cls: a dataclass type whose fields may themselves be dataclasses.
        data: the parsed TOML table.
        prefix: dotted path of ``data`` inside the whole config, used in error messages.
        source: the file ``data`` came from, used in error messages.
    """
    src = None if source is None else str(source)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = get_type_hints(cls)
    unknown = [k for k in data if k not in fields]
    if unknown:
        known = ", ".join(fields)
        raise ConfigError(_join(prefix, unknown[0]), f"unknown key (known: {known})", src)
    kwargs = {}
    for name, field in fields.items():
        key = _join(prefix, name)
        if name in data:
            kwargs[name] = _coerce(hints[name], data[name], key, src)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(key, "required key is missing", src)
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as error:  # __post_init__ validation
        raise ConfigError(prefix or cls.__name__, str(error), src) from error


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file; a syntax error names the file and line."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as error:
        raise ConfigError("<file>", f"config file {path} not found", path) from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError("<syntax>", str(error), path) from error


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``a.b=c`` into (["a", "b"], value); the value is read as TOML, else as a string.

    >>> parse_override("training.lr=0.01")
    (['training', 'lr'], 0.01)
    >>> parse_override("model.name=neumf")
    (['model', 'name'], 'neumf')
    >>> parse_override("model.layers=[64, 32]")
    (['model', 'layers'], [64, 32])
    """
    if "=" not in text:
        raise ConfigError(text, "an override must look like key.path=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(key, "empty key in override")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with ``key.path=value`` overrides applied."""
    result = _deep_copy(data)
    for text in overrides:
        parts, value = parse_override(text)
        table = result
        for part in parts[:-1]:
            child = table.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(".".join(parts), f"'{part}' is not a table")
            table = child
        table[parts[-1]] = value
    return result


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}


def to_dict(config: Any) -> dict[str, Any]:
    """A dataclass as a plain dict with ``None`` values dropped (TOML has no null)."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if v is not None}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return typing.cast(dict[str, Any], clean(dataclasses.asdict(config)))


def dump_toml(config: Any, path: str | Path) -> None:
    """Write a config dataclass (or dict) as TOML."""
    data = config if isinstance(config, dict) else to_dict(config)
    Path(path).write_text(tomli_w.dumps(data))
