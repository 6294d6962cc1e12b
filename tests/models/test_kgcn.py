"""KGCN: the neighbour sample, both scoring paths, and that the graph reaches cold items."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recforge.core.batches import UserItemBatch
from recforge.core.graph import KnowledgeGraph
from recforge.models.kgcn import KGCN, KGCNConfig, sample_neighbours
from recforge.training.loop import TrainConfig, fit


def star_graph() -> KnowledgeGraph:
    """Entity 0 has five neighbours (1-5, relations 0/1 alternating), entity 6 one
    (7, relation 2), entity 8 none."""
    return KnowledgeGraph(
        head=np.array([0, 0, 0, 0, 0, 6]),
        relation=np.array([0, 1, 0, 1, 0, 2]),
        tail=np.array([1, 2, 3, 4, 5, 7]),
        n_entities=9,
        n_relations=3,
        item_entity=np.array([0, 6, 8]),
    )


def test_sample_neighbours_rules():
    graph = star_graph()
    entities, relations = sample_neighbours(graph, 3, np.random.default_rng(0))
    assert entities.shape == relations.shape == (9, 3)
    # five neighbours >= K: three distinct ones, each with its own relation
    assert len(set(entities[0].tolist())) == 3 and set(entities[0].tolist()) <= {1, 2, 3, 4, 5}
    assert relations[0].tolist() == [(e + 1) % 2 for e in entities[0].tolist()]
    # one neighbour < K: drawn with replacement; edges are undirected (7 sees 6)
    assert entities[6].tolist() == [7, 7, 7] and relations[6].tolist() == [2, 2, 2]
    assert entities[7].tolist() == [6, 6, 6]
    assert entities[3].tolist() == [0, 0, 0]
    # isolated: itself through the extra "self" relation (index n_relations)
    assert entities[8].tolist() == [8, 8, 8] and relations[8].tolist() == [3, 3, 3]
    again = sample_neighbours(graph, 3, np.random.default_rng(0))
    np.testing.assert_array_equal(again[0], entities)
    empty = graph.subset(np.zeros(6, bool))
    assert sample_neighbours(empty, 2, np.random.default_rng(0))[0][4].tolist() == [4, 4]


@pytest.mark.parametrize("aggregator", ["sum", "concat", "neighbor"])
@pytest.mark.parametrize("n_iter", [1, 2])
def test_pair_scores_match_score_all(aggregator, n_iter):
    torch.manual_seed(0)
    config = KGCNConfig(dim=6, n_neighbours=3, n_iter=n_iter, aggregator=aggregator)
    model = KGCN.for_graph(config, n_users=4, graph=star_graph()).eval()
    all_scores = model.score_all(torch.arange(4))  # (4, 3)
    users = torch.arange(4).repeat_interleave(3)
    items = torch.arange(3).repeat(4)
    pairs = model(UserItemBatch(users, items)).view(4, 3)
    torch.testing.assert_close(pairs, all_scores, rtol=1e-5, atol=1e-6)
    assert all_scores.std() > 0  # not a constant


def test_attention_depends_on_the_user():
    """Two users whose vectors align with different relations weigh item 0's neighbours
    differently (Eq. 1-2: softmax of user · relation)."""
    torch.manual_seed(0)
    model = KGCN.for_graph(KGCNConfig(dim=4, n_neighbours=4), n_users=2, graph=star_graph())
    with torch.no_grad():
        model.relation_embedding.weight.zero_()
        model.relation_embedding.weight[0, 0] = 5.0
        model.relation_embedding.weight[1, 1] = 5.0
        model.user_embedding.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]]))
    users = model.user_embedding.weight
    weights = KGCN._attention(
        users, model.relation_embedding(model.adjacency_relation[0]).view(1, 1, 1, 4, 4)
    )  # (2, 1, 1, 4)
    relation_of = model.adjacency_relation[0]
    # user 0 weighs relation-0 neighbours, user 1 relation-1 neighbours
    assert weights[0, 0, 0][relation_of == 0].sum() > 0.99
    assert weights[1, 0, 0][relation_of == 1].sum() > 0.99


def test_graph_reaches_items_without_interactions(planted):
    """Items 18-19 and 38-39 have no training interaction; only the graph says that 18-19
    belong with items 0-17 and 38-39 with items 20-37."""
    cold = [18, 19, 38, 39]
    train = planted.tolil()
    train[:, cold] = 0
    train = sp.csr_matrix(train)
    train.eliminate_zeros()
    items = np.arange(40)
    graph = KnowledgeGraph(
        head=items, relation=np.zeros(40, np.int64), tail=np.where(items < 20, 40, 41),
        n_entities=42, n_relations=1, item_entity=items,
    )  # fmt: skip
    torch.manual_seed(0)
    model = KGCN.for_graph(KGCNConfig(dim=8, n_neighbours=4), 60, graph)
    fit(
        model, train, TrainConfig(epochs=15, batch_size=128, lr=0.05, n_negatives=1, progress=False)
    )
    scores = model.score_all(torch.arange(60)).detach()
    group_a = scores[:30][:, [18, 19]].min(1).values > scores[:30][:, [38, 39]].max(1).values
    group_b = scores[30:][:, [38, 39]].min(1).values > scores[30:][:, [18, 19]].max(1).values
    assert torch.cat([group_a, group_b]).float().mean() >= 0.8


def test_sizes_live_in_the_config_and_bad_input():
    model = KGCN.for_graph(KGCNConfig(dim=4, n_neighbours=2), n_users=3, graph=star_graph())
    assert (model.config.n_entities, model.config.n_relations) == (9, 3)
    rebuilt = KGCN(model.config, n_users=3, n_items=3)
    rebuilt.load_state_dict(model.state_dict())
    torch.testing.assert_close(rebuilt.score_all(torch.arange(3)), model.score_all(torch.arange(3)))
    with pytest.raises(ValueError, match="n_entities"):
        KGCN(KGCNConfig(dim=4), n_users=3, n_items=3).attach_graph(star_graph())
    shell = KGCN(KGCNConfig(n_entities=2), n_users=3, n_items=3)  # items may share entities
    assert shell.item_entity.tolist() == [0, 1, 0]
    with pytest.raises(ValueError, match="aggregator"):
        KGCNConfig(aggregator="max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_iter"):
        KGCNConfig(n_iter=0)
    # without a graph each item is its own neighbour: a plain embedding model
    plain = KGCN(KGCNConfig(dim=4, n_neighbours=2), n_users=3, n_items=5)
    assert plain.adjacency_entity[:, 0].tolist() == [0, 1, 2, 3, 4]
