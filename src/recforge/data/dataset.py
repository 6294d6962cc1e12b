"""From a data config to model-ready matrices: read, clean, index, split, sample evaluation
negatives. The result is what training, evaluation and the CLI consume.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recforge.core.config import from_dict
from recforge.core.errors import ConfigError, DatasetNotFoundError
from recforge.core.graph import KnowledgeGraph
from recforge.core.sequences import Sequences
from recforge.core.vocab import IdVocab
from recforge.data.catalog import dataset_folder, load_dataset, load_ncf
from recforge.data.matrix import Indexed, frame_to_csr, index_interactions
from recforge.data.preprocess import deduplicate, k_core, to_implicit
from recforge.data.sampling import NegativeSampler
from recforge.data.sources.movielens import read_movies_dat
from recforge.data.sources.ncf import ncf_movie_ids
from recforge.data.split import Split, leave_one_out, ratio_split, temporal_split
from recforge.data.tables import Tables

logger = logging.getLogger(__name__)

SplitName = Literal[
    "leave_one_out_time", "leave_one_out_random", "ratio_random", "ratio_time", "temporal", "ncf"
]


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from and how it is split.

    Args:
        dataset: ``"synthetic"`` (the embedded shop), ``"ncf-ml-1m"`` (the NCF paper's files),
            a catalogue name such as ``"ml-100k"``, or ``"table"`` (a generic file at ``path``).
        path: file for ``dataset = "table"``; optional folder override for catalogue names.
        columns: canonical name -> file column for ``"table"``.
        implicit_threshold: keep interactions with value >= this (None keeps all).
        events: keep only these event types (None keeps all).
        min_user_interactions: k-core threshold for users (0 disables filtering).
        min_item_interactions: k-core threshold for items (0 disables filtering).
        split: how to split; ``"ncf"`` uses the NCF test files and carves one random
            validation item per user from the training file.
        ratios: train/valid/test shares for ratio and temporal splits.
        eval_negatives: negatives per test/validation user for the sampled protocol.
        seed: seeds random splits and sampled evaluation negatives.
        synthetic: overrides of ``ShopConfig`` fields for ``dataset = "synthetic"``.
        knowledge_graph: a catalogue dataset holding a knowledge graph over this dataset's
            items (``"ml-100k-kg"`` for ``ml-100k``, ``"kgcn-lastfm-music"``), indexed
            against the items as ``Prepared.knowledge_graph`` (for KGCN).
    """

    dataset: str = "synthetic"
    path: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    implicit_threshold: float | None = None
    events: tuple[str, ...] | None = None
    min_user_interactions: int = 0
    min_item_interactions: int = 0
    split: SplitName = "leave_one_out_time"
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    eval_negatives: int = 99
    seed: int = 0
    synthetic: dict[str, Any] = field(default_factory=dict)
    knowledge_graph: str | None = None


