"""One place that seeds every random number generator recforge uses."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy's legacy global RNG and torch; return a fresh NumPy Generator.

    Library code takes randomness as an argument (a ``seed`` or ``np.random.Generator``);
    this function exists for entry points (CLI, benchmarks, tests) that start a run.

    >>> rng = seed_everything(7)
    >>> int(rng.integers(100)) == int(seed_everything(7).integers(100))
    True
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)
