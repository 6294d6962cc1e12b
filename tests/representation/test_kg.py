"""TransE and RotatE recover a planted graph; filtered ranking, splitting and the graph type."""

from __future__ import annotations

import numpy as np
import pytest

from recforge.core.errors import RecforgeError
from recforge.core.graph import KnowledgeGraph
from recforge.representation.kg import (
    RotatE,
    RotatEConfig,
    TransE,
    TransEConfig,
    filtered_ranks,
    link_prediction,
    split_triples,
)

N_ITEMS, N_GROUPS = 60, 3


def planted_graph() -> KnowledgeGraph:
    """60 items in 3 groups; relation 0 (genre), 1 (country), 2 (language) each send an item
    to its group's attribute entity (entities 60-68): an item's country and language tell
    its genre."""
    heads, relations, tails = [], [], []
    for item in range(N_ITEMS):
        group = item % N_GROUPS
        for relation in range(3):
            heads.append(item)
            relations.append(relation)
            tails.append(N_ITEMS + N_GROUPS * relation + group)
    return KnowledgeGraph(
        head=np.array(heads),
        relation=np.array(relations),
        tail=np.array(tails),
        n_entities=N_ITEMS + 3 * N_GROUPS,
        n_relations=3,
        item_entity=np.arange(N_ITEMS),
    )


def held_out_genres(graph: KnowledgeGraph) -> tuple[KnowledgeGraph, np.ndarray]:
    test = np.flatnonzero((graph.relation == 0) & (graph.head < 15))  # 15 genre triples
    keep = np.setdiff1d(np.arange(graph.n_triples), test)
    return graph.subset(keep), graph.triples()[test]