@dataclass
class Prepared:
    """Model-ready data: binary users x items matrices and what evaluation needs."""

    name: str
    train: sp.csr_matrix
    valid: sp.csr_matrix
    test: sp.csr_matrix
    user_vocab: IdVocab
    item_vocab: IdVocab
    items: pd.DataFrame | None = None  # metadata, row i = item_idx i
    users: pd.DataFrame | None = None
    valid_negatives: np.ndarray | None = None  # (U_valid, N) for users with a valid item
    test_negatives: np.ndarray | None = None  # (U_test, N) for users with a test item
    #: training histories in time order (None for data without a per-user order)
    train_sequences: Sequences | None = None
    #: training plus validation histories in time order: what a model reads when it ranks
    #: the test items (the SASRec protocol feeds the validation item)
    test_input_sequences: Sequences | None = None
    #: item knowledge graph (``DataConfig.knowledge_graph``), entities indexed for these items
    knowledge_graph: KnowledgeGraph | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        return int(self.train.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.train.shape[1])

    def held_out_pairs(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """(user_idx, item_idx) of the first held-out item of each user of ``valid``/``test``
        (the leave-one-out item for sampled evaluation)."""
        matrix = self.valid if which == "valid" else self.test
        counts = np.diff(matrix.indptr)
        users = np.flatnonzero(counts > 0)
        return users.astype(np.int64), matrix.indices[matrix.indptr[users]].astype(np.int64)


def load_tables(config: DataConfig) -> Tables:
    """Read the raw tables named by ``config``."""
    if config.dataset == "synthetic":
        from recforge.data.synthetic import ShopConfig, generate_shop

        shop_config = from_dict(ShopConfig, config.synthetic, prefix="data.synthetic")
        return generate_shop(shop_config, seed=config.seed).tables
    if config.dataset == "table":
        from recforge.data.sources.generic import read_table

        if config.path is None:
            raise ConfigError("data.path", "dataset = 'table' needs a path")
        return read_table(config.path, config.columns)
    return load_dataset(config.dataset, root=config.path)


def prepare(config: DataConfig) -> Prepared:
    """Read, clean, index and split the data described by ``config``."""
    if config.split == "ncf" or config.dataset.startswith("ncf-"):
        prepared = _prepare_ncf(config)
    else:
        prepared = prepare_tables(load_tables(config), config)
    if config.knowledge_graph:
        prepared.knowledge_graph = _knowledge_graph(config.knowledge_graph, prepared.item_vocab)
    return prepared


def _knowledge_graph(name: str, item_vocab: IdVocab) -> KnowledgeGraph:
    """The knowledge graph of catalogue dataset ``name`` indexed against ``item_vocab``."""
    from recforge.data.sources.knowledge import build_knowledge_graph, read_recbole_kg

    if name == "ml-100k-kg":
        return build_knowledge_graph(read_recbole_kg(dataset_folder(name)), item_vocab.ids_)
    files = load_dataset(name).extras.get("knowledge")
    if files is None:
        raise ConfigError("data.knowledge_graph", f"dataset {name!r} has no knowledge graph")
    return build_knowledge_graph(files, item_vocab.ids_)


def prepare_tables(tables: Tables, config: DataConfig) -> Prepared:
    """Clean, index and split tables already in memory (``config.dataset`` is ignored):
    how ``recforge retrain`` prepares the events exported from the event store."""
    frame = to_implicit(
        tables.interactions, threshold=config.implicit_threshold, events=config.events
    )
    frame = deduplicate(frame)
    if config.min_user_interactions or config.min_item_interactions:
        frame = k_core(
            frame,
            min_user=config.min_user_interactions,
            min_item=config.min_item_interactions,
        )
    indexed = index_interactions(frame)
    rng = np.random.default_rng(config.seed)
    split = _split(indexed, config, rng)
    prepared = _assemble(tables.name, indexed, split, config, rng)
    prepared.items = _align(tables.items, "item_id", indexed.item_vocab)
    prepared.users = _align(tables.users, "user_id", indexed.user_vocab)
    return prepared


def _split(indexed: Indexed, config: DataConfig, rng: np.random.Generator) -> Split:
    frame = indexed.frame
    if config.split == "leave_one_out_time":
        return leave_one_out(frame, by="time")
    if config.split == "leave_one_out_random":
        return leave_one_out(frame, by="random", rng=rng)
    if config.split == "ratio_random":
        return ratio_split(frame, config.ratios, by="random", rng=rng)
    if config.split == "ratio_time":
        return ratio_split(frame, config.ratios, by="time")
    return temporal_split(frame, config.ratios)


def _assemble(
    name: str, indexed: Indexed, split: Split, config: DataConfig, rng: np.random.Generator
) -> Prepared:
    n_users, n_items = indexed.n_users, indexed.n_items
    train = frame_to_csr(split.train, n_users, n_items)
    valid = frame_to_csr(split.valid, n_users, n_items)
    test = frame_to_csr(split.test, n_users, n_items)
    prepared = Prepared(name, train, valid, test, indexed.user_vocab, indexed.item_vocab)
    prepared.train_sequences = _sequences(split.train, n_users)
    prepared.test_input_sequences = _sequences(pd.concat([split.train, split.valid]), n_users)
    if config.eval_negatives:
        everything = (train + valid + test).tocsr()
        prepared.valid_negatives = _eval_negatives(prepared, "valid", everything, config, rng)
        prepared.test_negatives = _eval_negatives(prepared, "test", everything, config, rng)
    return prepared


def _sequences(frame: pd.DataFrame, n_users: int) -> Sequences:
    """Training histories oldest first (ties and missing timestamps keep row order)."""
    users = frame["user_idx"].to_numpy(np.int64)
    if "timestamp" in frame.columns and not frame["timestamp"].isna().any():
        order = np.lexsort((frame["timestamp"].to_numpy(np.int64), users))  # user, then time
    else:
        order = np.argsort(users, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(users, minlength=n_users))])
    return Sequences(indptr.astype(np.int64), frame["item_idx"].to_numpy(np.int64)[order])


