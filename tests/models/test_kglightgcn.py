"""KG-LightGCN: the items' layer 0 against a hand computation, LightGCN without a graph,
training reaches the attribute vectors, and the links survive a checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recforge.core.graph import KnowledgeGraph
from recforge.models import MODELS
from recforge.models.checkpoint import load_checkpoint, save_checkpoint
from recforge.models.kgcn import KGCNConfig
from recforge.models.kgin import KGINConfig
from recforge.models.kglightgcn import KGLightGCN, KGLightGCNConfig
from recforge.models.lightgcn import LightGCN, LightGCNConfig
from recforge.training.loop import TrainConfig, fit

TRAIN = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 0, 1, 0], [1, 0, 1, 0]], dtype=np.float32))


def film_graph() -> KnowledgeGraph:
    """Items 0-3 are entities 0-3. Genre 4 is linked from items 0 and 1 (relation 0) and,
    once more, from item 0 (relation 1); item 2 is the tail of director 5's triple; items 1
    and 2 are linked to each other; item 3 has no triple; entity 6 links only to entity 5."""
    return KnowledgeGraph(
        head=np.array([0, 1, 0, 5, 1, 6]),
        relation=np.array([0, 0, 1, 2, 3, 2]),
        tail=np.array([4, 4, 4, 2, 2, 5]),
        n_entities=7,
        n_relations=4,
        item_entity=np.array([0, 1, 2, 3]),
    )


def small(factors: int = 3) -> KGLightGCN:
    torch.manual_seed(0)
    model = KGLightGCN.for_graph(
        KGLightGCNConfig(factors=factors, layers=2), n_users=3, graph=film_graph()
    )
    model.set_graph(TRAIN)
    return model


def test_layer0_adds_the_mean_of_each_items_linked_entities():
    model = small()
    ids = model.item_embedding.weight.detach()
    a = model.entity_embedding.weight.detach()
    expected = torch.stack([
        ids[0] + (a[4] + a[4]) / 2,  # genre 4 through two relations weighs twice
        ids[1] + (a[4] + a[2]) / 2,  # the genre and item 2
        ids[2] + (a[5] + a[1]) / 2,  # as a tail too: director 5 and item 1
        ids[3],  # no triple: its id vector alone
    ])  # fmt: skip
    torch.testing.assert_close(model.item_layer0().detach(), expected)


def test_items_sharing_one_entity_are_both_linked():
    graph = KnowledgeGraph(
        head=np.array([0]), relation=np.array([0]), tail=np.array([1]),
        n_entities=2, n_relations=1, item_entity=np.array([0, 0]),
    )  # fmt: skip
    torch.manual_seed(0)
    model = KGLightGCN.for_graph(KGLightGCNConfig(factors=2), n_users=1, graph=graph)
    a1 = model.entity_embedding.weight.detach()[1]
    torch.testing.assert_close(
        model.item_layer0().detach(), model.item_embedding.weight.detach() + a1
    )


def test_without_a_graph_it_scores_as_lightgcn():
    torch.manual_seed(0)
    plain = LightGCN(LightGCNConfig(factors=4, layers=2), n_users=3, n_items=4)
    torch.manual_seed(0)
    model = KGLightGCN(KGLightGCNConfig(factors=4, layers=2), n_users=3, n_items=4)
    for m in (plain, model):
        m.set_graph(TRAIN)
    users = torch.arange(3)
    torch.testing.assert_close(model.eval().score_all(users), plain.eval().score_all(users))


def test_training_moves_the_linked_entities_only():
    model = small(factors=8)
    before = model.entity_embedding.weight.detach().clone()
    fit(model, TRAIN, TrainConfig(loss="bpr", epochs=3, batch_size=2, lr=0.05, progress=False))
    moved = (model.entity_embedding.weight.detach() - before).abs().sum(1) > 0
    # entities 1, 2, 4, 5 are some item's neighbour; 0 and 3 are no item's, 6 only 5's
    assert moved.tolist() == [False, True, True, False, True, True, False]


def test_checkpoint_restores_the_links_and_the_scores(tmp_path):
    model = small().eval()
    users = torch.arange(3)
    expected = model.score_all(users)
    save_checkpoint(model, tmp_path / "model.pt", MODELS)
    loaded = load_checkpoint(tmp_path / "model.pt", MODELS)
    assert isinstance(loaded, KGLightGCN)
    torch.testing.assert_close(loaded.link_item, model.link_item)
    torch.testing.assert_close(loaded.eval().score_all(users), expected)


def test_a_graph_of_another_size_is_refused():
    model = small()
    other = KnowledgeGraph(
        head=np.array([0]), relation=np.array([0]), tail=np.array([1]),
        n_entities=9, n_relations=4, item_entity=np.array([0, 1, 2, 3]),
    )  # fmt: skip
    with pytest.raises(ValueError, match="n_entities, n_relations, n_items"):
        model.attach_graph(other)


@pytest.mark.parametrize("config", [KGLightGCNConfig, KGINConfig, KGCNConfig])
@pytest.mark.parametrize("field", ["n_entities", "n_relations"])
def test_config_refuses_negative_graph_sizes(config, field):
    with pytest.raises(ValueError, match="n_entities"):
        config(**{field: -1})
