"""DIN (and the pieces it shares with DIEN): learns a signal only the history carries,
padding and batch composition never change a score, empty histories score, the attention
is unnormalised sum pooling, Dice follows Sec. 5.2, bad input is refused by name.

``planted`` (also imported by test_dien.py) builds the rows: a click iff the candidate's
category appears in the user's history; half the rows are clicks at every history length,
so neither the length nor any field of the row reveals the label.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as functional

from recforge.core.batches import FeatureBatch
from recforge.evaluation.metrics import auc
from recforge.features.fields import FeatureSchema, Field
from recforge.models.attention_units import ActivationUnit, Dice
from recforge.models.din import DIN, DINConfig
from recforge.models.ranker import Ranker

N_ITEMS, N_CATEGORIES, LENGTH = 200, 20, 8
SCHEMA = FeatureSchema(
    fields=(
        Field("user_id", "sparse", 22),
        Field("item_id", "sparse", N_ITEMS + 2),
        Field("category", "sparse", N_CATEGORIES + 2),
        Field("tags", "multi", 10, max_len=3),
        Field("price", "dense", 1),
    ),
    history=("item_id", "category"),
    history_length=LENGTH,
)
SMALL = {"embedding_dim": 8, "attention_widths": (16,), "mlp_widths": (32, 16), "init_std": 0.1}


def category_of(item_idx: np.ndarray) -> np.ndarray:
    """Items 2.. cycle through categories 2..; padding (0) keeps category 0."""
    return np.where(item_idx >= 2, 2 + (item_idx - 2) % N_CATEGORIES, 0)


def planted(n_rows: int, seed: int, min_length: int = 1) -> FeatureBatch:
    """Rows of SCHEMA with history lengths in [min_length, LENGTH]; label 1 iff the
    candidate's category is among the history's categories (half the rows)."""
    rng = np.random.default_rng(seed)
    length = rng.integers(min_length, LENGTH + 1, n_rows)
    real = np.arange(LENGTH)[None, :] < length[:, None]  # (B, L)
    history = rng.integers(2, N_ITEMS + 2, (n_rows, LENGTH)) * real
    negative = rng.integers(2, N_ITEMS + 2, (n_rows, LENGTH)) * real
    seen = np.zeros((n_rows, N_CATEGORIES + 2), dtype=bool)
    np.put_along_axis(seen, category_of(history), True, axis=1)
    seen[:, 0] = False
    label = rng.random(n_rows) < 0.5
    label &= length > 0  # an empty history holds no category
    picked = history[np.arange(n_rows), (rng.random(n_rows) * np.maximum(length, 1)).astype(int)]
    draws = rng.integers(2, N_CATEGORIES + 2, (n_rows, 64))  # first draw not in the history
    unseen = draws[np.arange(n_rows), np.argmax(~np.take_along_axis(seen, draws, 1), axis=1)]
    category = np.where(label, category_of(picked), unseen)
    item = category + N_CATEGORIES * rng.integers(0, N_ITEMS // N_CATEGORIES, n_rows)
    user = rng.integers(2, 22, n_rows)

    def long(values: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(values, dtype=torch.long)

    return FeatureBatch(
        sparse=long(np.stack([user, item, category], axis=1)),
        dense=torch.as_tensor(rng.normal(size=(n_rows, 1)), dtype=torch.float32),
        label=torch.as_tensor(label, dtype=torch.float32),
        group=long(user),
        multi={"tags": long(rng.integers(0, 10, (n_rows, 3)))},
        history={"item_id": long(history), "category": long(category_of(history))},
        history_length=long(length),
        history_negative={"item_id": long(negative), "category": long(category_of(negative))},
    )


def train(model: Ranker, batch: FeatureBatch, steps: int, lr: float = 0.01) -> Ranker:
    """Adam on random mini-batches of 256, the auxiliary loss added when there is one."""
    generator = torch.Generator().manual_seed(0)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        rows = batch.rows(torch.randint(len(batch), (256,), generator=generator))
        outputs = model.training_outputs(rows)
        loss = functional.binary_cross_entropy_with_logits(outputs.logits, rows.label)
        if outputs.auxiliary_loss is not None:
            loss = loss + outputs.auxiliary_loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()


def pad(batch: FeatureBatch, extra: int) -> FeatureBatch:
    """The same rows with ``extra`` more padding columns in every history."""

    def wider(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: functional.pad(tensor, (0, extra)) for name, tensor in tensors.items()}

    return dataclasses.replace(
        batch, history=wider(batch.history), history_negative=wider(batch.history_negative)
    )


def build(**overrides: object) -> DIN:
    torch.manual_seed(0)
    return DIN(DINConfig(**{**SMALL, **overrides}), SCHEMA)  # type: ignore[arg-type]


def test_the_planted_signal_is_invisible_without_the_history():
    train_rows, test_rows = planted(4000, 0), planted(1000, 1)
    labels = train_rows.label.numpy()
    # the best history-free score: the click rate of the candidate's category (or item)
    for column in (1, 2):
        values = train_rows.sparse[:, column].numpy()
        rate = np.bincount(values, labels, minlength=300) / np.maximum(
            np.bincount(values, minlength=300), 1
        )
        assert auc(test_rows.label.numpy(), rate[test_rows.sparse[:, column].numpy()]) < 0.6
    assert auc(test_rows.label.numpy(), test_rows.history_length.numpy()) < 0.6


def test_din_learns_a_signal_that_needs_the_history():
    model = train(build(), planted(4000, 0), steps=300)
    test_rows = planted(1000, 1)
    with torch.no_grad():
        assert auc(test_rows.label.numpy(), model(test_rows).numpy()) > 0.85


@pytest.mark.parametrize("training", [False, True])
def test_padding_never_changes_a_logit(training):
    model = build().train(training)
    batch = planted(64, 2, min_length=0)
    with torch.no_grad():
        plain = model(batch)
        torch.testing.assert_close(model(pad(batch, 5)), plain)
        # a history longer than the schema's history_length is only more padding
        torch.testing.assert_close(model(pad(batch, 3 * LENGTH)), plain)
        # and trimming the columns that are padding everywhere changes nothing either
        short = planted(64, 3, min_length=0)
        longest = int(short.history_length.max())
        trimmed = dataclasses.replace(
            short,
            history={k: v[:, :longest] for k, v in short.history.items()},
            history_negative={k: v[:, :longest] for k, v in short.history_negative.items()},
        )
        torch.testing.assert_close(model(trimmed), model(short))


def test_empty_histories_score_with_a_zero_interest():
    model = build()
    batch = planted(32, 4, min_length=0)
    empty = batch.history_length == 0
    assert empty.any() and not empty.all()
    with torch.no_grad():
        interest = model.interest(batch)
    assert torch.all(interest[empty] == 0) and torch.all(interest[~empty].abs().sum(1) > 0)
    nothing = dataclasses.replace(batch, history_length=torch.zeros(32, dtype=torch.long))
    for training in (True, False):
        model.train(training)
        logits = model(nothing)
        assert logits.shape == (32,) and torch.isfinite(logits).all()
        logits.sum().backward()


def test_interest_is_an_unnormalised_sum_over_behaviours():
    """Repeating a history doubles the interest (Sec. 4.3: no softmax)."""
    model = build().eval()
    batch = planted(16, 5, min_length=1)
    length = batch.history_length

    def twice(values: torch.Tensor) -> torch.Tensor:  # (B, L) -> (B, 2L): h_1..h_n h_1..h_n 0..
        doubled = torch.zeros(len(values), 2 * LENGTH, dtype=torch.long)
        for row, n in enumerate(length.tolist()):
            doubled[row, : 2 * n] = values[row, :n].repeat(2)
        return doubled

    repeated = dataclasses.replace(
        batch,
        history={name: twice(values) for name, values in batch.history.items()},
        history_negative={},
        history_length=2 * length,
    )
    with torch.no_grad():
        torch.testing.assert_close(model.interest(repeated), 2 * model.interest(batch))


def test_scores_in_eval_do_not_depend_on_the_batch():
    model = train(build(), planted(500, 6), steps=5)  # running Dice estimates move off 0/1
    batch = planted(20, 7, min_length=0)
    buffers = {name: value.clone() for name, value in model.named_buffers()}
    with torch.no_grad():
        together = model(batch)
        alone = torch.cat([model(batch.rows(torch.tensor([row]))) for row in range(20)])
        again = model(batch)
    torch.testing.assert_close(alone, together)
    assert torch.equal(again, together)
    for name, value in model.named_buffers():
        assert torch.equal(value, buffers[name]), f"{name} changed in eval mode"


def test_dice_uses_batch_statistics_in_training_and_running_ones_in_eval():
    torch.manual_seed(0)
    dice = Dice(3, momentum=0.5)
    with torch.no_grad():
        dice.alpha.copy_(torch.tensor([0.0, 0.5, 1.0]))
    values = torch.randn(50, 3) * 3 + 1
    mean, variance = values.mean(0), values.var(0, unbiased=False)
    p = torch.sigmoid((values - mean) / torch.sqrt(variance + 1e-8))
    expected = p * values + (1 - p) * dice.alpha.detach() * values
    torch.testing.assert_close(dice(values), expected)
    # running estimates moved halfway towards the batch's (unbiased variance, as batch norm)
    torch.testing.assert_close(dice.running_mean, 0.5 * mean)
    torch.testing.assert_close(dice.running_var, 0.5 + 0.5 * values.var(0))
    dice.eval()
    p = torch.sigmoid((values - dice.running_mean) / torch.sqrt(dice.running_var + 1e-8))
    torch.testing.assert_close(dice(values), p * values + (1 - p) * dice.alpha * values)
    torch.testing.assert_close(dice(values[:1]), dice(values)[:1])  # one row: same answer
    dice.train()
    one = torch.tensor([[2.0, 2.0, 2.0]])  # a batch of one is its own mean: p = 1/2
    torch.testing.assert_close(dice(one), one * (0.5 + 0.5 * dice.alpha))
    assert dice(torch.zeros(0, 3)).shape == (0, 3)


def test_activation_unit_reads_behaviour_candidate_difference_and_product():
    torch.manual_seed(0)
    unit = ActivationUnit(4, (6, 5), dice=True).eval()
    behaviours, candidate = torch.randn(2, 3, 4), torch.randn(2, 4)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    query = candidate[:, None, :].expand(-1, 3, -1)
    joint = torch.cat([behaviours, query, behaviours - query, behaviours * query], -1)
    expected = unit.output(unit.rest(unit.first_activation(unit.first(joint)))).squeeze(-1)
    with torch.no_grad():
        weights = unit(behaviours, candidate, mask)
    torch.testing.assert_close(weights, torch.where(mask, expected, 0.0).detach())


def test_embedding_indices_for_the_regulariser_cover_the_history():
    model = build()
    batch = planted(8, 8)
    used = model.embedding.batch_indices(batch)
    assert set(used) == {"user_id", "item_id", "category", "tags"}
    assert len(used["item_id"]) == 8 + 8 * LENGTH


def test_bad_input_is_refused_by_name():
    no_history = dataclasses.replace(SCHEMA, history=(), history_length=0)
    with pytest.raises(ValueError, match=r"schema\.history"):
        DIN(DINConfig(), no_history)
    with pytest.raises(ValueError, match="mlp_widths"):
        DINConfig(mlp_widths=())
    with pytest.raises(ValueError, match="dropout"):
        DINConfig(dropout=1.0)
    model = build()
    batch = planted(4, 9)
    with pytest.raises(ValueError, match=r"history_length must be in \[0, 8\]"):
        model(dataclasses.replace(batch, history_length=batch.history_length + LENGTH))
    with pytest.raises(ValueError, match=r"history\['category'\]"):
        model(dataclasses.replace(batch, history={"item_id": batch.history["item_id"]}))
    with pytest.raises(ValueError, match=r"history\['category'\] has shape"):
        wrong = {**batch.history, "category": batch.history["category"][:, :3]}
        model(dataclasses.replace(batch, history=wrong))