def _eval_negatives(
    prepared: Prepared,
    which: str,
    seen: sp.csr_matrix,
    config: DataConfig,
    rng: np.random.Generator,
) -> np.ndarray:
    users, _ = prepared.held_out_pairs(which)
    n_unseen = prepared.n_items - np.diff(seen.indptr)[users]
    if len(users) and n_unseen.min() < config.eval_negatives:
        logger.warning(
            "some users have fewer unseen items than eval_negatives; sampling may repeat"
        )
    sampler = NegativeSampler(seen)
    return sampler.sample(users, config.eval_negatives, rng)


def _align(meta: pd.DataFrame | None, key: str, vocab: IdVocab) -> pd.DataFrame | None:
    """Metadata rows reordered so that row i describes index i (missing rows stay NaN)."""
    if meta is None or key not in meta.columns:
        return None
    table = meta.drop_duplicates(key).set_index(key)
    return table.reindex(pd.Index(vocab.ids_)).reset_index(names=key)


def _prepare_ncf(config: DataConfig) -> Prepared:
    """The NCF benchmark: training file, test item and its 99 negatives per user (He et al.
    2017). Validation = one random training item per user with 99 negatives sampled from
    items the user never rated in training or test, so model selection never sees the test
    file's items."""
    name = config.dataset.removeprefix("ncf-") if config.dataset.startswith("ncf-") else "ml-1m"
    ncf = load_ncf(name, root=config.path)
    n_users, n_items = ncf.n_users, ncf.n_items
    user_vocab = IdVocab(kind="user").fit(np.arange(n_users))
    item_vocab = IdVocab(kind="item").fit(np.arange(n_items))
    full_train = ncf.train.assign(
        user_idx=ncf.train["user_id"].to_numpy(np.int64),
        item_idx=ncf.train["item_id"].to_numpy(np.int64),
    )
    rng = np.random.default_rng(config.seed)
    split = leave_one_out(full_train, by="random", valid=False, rng=rng)
    train = frame_to_csr(split.train, n_users, n_items)
    valid = frame_to_csr(split.test, n_users, n_items)
    test_users = ncf.test["user_id"].to_numpy(np.int64)
    test_items = ncf.test["item_id"].to_numpy(np.int64)
    order = np.argsort(test_users, kind="stable")
    test = sp.csr_matrix(
        (np.ones(len(test_users), np.float32), (test_users, test_items)), shape=(n_users, n_items)
    )
    prepared = Prepared(f"ncf-{name}", train, valid, test, user_vocab, item_vocab)
    prepared.test_negatives = ncf.test_negatives[order]
    seen = (train + valid + test).tocsr()
    if config.eval_negatives:
        prepared.valid_negatives = _eval_negatives(prepared, "valid", seen, config, rng)
    prepared.extras["full_train"] = frame_to_csr(full_train, n_users, n_items)
    prepared.items = _ncf_titles(dataset_folder(f"ncf-{name}", config.path), n_items)
    return prepared


def _ncf_titles(folder: Path, n_items: int) -> pd.DataFrame | None:
    """Movie metadata per NCF item where the id map and ``movies.dat`` are at hand (the
    project's ML-1M copy); the NCF files themselves carry no titles."""
    movies_path = folder.parent / "movies.dat"
    try:
        movie_ids = ncf_movie_ids(folder)
    except DatasetNotFoundError:
        return None
    if len(movie_ids) != n_items or not movies_path.is_file():
        return None
    movies = read_movies_dat(movies_path).set_index("item_id")
    return (
        movies.reindex(movie_ids).reset_index(names="movie_id").assign(item_id=np.arange(n_items))
    )
