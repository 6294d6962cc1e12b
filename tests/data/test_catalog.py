"""Tests of the dataset catalogue and the downloader (file:// URLs only, never the network)."""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from pathlib import Path

import pytest

from recforge.core.errors import ConfigError, DataFormatError, DatasetNotFoundError
from recforge.data.catalog import (
    CATALOG,
    dataset_info,
    list_datasets,
    load_dataset,
    load_ncf,
)
from recforge.data.download import ChecksumError, DownloadError, download

U_DATA = "1\t10\t4\t881250949\n2\t10\t5\t881250950\n"


def make_zip(entries: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, text in entries.items():
            bundle.writestr(name, text)
    return buffer.getvalue()


def serve(tmp_path: Path, name: str, payload: bytes) -> tuple[str, str]:
    """Write ``payload`` where a file:// URL reaches it; return the URL and its sha256."""
    path = tmp_path / "server" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    return path.as_uri(), hashlib.sha256(payload).hexdigest()


def test_catalogue_names_and_entries() -> None:
    names = list_datasets()
    for required in (
        "ml-100k",
        "ml-1m",
        "ml-10m",
        "ml-20m",
        "ml-25m",
        "ml-32m",
        "ml-latest-small",
        "amazon-beauty",
        "ncf-ml-1m",
        "yelp",
    ):
        assert required in names
    assert dataset_info("ml-1m").files[0].url == (
        "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
    )
    assert dataset_info("amazon-beauty").folder == "amazon-s3rec"
    assert dataset_info("ncf-ml-1m").folder == "ml-1m/ncf"
    for info in CATALOG.values():
        assert info.license and info.description and info.homepage.startswith("https://")
        assert info.files or info.manual_download  # downloadable, or says where to get it
        for remote in info.files:
            assert remote.url.startswith("https://")
            assert remote.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", remote.sha256)
            assert remote.md5 is None or re.fullmatch(r"[0-9a-f]{32}", remote.md5)


def test_unknown_dataset_lists_the_known_ones() -> None:
    with pytest.raises(
        DatasetNotFoundError, match="unknown dataset 'ml-2m'; known: ml-100k, ml-1m"
    ):
        dataset_info("ml-2m")


def test_load_dataset_dispatches_to_the_reader(tmp_path: Path) -> None:
    (tmp_path / "ml-100k").mkdir()
    (tmp_path / "ml-100k" / "u.data").write_text(U_DATA)
    tables = load_dataset("ml-100k", root=tmp_path)
    assert tables.name == "ml-100k"
    assert tables.interactions["item_id"].tolist() == [10, 10]
    (tmp_path / "amazon-s3rec").mkdir()
    (tmp_path / "amazon-s3rec" / "Beauty.txt").write_text("1 1 2\n2 2\n")
    beauty = load_dataset("amazon-beauty", root=tmp_path)
    assert beauty.name == "amazon-beauty" and len(beauty.interactions) == 3


def test_load_dataset_missing_folder_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="recforge datasets download ml-20m"):
        load_dataset("ml-20m", root=tmp_path)
    with pytest.raises(DatasetNotFoundError, match=r"yelp\.com/dataset"):
        load_dataset("yelp", root=tmp_path)
    with pytest.raises(ValueError, match=r"use load_ncf\('ml-1m'\)"):
        load_dataset("ncf-ml-1m", root=tmp_path)


def test_load_ncf_reads_root_ml_1m_ncf(tmp_path: Path) -> None:
    folder = tmp_path / "ml-1m" / "ncf"
    folder.mkdir(parents=True)
    (folder / "ml-1m.train.rating").write_text("0\t1\t5\t1\n")
    (folder / "ml-1m.test.rating").write_text("0\t0\t3\t2\n")
    (folder / "ml-1m.test.negative").write_text("(0,0)\t2\n")
    data = load_ncf("ml-1m", root=tmp_path)
    assert (data.n_users, data.n_items) == (1, 3)


def test_download_unzips_a_verified_archive(tmp_path: Path) -> None:
    url, sha256 = serve(tmp_path, "ml-100k.zip", make_zip({"ml-100k/u.data": U_DATA}))
    root = tmp_path / "data"
    folder = download("ml-100k", root, url=url, sha256=sha256, progress=False)
    assert folder == root / "ml-100k"
    assert (folder / "u.data").read_text() == U_DATA
    assert sorted(p.name for p in root.iterdir()) == ["ml-100k"]  # no temp files left
    assert len(load_dataset("ml-100k", root=root).interactions) == 2
    # present already: returns without fetching (the URL is unreachable)
    assert download("ml-100k", root, url="file:///nonexistent/x.zip", progress=False) == folder


def test_download_sha256_mismatch_keeps_nothing(tmp_path: Path) -> None:
    url, _ = serve(tmp_path, "ml-100k.zip", make_zip({"ml-100k/u.data": U_DATA}))
    root = tmp_path / "data"
    with pytest.raises(ChecksumError, match="sha256 mismatch: expected 0000"):
        download("ml-100k", root, url=url, sha256="0" * 64, progress=False)
    assert list(root.iterdir()) == []


