"""DIEN: learns a signal only the history carries, the auxiliary loss (eq. 5) is finite,
positive and reads only real next behaviours, padding never changes a score or the loss,
empty histories give a zero interest, the AUGRU is a GRU (eq. 1-4) whose update gate the
attention scales (eq. 8). Rows come from test_din.py's ``planted``."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from test_din import LENGTH, SCHEMA, pad, planted, train

from recforge.evaluation.metrics import auc
from recforge.models.dien import AUGRU, DIEN, DIENConfig

SMALL = {"embedding_dim": 8, "mlp_widths": (32, 16), "init_std": 0.1, "attention_widths": (16,)}


def build(**overrides: object) -> DIEN:
    torch.manual_seed(0)
    return DIEN(DIENConfig(**{**SMALL, **overrides}), SCHEMA)  # type: ignore[arg-type]


def test_dien_learns_a_signal_that_needs_the_history():
    model = train(build(), planted(4000, 0), steps=300)
    test_rows = planted(1000, 1)
    with torch.no_grad():
        assert auc(test_rows.label.numpy(), model(test_rows).numpy()) > 0.85


@pytest.mark.parametrize("attention", ["bilinear", "mlp"])
def test_padding_never_changes_logits_or_the_auxiliary_loss(attention):
    model = build(attention=attention)
    batch = planted(64, 2, min_length=0)
    with torch.no_grad():
        for training in (False, True):
            model.train(training)
            plain = model.training_outputs(batch)
            for extra in (1, 3 * LENGTH):  # beyond the schema's history_length too
                padded = model.training_outputs(pad(batch, extra))
                torch.testing.assert_close(padded.logits, plain.logits)
                if training:
                    assert plain.auxiliary_loss is not None
                    assert padded.auxiliary_loss is not None
                    torch.testing.assert_close(padded.auxiliary_loss, plain.auxiliary_loss)
            torch.testing.assert_close(model(batch), plain.logits)


def test_empty_histories_give_a_zero_interest():
    model = build().eval()
    batch = planted(32, 4, min_length=0)
    empty = batch.history_length == 0
    assert empty.any() and not empty.all()
    with torch.no_grad():
        interest = model.interest(batch)
    assert interest.shape == (32, 16)  # R = E = 2 history fields x 8
    assert torch.all(interest[empty] == 0) and torch.all(interest[~empty].abs().sum(1) > 0)
    # the state of an empty row does not depend on the other rows
    with torch.no_grad():
        alone = model(batch.rows(torch.nonzero(empty)[:1, 0]))
        torch.testing.assert_close(alone, model(batch)[empty][:1])
    nothing = dataclasses.replace(batch, history_length=torch.zeros(32, dtype=torch.long))
    model.train()
    outputs = model.training_outputs(nothing)
    assert torch.isfinite(outputs.logits).all() and outputs.auxiliary_loss is not None
    assert float(outputs.auxiliary_loss) == 0.0
    (outputs.logits.sum() + outputs.auxiliary_loss).backward()


def test_auxiliary_loss_is_positive_and_reads_only_real_next_behaviours():
    model = build().train()
    batch = planted(16, 5, min_length=2)
    loss = model.training_outputs(batch).auxiliary_loss
    assert loss is not None and torch.isfinite(loss) and float(loss.detach()) > 0
    loss.backward()
    assert model.extractor.weight_hh_l0.grad is not None
    assert model.extractor.weight_hh_l0.grad.abs().sum() > 0

    def with_negative(row: int, position: int) -> float:
        negative = {name: values.clone() for name, values in batch.history_negative.items()}
        negative["item_id"][row, position] = 7
        negative["category"][row, position] = 7
        changed = dataclasses.replace(batch, history_negative=negative)
        with torch.no_grad():
            result = model.training_outputs(changed).auxiliary_loss
        assert result is not None
        return float(result)

    with torch.no_grad():
        reference = model.training_outputs(batch).auxiliary_loss
    row = int(torch.argmin(batch.history_length))
    length = int(batch.history_length[row])
    assert length < LENGTH
    assert with_negative(row, length) == pytest.approx(float(reference), abs=0)  # padding
    assert with_negative(row, 0) == pytest.approx(float(reference), abs=0)  # nothing before it
    assert with_negative(row, length - 1) != pytest.approx(float(reference), rel=1e-6)


def test_auxiliary_loss_follows_eq_5():
    """h_t is scored against the next behaviour e_{t+1} and its negative ê_{t+1}."""
    model = build().train()
    batch = planted(6, 10, min_length=0)
    with torch.no_grad():
        loss = model.training_outputs(batch).auxiliary_loss
        states, _ = model.extractor(model.embedding.history(batch))  # (B, L, R)
        positives = model.embedding.history(batch)
        negatives = model.embedding.history(batch, negative=True)
    terms = []
    for row, length in enumerate(batch.history_length.tolist()):
        for t in range(length - 1):
            state = states[row, t]
            terms.append(
                -torch.log(torch.sigmoid(state @ positives[row, t + 1]))
                - torch.log(1 - torch.sigmoid(state @ negatives[row, t + 1]))
            )
    assert loss is not None and len(terms) > 10
    torch.testing.assert_close(loss, torch.stack(terms).mean())


def test_auxiliary_loss_is_weighted_and_only_in_training():
    batch = planted(16, 6)
    model = build()
    base = model.train().training_outputs(batch).auxiliary_loss
    doubled = build(aux_weight=2.0).train().training_outputs(batch).auxiliary_loss
    assert base is not None and doubled is not None
    torch.testing.assert_close(doubled, 2 * base)
    assert model.eval().training_outputs(batch).auxiliary_loss is None
    without = dataclasses.replace(batch, history_negative={})
    assert model.train().training_outputs(without).auxiliary_loss is None
    assert build(aux_weight=0.0).train().training_outputs(batch).auxiliary_loss is None


def test_attention_is_a_softmax_over_real_positions():
    model = build().eval()
    batch = planted(16, 7, min_length=0)
    mask = model.embedding.history_mask(batch)
    with torch.no_grad():
        states, _ = model.extractor(model.embedding.history(batch))
        weights = model._attention(states, model.embedding.candidate(batch), mask)
    assert torch.all(weights[~mask] == 0) and torch.all(weights >= 0)
    totals = weights.sum(1)
    torch.testing.assert_close(totals, (batch.history_length > 0).float())


def test_augru_is_a_gru_whose_update_gate_the_attention_scales():
    torch.manual_seed(0)
    augru = AUGRU(5, 4)
    cell = torch.nn.GRUCell(5, 4)
    # nn.GRUCell keeps z = 1 - u (h' = (1 - z) n + z h) and a bias inside r * (U_h h + b):
    # map eq. 1-3's weights onto it, with that bias at 0
    input_u, input_r, input_h = augru.input_map.weight.detach().chunk(3)
    bias_u, bias_r, bias_h = augru.input_map.bias.detach().chunk(3)
    state_u, state_r, state_h = augru.hidden_map.weight.detach().chunk(3)
    with torch.no_grad():
        cell.weight_ih.copy_(torch.cat([input_r, -input_u, input_h]))
        cell.weight_hh.copy_(torch.cat([state_r, -state_u, state_h]))
        cell.bias_ih.copy_(torch.cat([bias_r, -bias_u, bias_h]))
        cell.bias_hh.zero_()
    inputs = torch.randn(3, 6, 5)
    state = torch.zeros(3, 4)
    for step in range(6):
        state = cell(inputs[:, step], state)
    with torch.no_grad():
        torch.testing.assert_close(augru(inputs, torch.ones(3, 6)), state)
        # a = 0 keeps the state: zero attention everywhere leaves the zero state
        assert torch.all(augru(inputs, torch.zeros(3, 6)) == 0)
        # steps with a = 0 are skipped exactly
        attention = torch.tensor([[1.0, 0.0, 1.0, 0.0, 0.0, 1.0]]).expand(3, -1)
        kept = inputs[:, [0, 2, 5]]
        torch.testing.assert_close(augru(inputs, attention), augru(kept, torch.ones(3, 3)))


def test_hidden_size_and_config_are_checked():
    with pytest.raises(ValueError, match="hidden_size 12 must equal the behaviour width 16"):
        build(hidden_size=12)
    model = build(hidden_size=12, aux_weight=0.0)  # bilinear attention works with any R
    assert model(planted(4, 8)).shape == (4,)
    with pytest.raises(ValueError, match="attention"):
        DIENConfig(attention="dot")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="aux_weight"):
        DIENConfig(aux_weight=-1.0)
    no_history = dataclasses.replace(SCHEMA, history=(), history_length=0)
    with pytest.raises(ValueError, match=r"schema\.history"):
        DIEN(DIENConfig(), no_history)
    batch = planted(4, 9)
    wrong = {**batch.history_negative, "item_id": batch.history_negative["item_id"][:, :2]}
    with pytest.raises(ValueError, match=r"history_negative\['item_id'\] has shape"):
        build().train().training_outputs(dataclasses.replace(batch, history_negative=wrong))
