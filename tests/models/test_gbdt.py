"""GBDT rankers: the tabular features, both libraries x both objectives on a planted signal
that only the history aggregates reveal, save/load, determinism, groups, bad input."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from recforge.core.batches import FeatureBatch
from recforge.core.errors import ConfigError
from recforge.evaluation.metrics import auc
from recforge.features.fields import FeatureSchema, Field
from recforge.models.checkpoint import CheckpointError
from recforge.models.gbdt import GBDTConfig, GBDTRanker
from recforge.models.gbdt_features import (
    frequent_ids,
    gbdt_features,
    gbdt_table,
    one_hot_matrix,
)

N_USERS, N_ITEMS, N_CATEGORIES, LENGTH = 100, 200, 8, 6
SCHEMA = FeatureSchema(
    fields=(
        Field("user_id", "sparse", N_USERS + 2),
        Field("item_id", "sparse", N_ITEMS + 2),
        Field("category", "sparse", N_CATEGORIES + 2),
        Field("gender", "sparse", 4),
        Field("age", "dense", 1),
        Field("genres", "multi", 7, max_len=3),
    ),
    history=("item_id", "category"),
    history_length=LENGTH,
)
FAST = {"n_estimators": 150, "learning_rate": 0.1, "num_leaves": 8, "early_stopping_rounds": 20}


def planted(n_rows: int, seed: int, noise: float = 0.05) -> FeatureBatch:
    """Rows whose label is 1 iff the candidate's category occurs in the history (flipped
    with probability ``noise``), in random user order; the other fields are noise."""
    rng = np.random.default_rng(seed)
    item_category = np.random.default_rng(99).integers(2, N_CATEGORIES + 2, N_ITEMS + 2)
    user = rng.integers(2, N_USERS + 2, n_rows)
    item = rng.integers(2, N_ITEMS + 2, n_rows)
    length = rng.integers(0, LENGTH + 1, n_rows)
    history_item = rng.integers(2, N_ITEMS + 2, (n_rows, LENGTH))
    history_item[np.arange(LENGTH)[None, :] >= length[:, None]] = 0  # right padding
    history_category = np.where(history_item > 0, item_category[history_item], 0)
    seen = (history_category == item_category[item][:, None]).any(axis=1)
    label = seen ^ (rng.random(n_rows) < noise)
    genres = rng.integers(0, 7, (n_rows, 3))
    sparse = np.stack([user, item, item_category[item], rng.integers(0, 4, n_rows)], axis=1)
    return FeatureBatch(
        sparse=torch.from_numpy(sparse),
        dense=torch.from_numpy(rng.normal(size=(n_rows, 1)).astype(np.float32)),
        label=torch.from_numpy(label.astype(np.float32)),
        group=torch.from_numpy(user),
        multi={"genres": torch.from_numpy(genres)},
        history={"item_id": torch.from_numpy(history_item),
                 "category": torch.from_numpy(history_category)},
        history_length=torch.from_numpy(length),
    )  # fmt: skip


TRAIN, VALID, TEST = planted(3000, 0), planted(600, 1), planted(1000, 2)


def fitted(**changes: object) -> GBDTRanker:
    config = GBDTConfig(**{**FAST, **changes})  # type: ignore[arg-type]
    return GBDTRanker(config).fit(TRAIN, VALID, SCHEMA)


def test_features_hand_checked() -> None:
    schema = FeatureSchema(
        fields=(Field("user_id", "sparse", 5), Field("item_id", "sparse", 6),
                Field("category", "sparse", 5), Field("price", "dense", 2),
                Field("tags", "multi", 40, max_len=3)),
        history=("category",), history_length=4)  # fmt: skip
    batch = FeatureBatch(
        sparse=torch.tensor([[2, 3, 2], [3, 4, 3], [4, 0, 1], [2, 5, 4]]),
        dense=torch.tensor([[1.0, 2.0]] * 4),
        label=torch.zeros(4),
        group=torch.tensor([0, 1, 2, 0]),
        multi={"tags": torch.tensor([[5, 7, 0], [0, 0, 0], [9, 0, 0], [1, 2, 3]])},
        history={"category": torch.tensor([[3, 2, 3, 0], [2, 0, 0, 0], [1, 1, 0, 0], [0] * 4])},
        history_length=torch.tensor([3, 1, 2, 0]),
    )
    frame = gbdt_features(batch, schema, id_fields_as="numeric", multi_values=2)
    assert list(frame.columns) == [
        "user_id", "item_id", "category", "price_0", "price_1", "tags_count", "tags_0",
        "tags_1", "history_length", "history_category_matches", "history_category_match_rate",
        "last_category_match", "history_category_since_match", "last_category",
    ]  # fmt: skip
    assert frame["item_id"].tolist()[:2] == [3.0, 4.0] and np.isnan(frame["item_id"][2])
    assert str(frame["category"].dtype) == "category"
    assert frame["category"].cat.codes.tolist() == [2, 3, 1, 4]  # 1 (unknown) is a value
    assert frame["tags_count"].tolist() == [2, 0, 1, 3]
    assert frame["tags_1"].cat.codes.tolist() == [7, -1, -1, 2]  # 0 (padding) is missing
    narrow = dataclasses.replace(batch, multi={"tags": batch.multi["tags"][:, :1]})  # M = 1
    assert list(gbdt_features(narrow, schema, id_fields_as="numeric").columns) == list(frame)
    nan = float("nan")
    expected = {  # candidate category 2, 3, unknown, 4 against the histories
        "history_category_matches": [1, 0, nan, 0],
        "history_category_match_rate": [1 / 3, 0, nan, nan],
        "last_category_match": [0, 0, nan, nan],
        "history_category_since_match": [1, nan, nan, nan],
    }
    for name, values in expected.items():
        np.testing.assert_allclose(frame[name].to_numpy(), values, err_msg=name)
    assert frame["last_category"].cat.codes.tolist() == [3, 2, 1, -1]
    dropped = gbdt_features(batch, schema, id_fields_as="drop")
    assert "user_id" not in dropped and "item_id" not in dropped and "category" in dropped
    assert str(gbdt_features(batch, schema)["user_id"].dtype) == "category"


def test_small_multi_field_is_one_hot() -> None:
    frame = gbdt_features(TRAIN.rows(torch.arange(3)), SCHEMA)
    one_hot = frame[[f"genres_has_{v}" for v in range(1, 7)]].to_numpy()
    expected = np.zeros((3, 7))
    np.put_along_axis(expected, TRAIN.multi["genres"][:3].numpy(), 1.0, axis=1)
    np.testing.assert_array_equal(one_hot, expected[:, 1:])
    assert "last_item_id" in frame and "history_item_id_matches" in frame


def test_one_hot_matrix_columns_by_hand() -> None:
    batch = planted(50, seed=3)
    matrix = one_hot_matrix(batch, SCHEMA)
    sizes = [N_USERS + 2, N_ITEMS + 2, N_CATEGORIES + 2, 4]
    assert matrix.shape == (50, sum(sizes) + 7 + 1)
    starts = np.cumsum([0, *sizes])
    dense = matrix.toarray()
    for column in range(4):
        block = dense[:, starts[column] : starts[column + 1]]
        np.testing.assert_array_equal(block.argmax(axis=1), batch.sparse[:, column].numpy())
        np.testing.assert_array_equal(block.sum(axis=1), 1.0)
    genres = dense[:, starts[4] : starts[4] + 7]
    present = batch.multi["genres"].numpy() > 0
    assert genres[:, 0].sum() == 0  # padding is no feature
    np.testing.assert_allclose(genres.sum(axis=1), present.any(axis=1).astype(float))
    for values, got in zip(batch.multi["genres"].numpy(), genres, strict=True):
        kept = values[values > 0]
        expected = np.bincount(kept, minlength=7) / max(len(kept), 1)
        np.testing.assert_allclose(got, expected)  # repeats add up, each value 1 / count
    np.testing.assert_allclose(dense[:, -1], batch.dense[:, 0].numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="genres"):
        one_hot_matrix(dataclasses.replace(batch, multi={}), SCHEMA)


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
@pytest.mark.parametrize("objective", ["binary", "lambdarank"])
def test_learns_the_history_signal(library: str, objective: str) -> None:
    ranker = fitted(library=library, objective=objective)
    scores = ranker.predict_logits(TEST)
    assert scores.shape == (len(TEST),) and scores.dtype == np.float64
    assert auc(TEST.label.numpy(), scores) > 0.85
    assert 1 <= ranker.n_trees_ <= FAST["n_estimators"]
    assert ranker.best_score_ is not None and ranker.best_score_ > 0.5
    importances = ranker.feature_importances()
    top = max(importances, key=importances.__getitem__)
    assert top.startswith(("history_category", "last_category_match")), top


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_early_stopping_keeps_the_best_round(library: str) -> None:
    ranker = fitted(library=library, n_estimators=400, learning_rate=0.3, early_stopping_rounds=5)
    assert ranker.n_trees_ < 400
    if library == "lightgbm":
        assert ranker.booster_.current_iteration() == ranker.n_trees_
    else:
        assert ranker.booster_.num_boosted_rounds() == ranker.n_trees_


def test_frequent_ids_bound_the_id_categories() -> None:
    batch = TRAIN.rows(torch.arange(8))
    users = batch.sparse[:, 0].clone()
    users[:] = torch.tensor([5, 3, 5, 0, 3, 5, 1, 9])  # 5 thrice, 3 twice, 9 once
    batch = dataclasses.replace(batch, sparse=torch.cat([users[:, None], batch.sparse[:, 1:]], 1))
    kept = frequent_ids(batch, SCHEMA, limit=2)
    assert kept["user_id"].tolist() == [5, 3]  # missing (0) and unknown (1) are not ids
    assert len(kept["item_id"]) == 2
    frame = gbdt_features(batch, SCHEMA, id_categories={"user_id": kept["user_id"]})
    assert frame["user_id"].cat.codes.tolist() == [2, 3, 2, -1, 3, 2, 1, 1]  # 9 -> unknown
    assert len(frame["user_id"].cat.categories) == 4
    assert len(frame["item_id"].cat.categories) == N_ITEMS + 2  # not given: all kept


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
@pytest.mark.parametrize(("id_fields_as", "cap"), [("categorical", 30), ("numeric", 0)])
def test_save_load_gives_identical_scores(
    tmp_path, library: str, id_fields_as: str, cap: int
) -> None:
    ranker = fitted(
        library=library, id_fields_as=id_fields_as, max_id_categories=cap, n_estimators=40
    )
    assert {k: len(v) for k, v in ranker.id_categories_.items()} == (
        {"user_id": 30, "item_id": 30} if cap else {}
    )
    ranker.save(tmp_path)
    assert "pickle" not in " ".join(p.name for p in tmp_path.iterdir())
    loaded = GBDTRanker.load(tmp_path)
    assert loaded.config == ranker.config and loaded.schema_ == SCHEMA
    assert {k: v.tolist() for k, v in loaded.id_categories_.items()} == {
        k: v.tolist() for k, v in ranker.id_categories_.items()
    }
    assert loaded.columns_ == ranker.columns_ and loaded.n_trees_ == ranker.n_trees_
    np.testing.assert_array_equal(loaded.predict_logits(TEST), ranker.predict_logits(TEST))


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_deterministic_under_a_seed(library: str) -> None:
    sampled = {"library": library, "subsample": 0.7, "colsample": 0.7, "n_estimators": 30}
    first = fitted(**sampled, seed=3).predict_logits(TEST)
    np.testing.assert_array_equal(first, fitted(**sampled, seed=3).predict_logits(TEST))
    assert not np.array_equal(first, fitted(**sampled, seed=4).predict_logits(TEST))


def interleaved(batch: FeatureBatch) -> tuple[FeatureBatch, FeatureBatch]:
    """``batch`` sorted by group, and the same rows with the groups interleaved (each
    group's rows keep their relative order)."""
    grouped = batch.rows(torch.from_numpy(np.argsort(batch.group.numpy(), kind="stable")))
    group = grouped.group.numpy()
    starts = np.searchsorted(group, group)  # first row of each row's group
    rank_in_group = np.arange(len(group)) - starts
    return grouped, grouped.rows(torch.from_numpy(np.lexsort((group, rank_in_group))))


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_lambdarank_sorts_unsorted_groups(library: str) -> None:
    grouped, mixed = interleaved(TRAIN)
    assert (np.diff(mixed.group.numpy()) != 0).sum() > 1000  # 100 groups, not contiguous
    config = GBDTConfig(**{**FAST, "library": library, "objective": "lambdarank"})  # type: ignore[arg-type]
    on_grouped = GBDTRanker(config).fit(grouped, VALID, SCHEMA).predict_logits(TEST)
    on_mixed = GBDTRanker(config).fit(mixed, VALID, SCHEMA).predict_logits(TEST)
    np.testing.assert_array_equal(on_grouped, on_mixed)
    table = gbdt_table(mixed, SCHEMA, objective="lambdarank", name="train")
    assert table.group_sizes is not None
    np.testing.assert_array_equal(table.group_sizes, np.bincount(mixed.group.numpy())[2:])
    order = np.lexsort((grouped.label.numpy(), grouped.group.numpy()))  # labels up in a group
    np.testing.assert_array_equal(table.label, grouped.label.numpy()[order])
    assert not np.array_equal(order, np.arange(len(order)))


def with_label(batch: FeatureBatch, label: torch.Tensor) -> FeatureBatch:
    return dataclasses.replace(batch, label=label)


def test_bad_config() -> None:
    with pytest.raises(ConfigError, match="library"):
        GBDTConfig(library="catboost")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="objective"):
        GBDTConfig(objective="regression")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="id_fields_as"):
        GBDTConfig(id_fields_as="hashed")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="subsample"):
        GBDTConfig(subsample=0.0)
    with pytest.raises(ConfigError, match="num_leaves"):
        GBDTConfig(num_leaves=1)