def test_download_checks_the_publishers_md5(tmp_path: Path) -> None:
    # the catalogue's GroupLens MD5 cannot match this home-made zip
    url, _ = serve(tmp_path, "ml-100k.zip", make_zip({"ml-100k/u.data": U_DATA}))
    with pytest.raises(ChecksumError, match="md5 mismatch: expected 0e33842e"):
        download("ml-100k", tmp_path / "data", url=url, progress=False)


def test_download_without_checksum_needs_allow_unverified(tmp_path: Path) -> None:
    payload = make_zip({"ml-32m/ratings.csv": "userId,movieId,rating,timestamp\n1,2,3.5,4\n"})
    url, sha256 = serve(tmp_path, "ml-32m.zip", payload)
    root = tmp_path / "data"
    with pytest.raises(ChecksumError, match=f"its sha256 is {sha256}.*--allow-unverified"):
        download("ml-32m", root, url=url, progress=False)
    assert list(root.iterdir()) == []
    folder = download("ml-32m", root, url=url, allow_unverified=True, progress=False)
    assert load_dataset("ml-32m", root=root).interactions["value"].tolist() == [3.5]
    assert folder == root / "ml-32m"


def test_download_renames_the_archive_folder(tmp_path: Path) -> None:
    payload = make_zip(
        {"ml-10M100K/ratings.dat": "1::2::3::4\n", "ml-10M100K/movies.dat": "2::A (1990)::Drama\n"}
    )
    url, sha256 = serve(tmp_path, "ml-10m.zip", payload)
    folder = download("ml-10m", tmp_path / "data", url=url, sha256=sha256, progress=False)
    assert folder == tmp_path / "data" / "ml-10m"
    assert (folder / "ratings.dat").is_file()


def test_download_rejects_bad_archives(tmp_path: Path) -> None:
    url, sha256 = serve(tmp_path, "bad.zip", b"not a zip at all")
    with pytest.raises(DataFormatError, match="not a valid zip archive"):
        download("ml-100k", tmp_path / "data", url=url, sha256=sha256, progress=False)
    url, sha256 = serve(tmp_path, "evil.zip", make_zip({"../escape.txt": "x"}))
    with pytest.raises(DataFormatError, match="unsafe path"):
        download("ml-100k", tmp_path / "data", url=url, sha256=sha256, progress=False)
    assert not (tmp_path / "escape.txt").exists()


def test_download_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="no direct download"):
        download("yelp", tmp_path)
    with pytest.raises(ConfigError, match="url"):
        download("ncf-ml-1m", tmp_path, url="file:///x")
    with pytest.raises(DownloadError, match="cannot download"):
        download("ml-100k", tmp_path, url=(tmp_path / "absent.zip").as_uri(), progress=False)


def test_download_multi_file_dataset_into_existing_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NCF files land in ml-1m/ncf next to what ml-1m/ already holds."""
    from recforge.data import catalog

    server = {
        "train.rating": b"0\t1\t5\t1\n",
        "test.rating": b"0\t0\t3\t2\n",
        "test.negative": b"(0,0)\t2\n",
    }
    files = []
    for suffix, payload in server.items():
        url, sha256 = serve(tmp_path, f"ml-1m.{suffix}", payload)
        files.append(catalog.RemoteFile(url, sha256=sha256))
    entry = catalog.CATALOG["ncf-ml-1m"]
    monkeypatch.setitem(
        catalog.CATALOG,
        "ncf-ml-1m",
        catalog.DatasetInfo(**{**entry.__dict__, "files": tuple(files)}),
    )
    root = tmp_path / "data"
    (root / "ml-1m").mkdir(parents=True)
    (root / "ml-1m" / "movies.dat").write_text("1::Toy Story (1995)::Comedy\n")
    folder = download("ncf-ml-1m", root, progress=False)
    assert folder == root / "ml-1m" / "ncf"
    assert sorted(os.listdir(folder)) == [
        "ml-1m.test.negative",
        "ml-1m.test.rating",
        "ml-1m.train.rating",
    ]
    assert (root / "ml-1m" / "movies.dat").is_file()
    assert load_ncf("ml-1m", root=root).test_negatives.tolist() == [[2]]


@pytest.mark.slow
def test_load_real_datasets_by_name() -> None:
    root = os.environ.get("RECFORGE_DATA")
    if not root or not (Path(root) / "ml-100k").is_dir():
        pytest.skip("RECFORGE_DATA/ml-100k not available")
    assert len(load_dataset("ml-100k").interactions) == 100_000
    if (Path(root) / "amazon-s3rec").is_dir():
        assert len(load_dataset("amazon-beauty").interactions) == 198_502
    if (Path(root) / "ml-1m" / "ncf").is_dir():
        assert load_ncf("ml-1m").test_negatives.shape == (6_040, 99)
