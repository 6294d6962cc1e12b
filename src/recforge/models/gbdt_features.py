"""The tabular view of a :class:`~recforge.core.batches.FeatureBatch` that the GBDT rankers
read: one pandas column per feature, categorical fields as ``category`` columns.

Trees cannot read a behaviour sequence the way DIN's attention does, so the history becomes
aggregates of how the candidate relates to it (the "user x item" cross counts that
hand-made CTR features use). The columns, in order:

- every sparse field ``f`` as ``f``: a category whose codes are the field's indices
  (categories ``0..size-1``, fixed by the schema so every batch codes alike); index 0
  (missing) becomes a missing value, index 1 (unknown) stays a category of its own. The
  id fields (``schema.user_field``, ``schema.item_field``) follow ``id_fields_as``:
  ``"categorical"`` as above, or with ``id_categories`` only the ids listed there (the
  most frequent in training, :func:`frequent_ids`) as categories ``2, 3, ..`` in their
  order and every other id as unknown (1); ``"numeric"`` the index as a float
  (0 → NaN); ``"drop"`` no column.
- every dense column as a float: ``f`` (size 1) or ``f_0 .. f_{k-1}``.
- every multi-valued field ``f``: ``f_count`` (how many values it has), and either one
  0/1 column ``f_has_v`` per index ``v ≥ 1`` when the vocabulary is small
  (``size - 1 <= multi_hot_max``, e.g. genres), or else its first ``multi_values``
  values in stored order as categories ``f_0, f_1, ..`` (a tag list with thousands of
  values: one-hot would be thousands of near-empty columns).
- with a behaviour sequence: ``history_length``, then for each history field ``f``
  (compared with the candidate's value of ``f``):
  ``history_f_matches`` (behaviours sharing it), ``history_f_match_rate`` (that over the
  length), ``last_f_match`` (0/1: does the most recent behaviour share it),
  ``history_f_since_match`` (behaviours after the most recent match; 0 = the last one
  matches) and ``last_f`` (the most recent behaviour's value, a category, or as
  ``id_fields_as`` says for the id fields). A comparison with a candidate value that is
  missing or unknown (index ≤ 1) says nothing, so it is NaN; so are the rate, last match
  and distance of an empty history, and the distance when nothing matches.

:func:`one_hot_matrix` is the linear models' view of the same batch: a sparse 0/1 matrix
(logistic regression with one weight per feature value, RecBole's LR baseline).

Everything is computed on whole tensors, no per-row loop.

Dimension letters: B rows, S sparse fields, L history length, M values of a multi field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from torch import Tensor

from recforge.core.batches import FeatureBatch
from recforge.features.fields import UNKNOWN, FeatureSchema, Field

IdFieldsAs = Literal["categorical", "numeric", "drop"]
ID_FIELDS_AS: tuple[IdFieldsAs, ...] = ("categorical", "numeric", "drop")
#: the largest relevance grade LightGBM's default label gain and XGBoost's NDCG accept
MAX_GRADE = 30


def check_batch(batch: FeatureBatch, schema: FeatureSchema, name: str = "batch") -> None:
    """Raise a ``ValueError`` naming the field when ``batch`` was not encoded with
    ``schema``: column counts, multi-valued and history fields, index ranges. Labels are
    not looked at (a batch to score has none)."""
    if len(batch) == 0:
        raise ValueError(f"{name} is empty (0 rows)")
    sparse_names = [field.name for field in schema.sparse]
    if batch.sparse.shape[1] != len(sparse_names):
        raise ValueError(
            f"{name}: sparse has {batch.sparse.shape[1]} columns, the schema has "
            f"{len(sparse_names)} sparse fields {sparse_names}"
        )
    if batch.dense.dim() != 2 or batch.dense.shape[1] != schema.n_dense:
        raise ValueError(
            f"{name}: dense has shape {tuple(batch.dense.shape)}, the schema has "
            f"{schema.n_dense} dense columns {[field.name for field in schema.dense]}"
        )
    for column, field in enumerate(schema.sparse):
        _check_indices(batch.sparse[:, column], field, f"{name}: sparse field {field.name!r}")
    multi_names = {field.name for field in schema.multi}
    if set(batch.multi) != multi_names:
        raise ValueError(
            f"{name}: multi-valued fields {sorted(batch.multi)} do not match the schema's "
            f"{sorted(multi_names)}"
        )
    for field in schema.multi:
        values = batch.multi[field.name]  # (B, M)
        if values.dim() != 2 or values.shape[1] > field.max_len:
            raise ValueError(
                f"{name}: multi field {field.name!r} has shape {tuple(values.shape)}, "
                f"expected (B, M) with M <= max_len {field.max_len}"
            )
        _check_indices(values, field, f"{name}: multi field {field.name!r}")
    if set(batch.history) != set(schema.history):
        raise ValueError(
            f"{name}: history fields {sorted(batch.history)} do not match the schema's "
            f"{sorted(schema.history)}"
        )
    for field_name in schema.history:
        values = batch.history[field_name]  # (B, L)
        if values.dim() != 2 or values.shape[1] != schema.history_length:
            raise ValueError(
                f"{name}: history field {field_name!r} has shape {tuple(values.shape)}, "
                f"expected (B, {schema.history_length})"
            )
        _check_indices(values, schema.field(field_name), f"{name}: history {field_name!r}")
    if batch.history_length is not None and schema.history:
        lengths = batch.history_length
        if bool((lengths < 0).any()) or bool((lengths > schema.history_length).any()):
            raise ValueError(f"{name}: history_length outside [0, {schema.history_length}]")


def _check_indices(values: Tensor, field: Field, where: str) -> None:
    if values.numel() == 0:
        return
    low, high = int(values.min()), int(values.max())
    if low < 0 or high >= field.size:
        raise ValueError(
            f"{where}: indices must lie in [0, {field.size}) (vocabulary size), "
            f"found [{low}, {high}]"
        )


def gbdt_features(
    batch: FeatureBatch,
    schema: FeatureSchema,
    *,
    name: str = "batch",
    id_fields_as: IdFieldsAs = "categorical",
    id_categories: Mapping[str, np.ndarray] | None = None,
    multi_values: int = 2,
    multi_hot_max: int = 32,
) -> pd.DataFrame:
    """The ``(B, columns)`` frame of ``batch`` described in the module docstring.

    Args:
        batch: rows encoded with ``schema`` (checked: see :func:`check_batch`).
        schema: the fields.
        name: what to call ``batch`` in errors (``"train"``, ``"valid"``).
        id_fields_as: how the user and item id fields (and their ``last_`` history
            columns) enter: ``"categorical"``, ``"numeric"`` or ``"drop"``.
        id_categories: for ``"categorical"``, per id field the ids that keep a category
            of their own (the rest become unknown); a field not given keeps all.
        multi_values: leading values kept as categories of a large multi-valued field.
        multi_hot_max: a multi-valued field with at most this many indices besides 0
            becomes 0/1 columns, one per index.

    Example:
        >>> from recforge.features.fields import Field
        >>> schema = FeatureSchema(
        ...     (Field("user_id", "sparse", 5), Field("item_id", "sparse", 6),
        ...      Field("category", "sparse", 4)), history=("category",), history_length=3)
        >>> batch = FeatureBatch(
        ...     sparse=torch.tensor([[2, 3, 2], [3, 4, 3]]), dense=torch.zeros(2, 0),
        ...     label=torch.tensor([1.0, 0.0]), group=torch.tensor([0, 1]),
        ...     history={"category": torch.tensor([[2, 3, 2], [2, 0, 0]])},
        ...     history_length=torch.tensor([3, 1]))
        >>> frame = gbdt_features(batch, schema, id_fields_as="drop")
        >>> frame[["history_category_matches", "last_category_match"]].values.tolist()
        [[2.0, 1.0], [0.0, 0.0]]
        >>> frame["history_category_since_match"].tolist()
        [0.0, nan]
    """
    if id_fields_as not in ID_FIELDS_AS:
        raise ValueError(f"id_fields_as must be one of {ID_FIELDS_AS}, got {id_fields_as!r}")
    batch = batch.to("cpu")
    check_batch(batch, schema, name)
    id_fields = {schema.user_field, schema.item_field}
    columns: dict[str, Any] = {}  # name -> (B,) float32 array or pandas Categorical
    recode: dict[str, Tensor] = {}  # id field -> (size,) new code of each index
    for field_name, kept in (id_categories or {}).items():
        size = schema.field(field_name).size
        recode[field_name] = torch.full((size,), UNKNOWN, dtype=torch.int64)
        recode[field_name][0] = 0
        recode[field_name][torch.as_tensor(kept)] = torch.arange(2, len(kept) + 2)

    def categorical(column_name: str, values: Tensor, field: Field) -> None:  # values (B,)
        n_categories = field.size
        if field.name in id_fields and id_fields_as != "categorical":
            if id_fields_as == "numeric":
                columns[column_name] = _missing_as_nan(values.double(), values == 0)
            return
        if field.name in id_fields and field.name in recode:
            values = recode[field.name][values]  # (B,) 1 for an id not kept
            n_categories = int(recode[field.name].max()) + 1
        codes = torch.where(values == 0, -1, values).numpy()  # pandas codes: -1 = missing
        categories = pd.RangeIndex(n_categories)  # fixed, so every batch codes alike
        columns[column_name] = pd.Categorical.from_codes(codes, categories=categories)

    for column, field in enumerate(schema.sparse):
        categorical(field.name, batch.sparse[:, column], field)
    offset = 0
    for field in schema.dense:
        for k in range(field.size):
            column_name = field.name if field.size == 1 else f"{field.name}_{k}"
            columns[column_name] = batch.dense[:, offset + k].numpy().astype(np.float32)
        offset += field.size
    for field in schema.multi:
        values = batch.multi[field.name]  # (B, M)
        columns[f"{field.name}_count"] = (values > 0).sum(dim=1).numpy().astype(np.float32)
        if field.size - 1 <= multi_hot_max:
            one_hot = torch.zeros(len(batch), field.size, dtype=torch.float32)  # (B, size)
            one_hot.scatter_(1, values, 1.0)
            for index in range(1, field.size):
                columns[f"{field.name}_has_{index}"] = one_hot[:, index].numpy()
        else:
            padded = torch.nn.functional.pad(values, (0, field.max_len - values.shape[1]))
            for k in range(min(multi_values, field.max_len)):  # (B, max_len): same columns
                categorical(f"{field.name}_{k}", padded[:, k], field)  # for any M
    if schema.history:
        assert batch.history_length is not None  # check_batch: history implies a length
        columns.update(_history_columns(batch, schema))
        for field_name in schema.history:
            last = _last_behaviour(batch.history[field_name], batch.history_length)  # (B,)
            categorical(f"last_{field_name}", last, schema.field(field_name))
    return pd.DataFrame(columns)


def frequent_ids(batch: FeatureBatch, schema: FeatureSchema, limit: int) -> dict[str, np.ndarray]:
    """The ``limit`` most frequent indices (≥ 2; ties to the lower index) of the user and
    item id fields' columns in ``batch``, most frequent first: ``id_categories`` for
    :func:`gbdt_features` that bounds the categories of those fields."""
    kept = {}
    for field_name in (schema.user_field, schema.item_field):
        column = batch.sparse[:, schema.sparse_index(field_name)].cpu()  # (B,)
        counts = torch.bincount(column, minlength=schema.field(field_name).size)  # (size,)
        counts[: UNKNOWN + 1] = 0  # missing and unknown are not ids
        order = torch.sort(counts, descending=True, stable=True).indices[:limit]
        kept[field_name] = order[counts[order] > 0].numpy()
    return kept


def one_hot_matrix(batch: FeatureBatch, schema: FeatureSchema) -> sp.csr_matrix:
    """``(B, Σ sizes + dense columns)``: a 0/1 column per index of each sparse field (index
    0, missing, and 1, unknown, included), a column per index of each multi-valued field
    holding ``1 / count`` of the row's values (mean pooling, as the neural rankers embed
    them; padding dropped), then the dense columns. A history is not read.

    >>> from recforge.features.fields import Field
    >>> schema = FeatureSchema((Field("user_id", "sparse", 3), Field("item_id", "sparse", 4),
    ...                         Field("tags", "multi", 4, max_len=2)))
    >>> batch = FeatureBatch(torch.tensor([[2, 3]]), torch.zeros(1, 0), torch.ones(1),
    ...                      torch.zeros(1), multi={"tags": torch.tensor([[2, 3]])})
    >>> one_hot_matrix(batch, schema).toarray().tolist()
    [[0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.5, 0.5]]
    """
    check_batch(batch, schema)
    n = len(batch)
    rows, columns, values, offset = [], [], [], 0
    for position, field in enumerate(schema.sparse):
        rows.append(np.arange(n))
        columns.append(offset + batch.sparse[:, position].numpy())
        values.append(np.ones(n))
        offset += field.size
    for field in schema.multi:
        indices = batch.multi[field.name].numpy()
        present = indices > 0
        share = 1.0 / np.maximum(present.sum(axis=1, keepdims=True), 1)
        row, slot = np.nonzero(present)
        rows.append(row)
        columns.append(offset + indices[row, slot])
        values.append(share[row, 0])
        offset += field.size
    categorical = sp.csr_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))),
        shape=(n, offset),
    )
    dense = sp.csr_matrix(batch.dense.numpy().astype(np.float64))
    return sp.hstack([categorical, dense], format="csr")


def _missing_as_nan(values: Tensor, missing: Tensor) -> np.ndarray:
    """``values`` as float32 NumPy with NaN where ``missing``."""
    return torch.where(missing, torch.nan, values.double()).numpy().astype(np.float32)


def _last_behaviour(history: Tensor, length: Tensor) -> Tensor:
    """The most recent behaviour's value ``(B,)``, 0 for an empty history."""
    last = history.gather(1, (length - 1).clamp(min=0).unsqueeze(1)).squeeze(1)  # (B,)
    return torch.where(length > 0, last, 0)