def test_bad_batches() -> None:
    ranker = GBDTRanker(GBDTConfig(**FAST))  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="not fitted"):
        ranker.predict_logits(TEST)
    with pytest.raises(ValueError, match="train is empty"):
        ranker.fit(TRAIN.rows(torch.arange(0)), None, SCHEMA)
    nan_label = TRAIN.label.clone()
    nan_label[7] = float("nan")
    with pytest.raises(ValueError, match=r"train: 1 labels are NaN .*row 7"):
        ranker.fit(with_label(TRAIN, nan_label), None, SCHEMA)
    with pytest.raises(ValueError, match=r"valid: labels must be 0 or 1.*row 0 has [23].0"):
        ranker.fit(TRAIN, with_label(VALID, VALID.label + 2), SCHEMA)
    with pytest.raises(ValueError, match="nothing to learn"):
        ranker.fit(with_label(TRAIN, torch.zeros(len(TRAIN))), None, SCHEMA)
    other = FeatureSchema(fields=SCHEMA.fields[:2], history=("item_id",), history_length=LENGTH)
    with pytest.raises(ValueError, match="sparse has 4 columns, the schema has 2"):
        ranker.fit(TRAIN, None, other)
    capped = GBDTRanker(GBDTConfig(max_id_categories=10))
    with pytest.raises(ValueError, match="sparse has 4 columns, the schema has 2"):
        capped.fit(TRAIN, None, other)
    no_history = dataclasses.replace(TRAIN, history={"item_id": TRAIN.history["item_id"]})
    with pytest.raises(ValueError, match=r"train: history fields \['item_id'\] do not match"):
        ranker.fit(no_history, None, SCHEMA)
    too_big = TRAIN.sparse.clone()
    too_big[0, 2] = N_CATEGORIES + 2
    with pytest.raises(ValueError, match="sparse field 'category': indices must lie in"):
        ranker.fit(dataclasses.replace(TRAIN, sparse=too_big), None, SCHEMA)
    fitted_ranker = fitted(n_estimators=5)
    with pytest.raises(ValueError, match="batch: multi-valued fields"):
        fitted_ranker.predict_logits(dataclasses.replace(TEST, multi={}))


def test_bad_saved_model(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        GBDTRanker.load(tmp_path)
    fitted(n_estimators=5).save(tmp_path)
    meta = json.loads((tmp_path / "gbdt.json").read_text())
    (tmp_path / "gbdt.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(CheckpointError, match="format_version 99 is not supported"):
        GBDTRanker.load(tmp_path)
    meta["config"]["num_leavs"] = 3
    (tmp_path / "gbdt.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="num_leavs"):
        GBDTRanker.load(tmp_path)
