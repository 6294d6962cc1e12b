"""Knowledge-graph files: triples, item-to-entity links, and the datasets that ship them.

Two published layouts are read:

* KGCN's (Wang et al., WWW 2019, github.com/hwwang55/KGCN ``data/music``): ``kg.txt``
  (TAB ``head relation tail``, no header), ``item_index2entity_id.txt`` (TAB ``item entity``,
  no header) and, for Last.FM, HetRec 2011's ``user_artists.dat`` (TAB, header
  ``userID artistID weight``, weight = listening count);
* RecBole's atomic files (``<name>.kg`` with header ``head_id:token relation_id:token
  tail_id:token`` and ``<name>.link`` with header ``item_id:token entity_id:token``).

Every file may be gzip'd (``.gz``). Entity, relation and item ids are read as text tokens
(``"3846"``, ``"m.0bln8"``), so the two layouts need no special casing.

What happens to imperfect data (each behaviour is tested):

* a malformed line (wrong field count, empty field) is a
  :class:`~recforge.core.errors.DataFormatError` naming the file and the 1-based line;
* an item linked to two different entities is an error naming the second line; a repeated
  identical link is dropped;
* repeated triples are kept once;
* :func:`build_knowledge_graph` gives every entity that appears in a triple an index,
  whether or not an item links to it (most are attributes: genres, countries, people); an
  item of the data without a link gets an isolated entity of its own (no triples), so
  KG-aware models still score it from its own embedding; links to items that are not in
  the data are ignored (their entity stays in the graph as a plain entity).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recforge.core.errors import DataFormatError, DatasetNotFoundError
from recforge.core.graph import KnowledgeGraph
from recforge.data.sources._common import Field, find_file, read_delimited
from recforge.data.tables import Tables, make_interactions

logger = logging.getLogger(__name__)

_TRIPLE_FIELDS = (Field("head", "str"), Field("relation", "str"), Field("tail", "str"))
_LINK_FIELDS = (Field("item_id", "str"), Field("entity_id", "str"))
RECBOLE_KG_HEADER = ("head_id:token", "relation_id:token", "tail_id:token")
RECBOLE_LINK_HEADER = ("item_id:token", "entity_id:token")
LASTFM_HEADER = ("userID", "artistID", "weight")


@dataclass(frozen=True)
class KnowledgeFiles:
    """A knowledge graph as read, with raw text ids.

    Attributes:
        triples: columns ``head``, ``relation``, ``tail`` (str), duplicates removed.
        links: columns ``item_id``, ``entity_id`` (str), one row per linked item.
        source: where the files came from, for messages.
    """

    triples: pd.DataFrame
    links: pd.DataFrame
    source: str = ""


def read_triples(path: str | Path, *, header: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a TAB-separated ``head relation tail`` file into text columns.

    Args:
        path: the file (``.gz`` decompressed on the fly).
        header: the exact header names when the file has a header line.

    Returns:
        Columns ``head``, ``relation``, ``tail`` (str); repeated triples are kept once.

    Raises:
        DataFormatError: a line without exactly three non-empty fields (file and line named),
            or a wrong header.
    """
    frame = read_delimited(path, _TRIPLE_FIELDS, sep="\t", header=header)
    n_rows = len(frame)
    frame = frame.drop_duplicates(ignore_index=True)
    if len(frame) < n_rows:
        logger.info("%s: %d repeated triples kept once", path, n_rows - len(frame))
    return frame