def _history_columns(batch: FeatureBatch, schema: FeatureSchema) -> dict[str, np.ndarray]:
    """The history aggregates of the module docstring, per history field."""
    assert batch.history_length is not None
    length = batch.history_length  # (B,)
    positions = torch.arange(schema.history_length)  # (L,)
    real = positions.unsqueeze(0) < length.unsqueeze(1)  # (B, L) True at real behaviours
    empty = length == 0  # (B,)
    out = {"history_length": length.numpy().astype(np.float32)}
    for name in schema.history:
        candidate = batch.sparse[:, schema.sparse_index(name)]  # (B,)
        unusable = candidate <= UNKNOWN  # (B,) missing or unknown: a match means nothing
        match = (batch.history[name] == candidate.unsqueeze(1)) & real  # (B, L)
        matches = match.sum(dim=1).double()  # (B,)
        # 1-based position of the latest match, 0 when none (histories are oldest first)
        latest = (match * (positions + 1).unsqueeze(0)).amax(dim=1)  # (B,)
        last_match = (latest == length) & ~empty  # (B,) the most recent behaviour matches
        since = (length - latest).double()  # (B,) behaviours after the latest match
        out[f"history_{name}_matches"] = _missing_as_nan(matches, unusable)
        out[f"history_{name}_match_rate"] = _missing_as_nan(
            matches / length.clamp(min=1), unusable | empty
        )
        out[f"last_{name}_match"] = _missing_as_nan(last_match.double(), unusable | empty)
        out[f"history_{name}_since_match"] = _missing_as_nan(since, unusable | (latest == 0))
    return out