MODELS = {
    "transe": lambda seed=0: TransE(
        TransEConfig(dim=16, margin=2.0, epochs=60, batch_size=32, lr=0.01, seed=seed)
    ),
    "rotate": lambda seed=0: RotatE(
        RotatEConfig(
            dim=16, gamma=6.0, n_negatives=16, epochs=60, batch_size=64, lr=0.05, seed=seed
        )
    ),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_recovers_held_out_genres_from_country_and_language(name):
    graph = planted_graph()
    train, test = held_out_genres(graph)
    model = MODELS[name]().fit(train)
    tails = link_prediction(model, test, graph.triples(), direction="tail")
    # 69 candidate entities: chance is a mean reciprocal rank near 0.07 (seeds 0-3 of these
    # settings reach 0.73-1.0 on this graph)
    assert tails["mrr"] >= 0.6, tails
    assert tails["hits@3"] >= 0.8, tails
    # the true genre outscores the other two genres (chance: one in three)
    scores = model.score_all(test[:, 0], test[:, 1], predict="tail")[:, N_ITEMS : N_ITEMS + 3]
    assert (scores.argmax(1) == test[:, 2] - N_ITEMS).mean() >= 0.6
    both = link_prediction(model, test, graph.triples())
    assert set(both) == {"mrr", "hits@1", "hits@3", "hits@10"}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_same_seed_same_vectors_and_score_matches_score_all(name):
    graph = planted_graph()
    first, second = MODELS[name](3).fit(graph), MODELS[name](3).fit(graph)
    np.testing.assert_array_equal(first.entity_vectors_, second.entity_vectors_)
    np.testing.assert_array_equal(first.relation_vectors_, second.relation_vectors_)
    triples = graph.triples()[:5]
    all_tails = first.score_all(triples[:, 0], triples[:, 1], predict="tail")
    np.testing.assert_allclose(
        first.score(triples[:, 0], triples[:, 1], triples[:, 2]),
        all_tails[np.arange(5), triples[:, 2]],
        rtol=1e-5,
        atol=1e-5,
    )
    all_heads = first.score_all(triples[:, 2], triples[:, 1], predict="head")
    np.testing.assert_allclose(
        all_heads[np.arange(5), triples[:, 0]], all_tails[np.arange(5), triples[:, 2]], atol=1e-4
    )


def test_transe_entities_have_unit_norm_and_bad_input():
    model = TransE(TransEConfig(dim=8, epochs=2)).fit(planted_graph())
    np.testing.assert_allclose(np.linalg.norm(model.entity_vectors_, axis=1), 1.0, rtol=1e-5)
    empty = planted_graph().subset(np.zeros(N_ITEMS * 3, bool))
    with pytest.raises(RecforgeError, match="without triples"):
        TransE().fit(empty)
    with pytest.raises(RuntimeError, match="not fitted"):
        RotatE().score_all(np.array([0]), np.array([0]), predict="tail")
    with pytest.raises(ValueError, match="predict"):
        model.score_all(np.array([0]), np.array([0]), predict="middle")
    with pytest.raises(ValueError, match="norm"):
        TransEConfig(norm=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_negatives"):
        RotatEConfig(n_negatives=0)


def test_filtered_ranks_by_hand():
    scores = np.array([[0.9, 0.5, 0.7, 0.5], [0.3, 0.3, 0.3, 0.3], [0.1, 0.8, 0.2, 0.9]])
    known = np.zeros((3, 4), bool)
    known[0, [0, 1]] = True  # entity 0 is another true answer of query 0: filtered
    known[2, 3] = True
    ranks = filtered_ranks(scores, np.array([1, 2, 1]), known)
    # query 0: entity 2 above, entity 3 tied -> 2.5; query 1: all tied -> middle 2.5;
    # query 2: entity 3 filtered, nothing above -> 1
    assert ranks.tolist() == [2.5, 2.5, 1.0]


class _Oracle:
    """Scores every entity 0 except the ones given, to check link_prediction's bookkeeping."""

    n_entities_, n_relations_ = 4, 1

    def score_all(self, anchor, relation, *, predict):
        scores = np.zeros((len(anchor), 4))
        scores[:, 3] = 2.0  # entity 3 always first
        scores[:, 2] = 1.0  # entity 2 always second
        return scores


def test_link_prediction_filters_other_known_answers():
    test = np.array([[0, 0, 2]])
    alone = link_prediction(_Oracle(), test, test, direction="tail")  # 3 is above 2
    assert alone["mrr"] == 0.5 and alone["hits@1"] == 0.0 and alone["hits@3"] == 1.0
    known = np.array([[0, 0, 2], [0, 0, 3]])  # 3 is a true tail of (0, 0, ?) too
    filtered = link_prediction(_Oracle(), test, known, direction="tail")
    assert filtered["mrr"] == 1.0
    heads = link_prediction(_Oracle(), test, known, direction="head")  # head 0 ties 0 and 1
    assert heads["mrr"] == pytest.approx(1 / 3.5)
    assert np.isnan(link_prediction(_Oracle(), np.empty((0, 3)), known)["mrr"])


def test_split_keeps_held_out_entities_in_training():
    graph = planted_graph()
    train, valid, test = split_triples(graph, (0.6, 0.2, 0.2), rng=np.random.default_rng(0))
    assert train.n_triples + len(valid) + len(test) == graph.n_triples
    assert 0 < len(test) <= 36 and 0 < len(valid) <= 36
    trained = set(train.head.tolist()) | set(train.tail.tolist())
    for triples in (valid, test):
        assert set(triples[:, 0]) <= trained and set(triples[:, 2]) <= trained
    again = split_triples(graph, (0.6, 0.2, 0.2), rng=np.random.default_rng(0))
    np.testing.assert_array_equal(again[2], test)
    with pytest.raises(ValueError, match="ratios"):
        split_triples(graph, (0.5, 0.2, 0.2), rng=np.random.default_rng(0))


def test_knowledge_graph_checks_its_arrays():
    ok = {"head": np.array([0]), "relation": np.array([0]), "tail": np.array([1])}
    with pytest.raises(ValueError, match="tail holds indices outside"):
        KnowledgeGraph(**ok, n_entities=1, n_relations=1, item_entity=np.array([0]))
    with pytest.raises(ValueError, match="one length"):
        KnowledgeGraph(
            head=np.array([0, 1]), relation=np.array([0]), tail=np.array([1]),
            n_entities=2, n_relations=1, item_entity=np.array([0]),
        )  # fmt: skip
    with pytest.raises(ValueError, match="integer"):
        KnowledgeGraph(**{**ok, "head": np.array([0.5])}, n_entities=2, n_relations=1,
                       item_entity=np.array([0]))  # fmt: skip
    graph = KnowledgeGraph(**ok, n_entities=2, n_relations=1, item_entity=np.array([0]))
    with pytest.raises(ValueError):
        graph.head[0] = 1  # read-only arrays: a frozen graph stays frozen