def read_entity_links(path: str | Path, *, header: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a TAB-separated ``item entity`` file into text columns ``item_id``, ``entity_id``.

    Raises:
        DataFormatError: a malformed line, or an item linked to a second, different entity
            (the line of the second link is named).
    """
    frame = read_delimited(path, _LINK_FIELDS, sep="\t", header=header)
    repeated = frame.duplicated("item_id", keep="first").to_numpy()
    if repeated.any():
        first_of_item = frame.drop_duplicates("item_id").set_index("item_id")["entity_id"]
        expected = first_of_item.reindex(frame["item_id"]).to_numpy()
        conflict = repeated & (expected != frame["entity_id"].to_numpy())
        if conflict.any():
            row = int(np.flatnonzero(conflict)[0])
            item = frame["item_id"].iloc[row]
            raise DataFormatError(
                path,
                f"item {item!r} is linked to entity {frame['entity_id'].iloc[row]!r} here "
                f"and to {expected[row]!r} before",
                line=row + 1 + (header is not None),
            )
        frame = frame[~repeated].reset_index(drop=True)
    return frame


def read_kgcn_lastfm(folder: str | Path) -> Tables:
    """KGCN's Last.FM data: HetRec 2011 listening counts plus the authors' knowledge graph.

    Args:
        folder: holds ``user_artists.dat``, ``item_index2entity_id.txt`` and ``kg.txt``.

    Returns:
        Tables named ``kgcn-lastfm-music`` whose interactions are every (user, artist) pair
        with event ``listen`` and value = listening count (no timestamps), and whose
        ``extras["knowledge"]`` is the :class:`KnowledgeFiles` (artist ids as text).
        KGCN's protocol keeps only the artists linked to an entity; that filtering is the
        caller's (see ``benchmarks/knowledge_graph.py``), the reader keeps everything.

    Raises:
        DatasetNotFoundError: a file is missing.
        DataFormatError: a malformed line (file and line named).
    """
    folder = Path(folder)
    paths = {}
    for name in ("user_artists.dat", "item_index2entity_id.txt", "kg.txt"):
        found = find_file(folder, name)
        if found is None:
            raise DatasetNotFoundError(f"{folder / name} (or .gz) not found")
        paths[name] = found
    listens = read_delimited(
        paths["user_artists.dat"],
        (Field("user_id", "int"), Field("item_id", "int"), Field("weight", "float")),
        sep="\t",
        header=LASTFM_HEADER,
    )
    interactions = make_interactions(
        listens["user_id"].to_numpy(),
        listens["item_id"].to_numpy(),
        event="listen",
        value=listens["weight"].to_numpy(),
        source=str(paths["user_artists.dat"]),
    )
    knowledge = KnowledgeFiles(
        triples=read_triples(paths["kg.txt"]),
        links=read_entity_links(paths["item_index2entity_id.txt"]),
        source=str(folder),
    )
    return Tables(interactions, name="kgcn-lastfm-music", extras={"knowledge": knowledge})


def read_recbole_kg(folder: str | Path, name: str | None = None) -> KnowledgeFiles:
    """RecBole's atomic knowledge files ``<name>.kg`` and ``<name>.link`` (each maybe .gz).

    Args:
        folder: the dataset folder.
        name: the file prefix (``ml-100k``); by default the one ``*.kg``/``*.kg.gz`` file
            in ``folder``.

    Raises:
        DatasetNotFoundError: a file is missing, or ``name`` is omitted and the folder holds
            no or several ``.kg`` files.
        DataFormatError: a wrong header or a malformed line (file and line named).
    """
    folder = Path(folder)
    if name is None:
        prefixes = sorted(
            {p.name.removesuffix(".gz").removesuffix(".kg") for p in folder.glob("*.kg*")}
        )
        if len(prefixes) != 1:
            raise DatasetNotFoundError(
                f"{folder}: expected one <name>.kg file, found {prefixes or 'none'}"
            )
        name = prefixes[0]
    kg_path = find_file(folder, f"{name}.kg")
    link_path = find_file(folder, f"{name}.link")
    for path, suffix in ((kg_path, "kg"), (link_path, "link")):
        if path is None:
            raise DatasetNotFoundError(f"{folder / f'{name}.{suffix}'} (or .gz) not found")
    assert kg_path is not None and link_path is not None
    return KnowledgeFiles(
        triples=read_triples(kg_path, header=RECBOLE_KG_HEADER),
        links=read_entity_links(link_path, header=RECBOLE_LINK_HEADER),
        source=str(folder),
    )


def build_knowledge_graph(
    knowledge: KnowledgeFiles, item_ids: Sequence | np.ndarray
) -> KnowledgeGraph:
    """Index a knowledge graph against the items of a dataset.

    Entity indices: first the linked items' entities in item order, then every other
    entity of the triples in order of first appearance, then one isolated entity per item
    without a link. Relations are indexed in order of first appearance.

    Args:
        knowledge: triples and links with raw text ids.
        item_ids: raw item ids in ``item_idx`` order (``Prepared.item_vocab.ids_``); they
            are matched to the links' item ids by their text form (``242`` ~ ``"242"``).

    Returns:
        The :class:`~recforge.core.graph.KnowledgeGraph` with ``item_entity`` of length
        ``len(item_ids)``.

    >>> files = KnowledgeFiles(
    ...     triples=pd.DataFrame({"head": ["m.a", "m.b"], "relation": ["genre", "genre"],
    ...                           "tail": ["m.g", "m.g"]}),
    ...     links=pd.DataFrame({"item_id": ["10", "11", "99"], "entity_id": ["m.a", "m.b", "m.z"]}))
    >>> graph = build_knowledge_graph(files, [11, 10, 12])
    >>> graph.item_entity.tolist(), graph.n_entities, graph.head.tolist(), graph.tail.tolist()
    ([0, 1, 3], 4, [1, 0], [2, 2])
    """
    items = pd.Index(np.asarray(item_ids).astype(str))
    if items.has_duplicates:
        raise ValueError("item_ids must be unique")
    link_map = pd.Series(
        knowledge.links["entity_id"].to_numpy(), index=knowledge.links["item_id"].to_numpy()
    )
    linked = link_map.reindex(items)  # (I,) entity token or NaN
    has_link = linked.notna().to_numpy()
    item_tokens = linked[has_link].to_numpy(dtype=object)
    triples = knowledge.triples
    triple_tokens = triples[["head", "tail"]].to_numpy(dtype=object).ravel()  # h0 t0 h1 t1 ...
    codes, uniques = pd.factorize(np.concatenate([item_tokens, triple_tokens]))
    n_linked = len(item_tokens)
    item_entity = np.empty(len(items), np.int64)
    item_entity[has_link] = codes[:n_linked]
    item_entity[~has_link] = len(uniques) + np.arange(int((~has_link).sum()))
    relation_codes, relation_names = pd.factorize(triples["relation"])
    n_unused = len(link_map) - n_linked
    logger.info(
        "%s: %d of %d items linked (%d links to items not in the data ignored), %d entities, "
        "%d relations, %d triples",
        knowledge.source or "knowledge graph",
        n_linked,
        len(items),
        n_unused,
        len(uniques) + int((~has_link).sum()),
        len(relation_names),
        len(triples),
    )
    return KnowledgeGraph(
        head=codes[n_linked::2],
        relation=relation_codes,
        tail=codes[n_linked + 1 :: 2],
        n_entities=len(uniques) + int((~has_link).sum()),
        n_relations=len(relation_names),
        item_entity=item_entity,
        relation_names=tuple(str(name) for name in relation_names),
    )
