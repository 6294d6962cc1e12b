"""Sequence models (GRU4Rec, SASRec): padding never changes an answer, histories are read
as documented, bad input is refused clearly, and training learns order."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recforge.core.errors import ConfigError
from recforge.core.sequences import Sequences
from recforge.models.gru4rec import GRU4Rec, GRU4RecConfig
from recforge.models.online import online_model
from recforge.models.sasrec import SASRec, SASRecConfig
from recforge.training.loop import TrainConfig, fit

SMALL = {"factors": 8, "max_len": 6, "dropout": 0.0}


def build(name: str, n_users: int = 3, n_items: int = 9):
    torch.manual_seed(0)
    if name == "sasrec":
        return SASRec(SASRecConfig(**SMALL, heads=2), n_users, n_items).eval()
    if name == "sasrec-post":  # the BERT4Rec / S3-Rec code's blocks
        post = SASRecConfig(**SMALL, heads=2, norm_first=False, activation="gelu", feedforward=32)
        return SASRec(post, n_users, n_items).eval()
    return GRU4Rec(GRU4RecConfig(**SMALL, hidden_size=16), n_users, n_items).eval()


@pytest.fixture(params=["gru4rec", "sasrec", "sasrec-post"])
def name(request):
    return request.param


def test_left_padding_does_not_change_the_hidden_states(name):
    model = build(name)
    tokens = torch.tensor([[0, 0, 0, 4, 2, 7], [0, 0, 0, 0, 0, 3]])
    full = model.hidden(tokens)
    trimmed = model.hidden(tokens[:, 3:])  # the all-padding columns dropped
    torch.testing.assert_close(full[:, 3:], trimmed, rtol=1e-5, atol=1e-6)
    assert torch.all(full[1, :5] == 0)  # padded positions carry nothing
    # a row's states do not depend on the other rows of the batch
    torch.testing.assert_close(model.hidden(tokens[1:])[0], full[1], rtol=1e-5, atol=1e-6)


def test_attention_is_causal(name):
    model = build(name)
    first = model.hidden(torch.tensor([[1, 2, 3, 4, 5, 6]]))
    changed = model.hidden(torch.tensor([[1, 2, 3, 8, 8, 8]]))
    torch.testing.assert_close(first[:, :3], changed[:, :3])  # later items unseen
    assert not torch.allclose(first[:, 3:], changed[:, 3:])


def test_histories_are_the_latest_items_and_empty_ones_score(name):
    model = build(name)
    model.set_histories(Sequences.from_lists([[1, 2, 3, 4, 5, 6, 7, 8], [], [0]]))
    assert model.user_history[0].tolist() == [4, 5, 6, 7, 8, 9]  # tokens = item + 1
    assert model.user_history[1].tolist() == [0] * 6
    scores = model.score_all(torch.arange(3))
    assert scores.shape == (3, 9) and torch.isfinite(scores).all()


def test_bad_histories_are_refused(name):
    model = build(name)
    with pytest.raises(ValueError, match="cover 2 users, expected 3"):
        model.set_histories(Sequences.from_lists([[1], [2]]))
    with pytest.raises(ValueError, match="item index 9"):
        model.set_histories(Sequences.from_lists([[1], [9], []]))
    with pytest.raises(IndexError, match="user_idx 3"):
        model.score_all(torch.tensor([3]))


def test_pair_losses_are_refused_for_sequence_models(name, planted):
    model = build(name, *planted.shape)
    with pytest.raises(ConfigError, match=r"training\.loss"):
        fit(model, planted, TrainConfig(loss="bpr", epochs=1, progress=False))


def test_sequence_losses_are_refused_for_pair_models(planted):
    from recforge.models.bpr import BPRMF, BPRMFConfig

    model = BPRMF(BPRMFConfig(factors=4), *planted.shape)
    with pytest.raises(ConfigError, match="for sequence models"):
        fit(model, planted, TrainConfig(loss="ce", epochs=1, progress=False))


@pytest.mark.parametrize(
    ("name", "loss"),
    [
        ("gru4rec", "ce"),
        ("gru4rec", "sampled_ce"),
        ("sasrec", "ce"),
        ("sasrec", "sampled_ce"),
        ("sasrec", "bce"),  # the paper's loss (it converges too slowly for GRU4Rec here)
        ("sasrec-post", "bce"),
    ],
)
def test_learns_what_follows_what(name, loss):
    """Item 2k+1 always follows item 2k: after training, a history ending in 2k ranks
    2k+1 first. A model that ignored order (or the last item) could not do this. (At 30
    epochs some seeds still missed one or two pairs, for GRU4Rec and post-norm SASRec.)"""
    rng = np.random.default_rng(0)
    histories = []
    for _ in range(200):
        starts = rng.choice(10, size=4, replace=False) * 2
        histories.append([int(i) for s in starts for i in (s, s + 1)])
    seqs = Sequences.from_lists(histories)
    model = build(name, n_users=200, n_items=20)
    config = TrainConfig(
        loss=loss, epochs=60, batch_size=32, lr=0.02, n_negatives=8, progress=False
    )
    fit(model, seqs.to_csr(20), config, sequences=seqs)
    queries = model.encode(torch.tensor([[0, 0, 0, 0, 0, 2 * k + 1] for k in range(10)]))
    top = (queries @ model.item_vectors().T).argmax(1)
    assert top.tolist() == [2 * k + 1 for k in range(10)]


@torch.no_grad()
def test_serving_view_reads_the_live_history(name):
    model = build(name)
    model.set_histories(Sequences.from_lists([[1, 2], [], [3]]))
    online = online_model(model)
    assert online.item_vectors is not None and online.item_vectors.shape == (9, 8)
    live = online.query(0, np.array([5, 6, 7]))
    expected = model.encode(torch.tensor([[0, 0, 0, 6, 7, 8]]))[0].numpy()
    np.testing.assert_allclose(live, expected, rtol=1e-5)
    stored = online.query(0, np.array([], np.int64))
    np.testing.assert_allclose(stored, model.encode(model.user_history[:1])[0].numpy())
    assert online.query(None, np.array([], np.int64)) is None


def test_sasrec_block_options_are_checked():
    with pytest.raises(ValueError, match="activation"):
        SASRecConfig(activation="tanh")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="feedforward"):
        SASRecConfig(feedforward=-1)
    with pytest.raises(ValueError, match="block_init"):
        SASRecConfig(block_init="xavier")  # type: ignore[arg-type]
    post = build("sasrec-post")
    assert post.blocks.norm is None and hasattr(post, "embedding_norm")
    assert build("sasrec").blocks.norm is not None


def test_sasrec_normal_block_init_is_berts():
    model = SASRec(SASRecConfig(factors=64, block_init="normal", init_std=0.02), 3, 9)
    weights = {n: p.detach() for n, p in model.blocks.named_parameters() if "norm" not in n}
    assert all(float(p.abs().max()) == 0 for n, p in weights.items() if n.endswith("bias"))
    for name in ("self_attn.in_proj_weight", "linear1.weight", "linear2.weight"):
        std = float(weights[f"layers.0.{name}"].std())
        assert 0.018 < std < 0.022, (name, std)  # PyTorch's defaults: 0.07 to 0.09 here
    norm = model.blocks.layers[0].norm1
    assert bool((norm.weight == 1).all() and (norm.bias == 0).all())


@pytest.mark.parametrize("inner", [True, False])
def test_sasrec_feedforward_dropout_is_optional(inner):
    config = SASRecConfig(
        factors=8, max_len=6, dropout=0.5, activation="gelu", feedforward_dropout=inner
    )
    model = SASRec(config, 3, 9).train()
    seen: list[torch.Tensor] = []
    model.blocks.layers[0].linear2.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    model.hidden(torch.tensor([[1, 2, 3, 4, 5, 6]] * 20))
    dropped = float((seen[0] == 0).float().mean())  # GELU is never exactly 0 otherwise
    assert (dropped > 0.3) if inner else (dropped == 0.0)
    assert model.blocks.layers[0].dropout1.p == 0.5  # the residual dropouts stay
