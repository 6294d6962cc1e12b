"""Knowledge-graph readers on files in KGCN's and RecBole's layouts, and on the real copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import assert_error, real_data, truncated_gzip, write
from recforge.core.errors import DataFormatError, DatasetNotFoundError
from recforge.data.catalog import load_dataset
from recforge.data.sources.knowledge import (
    KnowledgeFiles,
    build_knowledge_graph,
    read_entity_links,
    read_kgcn_lastfm,
    read_recbole_kg,
    read_triples,
)

KGCN_KG = "0\tmusic.artist.origin\t3\r\n1\tmusic.artist.origin\t3\r\n1\tmusic.genre\t4\r\n"
KGCN_LINKS = "10\t0\r\n11\t1\r\n12\t2\r\n"
LISTENS = "userID\tartistID\tweight\n2\t10\t13883\n2\t11\t5\n3\t99\t7\n"
RECBOLE_KG = (
    "head_id:token\trelation_id:token\ttail_id:token\n"
    "m.a\tfilm.film.genre\tm.drama\n"
    "m.b\tfilm.film.genre\tm.drama\n"
    "m.drama\tfilm.film_genre.films_in_this_genre\tm.a\n"
)
RECBOLE_LINK = "item_id:token\tentity_id:token\n242\tm.a\n302\tm.b\n"


def write_kgcn(folder: Path) -> Path:
    write(folder / "kg.txt", KGCN_KG)
    write(folder / "item_index2entity_id.txt", KGCN_LINKS)
    write(folder / "user_artists.dat", LISTENS)
    return folder


def test_kgcn_lastfm_exact_values(tmp_path: Path) -> None:
    tables = read_kgcn_lastfm(write_kgcn(tmp_path))
    frame = tables.interactions
    assert tables.name == "kgcn-lastfm-music"
    assert frame[["user_id", "item_id", "event", "value"]].values.tolist() == [
        [2, 10, "listen", 13883.0],
        [2, 11, "listen", 5.0],
        [3, 99, "listen", 7.0],
    ]
    assert frame["timestamp"].isna().all()
    knowledge = tables.extras["knowledge"]
    # CRLF line ends leave no '\r' in the last field
    assert knowledge.triples.values.tolist()[0] == ["0", "music.artist.origin", "3"]
    assert knowledge.links.values.tolist() == [["10", "0"], ["11", "1"], ["12", "2"]]


def test_graph_indexing_items_first_unlinked_items_isolated(tmp_path: Path) -> None:
    knowledge = read_kgcn_lastfm(write_kgcn(tmp_path)).extras["knowledge"]
    graph = build_knowledge_graph(knowledge, np.array([11, 10, 99]))  # 99 has no link
    # linked items' entities first (item order), then other triple entities, then isolated
    assert graph.item_entity.tolist() == [0, 1, 4]
    assert graph.n_entities == 5  # entities "1", "0", "3", "4" + one isolated for item 99
    assert graph.relation_names == ("music.artist.origin", "music.genre")
    assert graph.triples().tolist() == [[1, 0, 2], [0, 0, 2], [0, 1, 3]]
    # the link of item 12 (entity "2") is ignored: "2" is in no triple, so no entity
    assert not (graph.head == 4).any() and not (graph.tail == 4).any()


def test_graph_keeps_entities_of_unlinked_items_and_shared_links() -> None:
    files = KnowledgeFiles(
        triples=pd.DataFrame({"head": ["x", "y"], "relation": ["r", "r"], "tail": ["z", "z"]}),
        links=pd.DataFrame({"item_id": ["1", "2"], "entity_id": ["x", "x"]}),
    )
    graph = build_knowledge_graph(files, ["1", "2", "3"])
    assert graph.item_entity.tolist() == [0, 0, 3]  # two items share entity x
    assert graph.n_entities == 4 and graph.n_triples == 2
    with pytest.raises(ValueError, match="unique"):
        build_knowledge_graph(files, ["1", "1"])


def test_recbole_atomic_files_with_headers(tmp_path: Path) -> None:
    write(tmp_path / "ml-100k.kg.gz", RECBOLE_KG, compress=True)
    write(tmp_path / "ml-100k.link", RECBOLE_LINK)
    knowledge = read_recbole_kg(tmp_path)
    assert len(knowledge.triples) == 3 and len(knowledge.links) == 2
    graph = build_knowledge_graph(knowledge, np.array([242, 302, 1]))  # int ids match text
    assert graph.item_entity.tolist() == [0, 1, 3]
    assert graph.n_relations == 2 and graph.triples().tolist()[2] == [2, 1, 0]


def test_recbole_wrong_header_and_missing_files(tmp_path: Path) -> None:
    path = write(tmp_path / "a" / "x.kg", "head\trelation\ttail\nm.a\tr\tm.b\n")
    write(tmp_path / "a" / "x.link", RECBOLE_LINK)
    with pytest.raises(DataFormatError, match="expected header") as error:
        read_recbole_kg(tmp_path / "a")
    assert_error(error, path, 1)
    write(tmp_path / "b" / "x.kg", RECBOLE_KG)
    with pytest.raises(DatasetNotFoundError, match=r"x\.link"):
        read_recbole_kg(tmp_path / "b")
    (tmp_path / "c").mkdir()
    with pytest.raises(DatasetNotFoundError, match=r"expected one <name>\.kg file"):
        read_recbole_kg(tmp_path / "c")
    with pytest.raises(DatasetNotFoundError, match=r"user_artists\.dat \(or \.gz\) not found"):
        read_kgcn_lastfm(tmp_path / "c")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("0\tr\t1\n2\tr\n", 2, "expected 3 fields, found 2"),
        ("0\tr\t1\n2\tr\t3\t4\n", 2, "expected 3 fields, found 4"),
        ("0\tr\t1\n0\tr\t1\n5\t\t3\n", 3, "missing field 'relation'"),
    ],
)
def test_malformed_triples_name_file_and_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = write(tmp_path / "kg.txt", text)
    with pytest.raises(DataFormatError, match=message) as error:
        read_triples(path)
    assert_error(error, path, line)


def test_repeated_triples_and_links(tmp_path: Path) -> None:
    triples = read_triples(write(tmp_path / "kg.txt", "0\tr\t1\n0\tr\t1\n1\tr\t0\n"))
    assert triples.values.tolist() == [["0", "r", "1"], ["1", "r", "0"]]
    links = read_entity_links(write(tmp_path / "same.txt", "10\t0\n10\t0\n11\t1\n"))
    assert links.values.tolist() == [["10", "0"], ["11", "1"]]
    path = write(tmp_path / "links.txt", RECBOLE_LINK + "242\tm.z\n")
    with pytest.raises(DataFormatError, match=r"'242' is linked to entity 'm\.z'") as error:
        read_entity_links(path, header=("item_id:token", "entity_id:token"))
    assert_error(error, path, 4)


def test_truncated_gzip_is_a_format_error(tmp_path: Path) -> None:
    path = truncated_gzip(tmp_path / "kg.txt.gz", "0\tr\t1\n")
    with pytest.raises(DataFormatError, match="truncated or corrupt"):
        read_triples(path)


@pytest.mark.slow
def test_real_kgcn_lastfm_counts() -> None:
    folder = real_data("kgcn-lastfm-music")
    tables = read_kgcn_lastfm(folder)
    assert len(tables.interactions) == 92_834
    knowledge = tables.extras["knowledge"]
    graph = build_knowledge_graph(knowledge, knowledge.links["item_id"].to_numpy())
    # the KGCN paper's Table 1: 9,366 entities, 60 relations, 15,518 triples
    assert (graph.n_entities, graph.n_relations, graph.n_triples) == (9_366, 60, 15_518)
    assert graph.item_entity.tolist() == list(range(3_846))  # KGCN: item i is entity i
    assert load_dataset("kgcn-lastfm-music", root=folder.parent).name == "kgcn-lastfm-music"


@pytest.mark.slow
def test_real_recbole_ml100k_kg_counts() -> None:
    knowledge = read_recbole_kg(real_data("ml-100k-kg-recbole"))
    graph = build_knowledge_graph(knowledge, np.arange(1, 1683))
    assert (graph.n_triples, graph.n_relations) == (91_631, 24)
    assert int((graph.item_entity < 1_598).sum()) == 1_598  # linked movies come first
    assert graph.n_entities == 34_628 + 1_682 - 1_598  # plus one isolated per unlinked movie
