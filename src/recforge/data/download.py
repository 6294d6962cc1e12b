"""Fetch a catalogued dataset from its publisher, verify it, unpack it under ``$RECFORGE_DATA``.

Every file goes to a temporary folder inside the data root first; only once its checksum
matches (SHA-256, or the publisher's MD5 where that is all there is) is it unpacked and moved
into place, so an interrupted or corrupted download never leaves a half dataset behind. A file
with no known checksum is refused unless ``allow_unverified=True`` (``--allow-unverified``);
the error carries the computed SHA-256 so it can be checked by hand. Tests and benchmarks never
call this: the CLI does.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import replace
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from recforge.core.errors import ConfigError, DataFormatError, DatasetNotFoundError, RecforgeError
from recforge.core.paths import data_root
from recforge.data.catalog import RemoteFile, dataset_info

logger = logging.getLogger(__name__)

_CHUNK_BYTES = 1 << 20


class DownloadError(RecforgeError):
    """A dataset could not be fetched or put in place."""


class ChecksumError(DownloadError, ValueError):
    """A downloaded file's checksum differs from the expected one, or none is known."""


def download(
    name: str,
    root: str | Path | None = None,
    *,
    allow_unverified: bool = False,
    progress: bool = True,
    force: bool = False,
    url: str | None = None,
    sha256: str | None = None,
    timeout_s: float = 60.0,
) -> Path:
    """Download dataset ``name`` into ``<root>/<folder>`` and return that folder.

    Args:
        name: a catalogue name (see :func:`recforge.data.catalog.list_datasets`).
        root: the data root; ``$RECFORGE_DATA`` (or the user cache) when ``None``.
        allow_unverified: accept a file for which no checksum is known (its SHA-256 is
            logged). A checksum *mismatch* is never accepted.
        progress: show a progress bar (tqdm, on stderr).
        force: replace files already in the folder.
        url: fetch from this URL instead (a mirror, or a ``file://`` URL in tests); only for
            single-file datasets. The catalogue's checksum still applies unless ``sha256``
            is given.
        sha256: expected SHA-256 overriding the catalogue's (single-file datasets only).
        timeout_s: network timeout per connection.

    Returns:
        The dataset folder.

    Raises:
        DatasetNotFoundError: unknown name, or a dataset with no direct download (the
            message says where to get it).
        ChecksumError: a checksum mismatch, or no known checksum without ``allow_unverified``.
        DownloadError: the URL cannot be fetched, or a file to be written already exists.
        DataFormatError: the archive is not a valid zip or holds unsafe paths.
    """
    info = dataset_info(name)
    if not info.files:
        raise DatasetNotFoundError(
            f"dataset {name!r} has no direct download: {info.manual_download or info.homepage}"
        )
    target = (Path(root) if root is not None else data_root()) / info.folder
    if not force and info.marker and (target / info.marker).is_file():
        logger.info("dataset %s already present at %s", name, target)
        return target
    files = _with_overrides(info.files, url=url, sha256=sha256)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{info.name}-") as staging_dir:
        staging = Path(staging_dir)
        content = staging / "content"
        content.mkdir()
        for remote in files:
            fetched = staging / remote.name
            digests = _fetch(remote.url, fetched, progress=progress, timeout_s=timeout_s)
            _verify(remote, digests, allow_unverified=allow_unverified)
            if remote.unpack:
                _unzip(fetched, content, source=remote.url)
            else:
                os.replace(fetched, content / remote.name)
        _move_into_place(_single_top_folder(content), target, force=force)
    logger.info("dataset %s is in %s", name, target)
    return target


def _with_overrides(
    files: tuple[RemoteFile, ...], *, url: str | None, sha256: str | None
) -> tuple[RemoteFile, ...]:
    if url is None and sha256 is None:
        return files
    if len(files) != 1:
        key = "url" if url is not None else "sha256"
        raise ConfigError(key, f"this dataset has {len(files)} files; overrides need exactly one")
    (remote,) = files
    changes: dict[str, object] = {}
    if url is not None:
        changes["url"] = url
        changes["filename"] = remote.name  # keep the catalogue's name for the fetched file
    if sha256 is not None:
        changes["sha256"] = sha256.lower()
    return (replace(remote, **changes),)  # type: ignore[arg-type]


def _fetch(url: str, destination: Path, *, progress: bool, timeout_s: float) -> dict[str, str]:
    """Stream ``url`` into ``destination``; return its ``sha256`` and ``md5`` hex digests."""
    sha = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)
    logger.info("downloading %s", url)
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            length = response.headers.get("Content-Length") if response.headers else None
            total = int(length) if length and length.isdigit() else None
            with (
                open(destination, "wb") as out,
                tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=destination.name,
                    disable=not progress,
                ) as bar,
            ):
                while chunk := response.read(_CHUNK_BYTES):
                    out.write(chunk)
                    sha.update(chunk)
                    md5.update(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError) as error:
        raise DownloadError(f"cannot download {url}: {error}") from error
    return {"sha256": sha.hexdigest(), "md5": md5.hexdigest()}


def _verify(remote: RemoteFile, digests: dict[str, str], *, allow_unverified: bool) -> None:
    computed = digests["sha256"]
    if remote.sha256 is not None:
        if computed != remote.sha256.lower():
            raise ChecksumError(
                f"{remote.url}: sha256 mismatch: expected {remote.sha256}, got {computed}; "
                "the file was deleted"
            )
        return
    if remote.md5 is not None:
        if digests["md5"] != remote.md5.lower():
            raise ChecksumError(
                f"{remote.url}: md5 mismatch: expected {remote.md5}, got {digests['md5']}; "
                "the file was deleted"
            )
        logger.info("%s: md5 verified; sha256 %s", remote.url, computed)
        return
    if not allow_unverified:
        raise ChecksumError(
            f"{remote.url}: no known checksum to verify it against; its sha256 is {computed}. "
            "Check it with the publisher, then rerun with allow_unverified=True "
            "(--allow-unverified) to accept it"
        )
    logger.warning("%s: accepted without verification; sha256 %s", remote.url, computed)


def _unzip(archive: Path, destination: Path, *, source: str) -> None:
    try:
        with zipfile.ZipFile(archive) as bundle:
            for member in bundle.infolist():
                parts = PurePosixPath(member.filename.replace("\\", "/")).parts
                if member.filename.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
                    raise DataFormatError(source, f"unsafe path in archive: {member.filename!r}")
            bundle.extractall(destination)
    except zipfile.BadZipFile as error:
        raise DataFormatError(source, f"not a valid zip archive ({error})") from error


def _single_top_folder(content: Path) -> Path:
    """The one folder an archive unpacked into (``ml-10M100K/``), else ``content`` itself."""
    entries = [entry for entry in content.iterdir() if entry.name != "__MACOSX"]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return content


def _move_into_place(source: Path, target: Path, *, force: bool) -> None:
    if not target.exists():
        os.replace(source, target)
        return
    if not target.is_dir():
        raise DownloadError(f"{target} exists and is not a folder")
    entries = list(source.iterdir())
    clashes = [target / entry.name for entry in entries if (target / entry.name).exists()]
    if clashes and not force:
        raise DownloadError(f"{clashes[0]} already exists; pass force=True to replace it")
    for entry in entries:
        destination = target / entry.name
        if destination.is_dir() and not destination.is_symlink():
            shutil.rmtree(destination)
        elif destination.exists() or destination.is_symlink():
            destination.unlink()
        os.replace(entry, destination)
