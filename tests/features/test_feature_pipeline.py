"""The feature pipeline end to end on a hand-made shop, save/load, serving requests, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from recforge.core.batches import FeatureBatch
from recforge.core.errors import ConfigError
from recforge.features.fields import FeatureSchema
from recforge.features.pipeline import FeaturePipeline

ITEMS = pd.DataFrame(
    {
        "item_id": [10, 11, 12, 13],
        "category": ["shoe", "shoe", "hat", None],
        "genres": [["a", "b"], ["b"], ["c", "a", "b"], []],
    }
)
USERS = pd.DataFrame({"user_id": [1, 2, 3], "gender": ["f", "m", "f"], "age": [20.0, 30.0, None]})
TRAIN = pd.DataFrame(
    {
        "user_id": [1, 1, 2, 2],
        "item_id": [10, 11, 10, 12],
        "timestamp": [1, 2, 3, 4],
        "label": [1, 0, 1, 1],
        "device": ["ios", "web", "ios", "ios"],
    }
)
EVENTS = pd.DataFrame(
    {
        "user_id": [1, 1, 1, 2, 2, 9, 8],
        "item_id": [10, 11, 13, 10, 12, 11, 12],
        "timestamp": [1.0, 2.0, 0.5, 3.0, 4.0, 0.0, 0.0],
    }
)
TEST = pd.DataFrame(
    {
        "user_id": [1, 2, 9, 3],
        "item_id": [12, 10, 99, 13],
        "timestamp": [5, 4, 10, 1],
        "device": ["android", None, "web", "ios"],
    }
)


def make_pipeline(**overrides: object) -> FeaturePipeline:
    params: dict[str, object] = {
        "sparse": ("user_id", "item_id", "category", "gender", "device"),
        "multi": {"genres": 3},
        "dense": ("age",),
        "history": ("item_id", "category"),
        "history_length": 2,
    }
    params.update(overrides)
    return FeaturePipeline(**params).fit(TRAIN, users=USERS, items=ITEMS)  # type: ignore[arg-type]


def assert_same(left: FeatureBatch, right: FeatureBatch) -> None:
    for name in ("sparse", "dense", "label", "group", "history_length"):
        assert torch.equal(getattr(left, name), getattr(right, name)), name
    for name in ("multi", "history", "history_negative"):
        a, b = getattr(left, name), getattr(right, name)
        assert a.keys() == b.keys(), name
        for key in a:
            assert torch.equal(a[key], b[key]), f"{name}[{key}]"


def test_schema_sizes_come_from_the_fitted_vocabularies() -> None:
    schema = make_pipeline().schema
    sizes = {field.name: (field.kind, field.size, field.max_len) for field in schema.fields}
    assert sizes == {
        "user_id": ("sparse", 4, 0),
        "item_id": ("sparse", 5, 0),
        "category": ("sparse", 4, 0),
        "gender": ("sparse", 4, 0),
        "device": ("sparse", 4, 0),
        "genres": ("multi", 5, 3),
        "age": ("dense", 1, 0),
    }
    assert schema.history == ("item_id", "category") and schema.history_length == 2
    assert FeatureSchema.from_dict(schema.to_dict()) == schema


def test_end_to_end_indices_on_a_hand_made_shop() -> None:
    pipeline = make_pipeline()
    assert pipeline.sources_ == {
        "user_id": "row",
        "item_id": "row",
        "category": "item",
        "gender": "user",
        "device": "row",
        "genres": "item",
        "age": "user",
    }
    batch = pipeline.transform(TEST, events=EVENTS)
    # users 1 -> 2, 2 -> 3 (tie broken by value); items 10 -> 2, 11 -> 3, 12 -> 4;
    # category shoe 2, hat 3; gender f 2, m 3; device ios 2, web 3; genres b 2, a 3, c 4
    assert batch.sparse.tolist() == [
        [2, 4, 3, 2, 1],  # unseen device -> 1
        [3, 2, 2, 3, 0],  # missing device -> 0
        [1, 1, 0, 0, 3],  # unknown user and item, in no attribute table -> 0
        [1, 1, 0, 2, 2],  # user 3 and item 13: in the tables, not in training rows
    ]
    assert batch.multi["genres"].tolist() == [[4, 3, 2], [3, 2, 0], [0, 0, 0], [0, 0, 0]]
    # age: train rows see 20, 20, 30, 30 -> mean 25, std 5; missing -> 0
    np.testing.assert_allclose(batch.dense.numpy(), [[-1.0], [1.0], [0.0], [0.0]])
    assert batch.dense.dtype == torch.float32
    assert batch.group.tolist() == [2, 3, 1, 1]
    assert batch.label.tolist() == [0.0, 0.0, 0.0, 0.0]
    # user 1 before 5: 13@0.5, 10@1, 11@2 -> the last two; user 2 before 4: only 10@3
    # (12@4 is at the row's time); user 9 (unknown) sees its own 11@0, not user 8's event
    assert batch.history["item_id"].tolist() == [[2, 3], [2, 0], [3, 0], [0, 0]]
    assert batch.history["category"].tolist() == [[2, 2], [2, 0], [2, 0], [0, 0]]
    assert batch.history_length is not None
    assert batch.history_length.tolist() == [2, 1, 1, 0]
    assert batch.history_negative == {}
    for tensor in (batch.sparse, batch.group, *batch.multi.values(), *batch.history.values()):
        assert tensor.dtype == torch.int64


def test_labels_are_read_and_training_rows_never_see_themselves() -> None:
    pipeline = make_pipeline()
    batch = pipeline.transform(TRAIN, events=EVENTS)
    assert batch.label.tolist() == [1.0, 0.0, 1.0, 1.0]
    # each row's own event (same user, item and time) is in EVENTS but not in its history
    assert batch.history["item_id"].tolist() == [[1, 0], [1, 2], [0, 0], [2, 0]]


def test_history_negatives_differ_and_follow_the_item_table() -> None:
    pipeline = make_pipeline(history_negatives=True)
    many = pd.concat([TEST] * 50, ignore_index=True)
    batch = pipeline.transform(many, events=EVENTS, rng=np.random.default_rng(3))
    real = batch.history["item_id"] > 0
    negative = batch.history_negative["item_id"]
    assert (negative[~real] == 0).all() and (batch.history_negative["category"][~real] == 0).all()
    assert (negative[real] != batch.history["item_id"][real]).all()
    assert set(negative[real].tolist()) == {2, 3, 4}
    by_index = torch.from_numpy(pipeline.item_attributes("category"))
    assert by_index.tolist() == [0, 0, 2, 2, 3]
    assert torch.equal(batch.history_negative["category"], by_index[negative])
    again = pipeline.transform(many, events=EVENTS, rng=np.random.default_rng(3))
    assert_same(batch, again)


def test_save_and_load_give_identical_batches(tmp_path: Path) -> None:
    pipeline = make_pipeline(history_negatives=True)
    pipeline.save(tmp_path / "features")
    assert sorted(p.name for p in (tmp_path / "features").iterdir()) == [
        "pipeline.json",
        "tables.npz",
    ]
    loaded = FeaturePipeline.load(tmp_path / "features")
    assert loaded.schema == pipeline.schema
    for frame in (TEST, TRAIN):
        assert_same(
            pipeline.transform(frame, events=EVENTS, rng=np.random.default_rng(0)),
            loaded.transform(frame, events=EVENTS, rng=np.random.default_rng(0)),
        )
    state = json.loads((tmp_path / "features" / "pipeline.json").read_text())
    state["format_version"] = 99
    (tmp_path / "features" / "pipeline.json").write_text(json.dumps(state))
    with pytest.raises(ValueError, match="format_version 99 is not supported"):
        FeaturePipeline.load(tmp_path / "features")


def test_string_ids_and_a_pipeline_without_history_or_tables(tmp_path: Path) -> None:
    rows = pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["i1", "i1"], "hour": [3, 4]})
    pipeline = FeaturePipeline(sparse=("user_id", "item_id", "hour")).fit(rows)
    batch = pipeline.transform(
        pd.DataFrame({"user_id": ["u2", "u3"], "item_id": ["i1", "i1"], "hour": [4, 5]})
    )
    assert batch.sparse.tolist() == [[3, 2, 3], [1, 2, 1]]
    assert batch.dense.shape == (2, 0) and batch.history == {} and batch.history_length is None
    pipeline.save(tmp_path)
    again = FeaturePipeline.load(tmp_path).transform_request(
        "u2", ["i1", "i9"], context={"hour": 4}
    )
    assert again.sparse.tolist() == [[3, 2, 3], [3, 1, 3]]


def test_transform_request_equals_transform_of_the_same_rows() -> None:
    pipeline = make_pipeline(history_negatives=True)
    request = pipeline.transform_request(
        1, [10, 12, 99], recent_item_ids=[11, 13, 10], timestamp=100, context={"device": "ios"}
    )
    rows = pd.DataFrame({"user_id": 1, "item_id": [10, 12, 99], "timestamp": 100, "device": "ios"})
    events = pd.DataFrame({"user_id": 1, "item_id": [11, 13, 10], "timestamp": [97, 98, 99]})
    assert_same(request, pipeline.transform(rows, events=events))
    # the most recent history_length (2) kept: 13 (unknown item, missing category), 10
    assert request.history["item_id"].tolist() == [[1, 2]] * 3
    assert request.history["category"].tolist() == [[0, 2]] * 3
    assert request.sparse[:, 1].tolist() == [2, 4, 1]  # unseen candidate -> 1


def test_transform_request_with_user_attributes_and_no_history() -> None:
    pipeline = make_pipeline()
    batch = pipeline.transform_request(7, [11], user={"gender": "m"})
    assert batch.sparse.tolist() == [[1, 3, 2, 3, 0]]  # age not given: missing -> mean
    assert batch.dense.tolist() == [[0.0]] and batch.history_length.tolist() == [0]  # type: ignore[union-attr]
    known = pipeline.transform_request(2, [11, 10], recent_item_ids=[12])
    assert known.sparse[:, 3].tolist() == [3, 3] and known.dense[:, 0].tolist() == [1.0, 1.0]
    assert len(pipeline.transform_request(1, [])) == 0


def test_new_catalogue_at_transform_time() -> None:
    pipeline = make_pipeline()
    catalogue = pd.DataFrame(
        {"item_id": [10, 13, 14], "category": ["hat", "hat", "sock"], "genres": [["c"], [], ["z"]]}
    )
    rows = pd.DataFrame({"user_id": [1, 1, 1, 1], "item_id": [10, 13, 14, 12], "timestamp": 9})
    rows["device"] = "ios"
    events = pd.DataFrame({"user_id": [1], "item_id": [14], "timestamp": [1]})
    batch = pipeline.transform(rows, events=events, items=catalogue)
    assert batch.sparse[:, 2].tolist() == [3, 3, 1, 0]  # sock unseen -> 1; 12 gone -> 0
    assert batch.multi["genres"][:, 0].tolist() == [4, 0, 1, 0]
    assert batch.history["category"].tolist() == [[1, 0]] * 4


def test_bad_input_names_the_column_and_row() -> None:
    pipeline = make_pipeline()
    with pytest.raises(ValueError, match=r"rows: missing column\(s\) \['item_id'\]"):
        pipeline.transform(TEST.drop(columns="item_id"), events=EVENTS)
    with pytest.raises(ValueError, match=r"rows: missing column\(s\) \['timestamp'\]"):
        pipeline.transform(TEST.drop(columns="timestamp"), events=EVENTS)
    with pytest.raises(ValueError, match="need events"):
        pipeline.transform(TEST)
    with pytest.raises(ValueError, match=r"column 'label': row position 1: nan"):
        pipeline.transform(TRAIN.assign(label=[1.0, np.nan, 0.0, 1.0]), events=EVENTS)
    with pytest.raises(ValueError, match=r"column 'label': row position 2: 2.0 not 0/1"):
        pipeline.transform(TRAIN.assign(label=[1, 0, 2, 1]), events=EVENTS)
    with pytest.raises(ValueError, match="column 'label' must be numeric"):
        pipeline.transform(TRAIN.assign(label=["yes", "no", "no", "no"]), events=EVENTS)
    with pytest.raises(ValueError, match=r"events: column 'timestamp': row position 1: nan"):
        pipeline.transform(TEST, events=EVENTS.assign(timestamp=[1.0, np.nan] + [0.0] * 5))
    with pytest.raises(ValueError, match=r"events: missing column\(s\) \['timestamp'\]"):
        pipeline.transform(TEST, events=EVENTS.drop(columns="timestamp"))
    with pytest.raises(ValueError, match=r"column 'age': row position 1: 'old'"):
        pipeline.transform(TEST, events=EVENTS, users=USERS.assign(age=[1, "old", 3]))
    with pytest.raises(ValueError, match=r"items: column 'item_id': row position 2: id repeats"):
        make_pipeline().fit(TRAIN, users=USERS, items=ITEMS.iloc[[0, 1, 1]])
    with pytest.raises(ValueError, match="not fitted"):
        FeaturePipeline().transform(TRAIN)


def test_bad_parameters_and_field_sources() -> None:
    with pytest.raises(ValueError, match="field 'brand' is in none of rows, users and items"):
        make_pipeline(sparse=("user_id", "item_id", "brand"), history=())
    with pytest.raises(ValueError, match="history field 'device' must be a column of items"):
        make_pipeline(history=("item_id", "device"))
    with pytest.raises(ValueError, match="'gender' is in several of"):
        FeaturePipeline(sparse=("user_id", "item_id", "gender")).fit(
            TRAIN.assign(gender="f"), users=USERS
        )
    with pytest.raises(ConfigError, match="must include the id field 'item_id'"):
        FeaturePipeline(sparse=("user_id",)).fit(TRAIN)
    with pytest.raises(ConfigError, match=r"'history'.*'genres' is not a sparse field"):
        make_pipeline(history=("genres",))
    with pytest.raises(ConfigError, match="needs 'item_id' in history"):
        make_pipeline(history=("category",), history_negatives=True)
    with pytest.raises(ConfigError, match=r"multi\.genres"):
        make_pipeline(multi={"genres": 0})
