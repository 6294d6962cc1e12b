"""KGIN: the propagation against the paper's equations by hand, the intent independence
loss and its place in training, dropout only while training, and graph state."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from recforge.core.batches import UserItemBatch
from recforge.core.graph import KnowledgeGraph
from recforge.models import MODELS
from recforge.models.checkpoint import load_checkpoint, save_checkpoint
from recforge.models.kgin import KGIN, KGINConfig
from recforge.training.loop import TrainConfig, fit


def film_graph() -> KnowledgeGraph:
    """Items 0-2 are entities 0-2; entity 3 (a genre) is linked from items 0 and 1 through
    relation 0, entity 4 (a director) from item 2 through relation 1; entity 5 is isolated."""
    return KnowledgeGraph(
        head=np.array([0, 1, 2]),
        relation=np.array([0, 0, 1]),
        tail=np.array([3, 3, 4]),
        n_entities=6,
        n_relations=2,
        item_entity=np.array([0, 1, 2]),
    )


TRAIN = sp.csr_matrix(np.array([[1, 1, 0], [0, 0, 1], [1, 0, 1]], dtype=np.float32))


def small(layers: int = 2, **options) -> KGIN:
    torch.manual_seed(0)
    config = KGINConfig(dim=5, layers=layers, n_intents=3, **options)
    model = KGIN.for_graph(config, n_users=3, graph=film_graph())
    model.set_graph(TRAIN)
    return model


def by_hand(model: KGIN) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 1, 6-8 and 12 written out with dense loops, layer outputs L2-normalised."""
    users0 = model.user_embedding.weight.detach()
    entities = model.entity_embedding.weight.detach()
    relations = model.relation_embedding.weight.detach()  # (4, D): 0, 1 and inverses 2, 3
    alpha = torch.softmax(model.intent_logits.detach(), dim=1)  # (P, 2R)
    intents = alpha @ relations  # Eq. 1
    beta = torch.softmax(users0 @ intents.T, dim=1)  # (U, P), Eq. 7
    triples = [(0, 0, 3), (1, 0, 3), (2, 1, 4)]
    edges = [(h, r, t) for h, r, t in triples] + [(t, r + 2, h) for h, r, t in triples]
    user_total, entity_total = users0.clone(), entities.clone()
    for _ in range(model.config.layers):
        users = torch.zeros_like(users0)
        for u in range(3):
            items = TRAIN[u].indices
            mean = entities[items].mean(0)
            users[u] = (beta[u][:, None] * intents).sum(0) * mean  # Eq. 6
        nxt = torch.zeros_like(entities)
        for h in range(6):
            incoming = [relations[r] * entities[t] for hh, r, t in edges if hh == h]
            if incoming:
                nxt[h] = torch.stack(incoming).mean(0)  # Eq. 8
        entities = F.normalize(nxt, dim=1)
        user_total += F.normalize(users, dim=1)
        entity_total += entities
    return user_total, entity_total[:3]


def test_propagation_follows_the_equations_and_both_scoring_paths_agree():
    model = small().eval()
    users, items = model.propagate()
    expected_users, expected_items = by_hand(model)
    torch.testing.assert_close(users, expected_users, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(items, expected_items, rtol=1e-5, atol=1e-6)
    all_scores = model.score_all(torch.arange(3))
    pairs = model(UserItemBatch(torch.arange(3).repeat_interleave(3), torch.arange(3).repeat(3)))
    torch.testing.assert_close(pairs.view(3, 3), all_scores, rtol=1e-5, atol=1e-6)
    # the isolated entity receives nothing; the genre hears from both of its films
    assert model.propagate()[1].shape == (3, 5)


def test_independence_loss_is_lowest_for_orthogonal_intents():
    model = small(independence=1.0, temperature=0.5)
    with torch.no_grad():
        model.relation_embedding.weight.copy_(torch.eye(4, 5))
        model.intent_logits.copy_(torch.full((3, 4), -20.0))
        model.intent_logits[[0, 1, 2], [0, 1, 2]] = 20.0  # intent p = relation p
    apart = float(model.auxiliary_loss().detach())
    expected = 3 * -np.log(np.exp(2) / (np.exp(2) + 2))  # cos 1 on the diagonal, 0 elsewhere
    assert apart == pytest.approx(expected, rel=1e-4)
    with torch.no_grad():
        model.intent_logits.copy_(torch.zeros(3, 4))  # every intent the same mix
    assert float(model.auxiliary_loss().detach()) == pytest.approx(3 * np.log(3), rel=1e-4)
    assert float(small(independence=0.0).auxiliary_loss().detach()) == 0.0


def test_training_adds_the_independence_loss():
    """Same seed, same data: only the weight of the term differs, so if the loop ignored
    ``auxiliary_loss`` both models would end identical."""
    config = TrainConfig(loss="bpr", epochs=5, batch_size=4, lr=0.05, n_negatives=1, progress=False)
    ends = []
    for weight in (0.0, 1.0):
        model = small(independence=weight)
        fit(model, TRAIN, config)
        probe = small(independence=1.0)
        probe.load_state_dict(model.state_dict())
        ends.append(float(probe.auxiliary_loss().detach()))
    assert ends[1] < ends[0] - 1e-3


def test_dropout_only_while_training():
    model = small(node_dropout=0.5, message_dropout=0.3)
    model.train()
    first = model.propagate()[0]
    second = model.propagate()[0]
    assert not torch.allclose(first, second)  # edges and messages redrawn each step
    model.eval()
    torch.testing.assert_close(model.propagate()[0], model.propagate()[0])
    no_dropout = small(node_dropout=0.0, message_dropout=0.0).eval()
    torch.testing.assert_close(model.propagate()[0], no_dropout.propagate()[0])


def test_checkpoint_restores_graph_and_scores(tmp_path):
    model = small().eval()
    save_checkpoint(model, tmp_path / "kgin.pt", MODELS)
    restored = load_checkpoint(tmp_path / "kgin.pt", MODELS)
    torch.testing.assert_close(
        restored.score_all(torch.arange(3)), model.score_all(torch.arange(3))
    )
    assert restored.kg_head.tolist() == [0, 1, 2, 3, 3, 4]
    assert restored.kg_relation.tolist() == [0, 0, 1, 2, 2, 3]
    assert restored.edge_user.tolist() == [0, 0, 1, 2, 2]


def test_sizes_live_in_the_config_and_bad_input():
    model = small()
    assert (model.config.n_entities, model.config.n_relations) == (6, 2)
    assert model.relation_embedding.num_embeddings == 4  # with inverses
    with pytest.raises(ValueError, match="train has shape"):
        model.set_graph(sp.csr_matrix((2, 3)))
    other = KGIN(KGINConfig(dim=4), n_users=3, n_items=3)
    with pytest.raises(ValueError, match=r"build it with KGIN\.for_graph"):
        other.attach_graph(film_graph())
    for bad in ({"layers": -1}, {"n_intents": 0}, {"node_dropout": 1.0}, {"temperature": 0}):
        with pytest.raises(ValueError):
            KGINConfig(**bad)
    # without a graph every item is its own entity and propagation still runs
    plain = KGIN(KGINConfig(dim=4, layers=2), n_users=3, n_items=3)
    plain.set_graph(TRAIN)
    assert torch.isfinite(plain.eval().score_all(torch.arange(3))).all()
