"""Shared helpers of the benchmark scripts: environment header, medians, raw JSON."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from recforge.models.artifact import manifest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
RAW = RESULTS / "raw"


def environment() -> dict[str, Any]:
    """What produced a number: versions, threads, machine, date, command."""
    env = manifest()
    env["command"] = command()
    env.update(cpu_count=os.cpu_count(), machine=platform.machine())
    env["OMP_WAIT_POLICY"] = os.environ.get("OMP_WAIT_POLICY", "(unset)")
    return env


def command() -> str:
    script = Path(sys.argv[0]).resolve()
    shown = script.relative_to(ROOT).as_posix() if script.is_relative_to(ROOT) else str(script)
    return " ".join(["python", shown, *sys.argv[1:]])


def ran_stamp() -> dict[str, str]:
    """What a results row records about the run that made it: the command and the date."""
    return {"command": command(), "date": time.strftime("%Y-%m-%d")}


def ran_cells(entry: dict[str, Any]) -> str:
    """The ``command | date`` cells of a row's :func:`ran_stamp` (rows from before it was
    recorded say so)."""
    ran = entry.get("ran", {"command": "(not recorded)", "date": ""})
    return f"`{ran['command']}` | {ran['date']}"


def environment_markdown(env: dict[str, Any]) -> str:
    lines = ["| what | value |", "|---|---|"]
    lines += [f"| {key} | `{value}` |" for key, value in env.items()]
    return "\n".join(lines)


def median_text(values: list[float], digits: int) -> str:
    """``median (min–max)``, or the single value when there is one."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def save_raw(name: str, payload: dict[str, Any]) -> Path:
    RAW.mkdir(parents=True, exist_ok=True)
    path = RAW / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=float))
    return path


def load_raw(name: str) -> dict[str, Any] | None:
    path = RAW / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None