@dataclass(frozen=True)
class GBDTTable:
    """One batch ready for a boosting library: features, labels and query sizes."""

    frame: pd.DataFrame  # (B, columns)
    label: np.ndarray  # (B,) float64
    group_sizes: np.ndarray | None  # (G,) int64 rows per group in row order; None: binary


def gbdt_table(
    batch: FeatureBatch, schema: FeatureSchema, *, objective: str, name: str, **options: Any
) -> GBDTTable:
    """Checked features (``options`` go to :func:`gbdt_features`) and labels of ``batch``:
    0/1 for ``"binary"``, integer grades in ``[0, MAX_GRADE]`` for ``"lambdarank"``, whose
    rows are also sorted by ``batch.group``, as LambdaMART's queries must be contiguous,
    with the group sizes. Within a group the lower labels come first (otherwise rows keep
    their order): the libraries' NDCG breaks ties of score by row order, so tied scores
    then count against the model; with positives first (as CTR pipelines often write
    them) the first trees' many ties would inflate the NDCG that early stopping reads."""
    if len(batch) == 0:
        raise ValueError(f"{name} is empty (0 rows)")
    batch = batch.to("cpu")
    label = batch.label.double().numpy()  # (B,)
    bad = ~np.isfinite(label)
    if bad.any():
        raise ValueError(
            f"{name}: {int(bad.sum())} labels are NaN or infinite "
            f"(first at row {int(np.flatnonzero(bad)[0])})"
        )
    if objective == "binary":
        wrong = (label != 0) & (label != 1)
        expected = "0 or 1 (binary objective)"
    else:
        wrong = (label < 0) | (label > MAX_GRADE) | (label != np.round(label))
        expected = f"integer relevance grades in [0, {MAX_GRADE}] (lambdarank)"
    if wrong.any():
        row = int(np.flatnonzero(wrong)[0])
        raise ValueError(f"{name}: labels must be {expected}; row {row} has {label[row]}")
    if name == "train" and np.unique(label).size < 2:
        raise ValueError(f"train: every label is {label[0]}; there is nothing to learn")
    group_sizes = None
    if objective == "lambdarank":
        order = np.lexsort((label, batch.group.numpy()))  # (B,) by group, then label
        batch, label = batch.rows(torch.from_numpy(order)), label[order]
        _, group_sizes = np.unique(batch.group.numpy(), return_counts=True)  # (G,)
    return GBDTTable(gbdt_features(batch, schema, name=name, **options), label, group_sizes)
