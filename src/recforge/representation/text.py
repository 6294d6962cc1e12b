"""Item text -> dense vectors: TF-IDF followed by a truncated SVD (latent semantic analysis).

Deerwester et al., "Indexing by latent semantic analysis", JASIS 1990: project the TF-IDF
document-term matrix onto its top ``dim`` right singular vectors, so items sharing related words
land near each other even without a word in common. Rows are L2-normalised, so a dot product
is the cosine similarity (what an inner-product ANN index expects).

Dimension letters: N texts, V vocabulary terms, D output dimension (``dim_``).

>>> encoder = TfidfEncoder(dim=2, seed=0).fit(
...     ["red wool sweater", "blue wool sweater", "steel camping stove", "gas camping stove"])
>>> vectors = encoder.transform(["wool sweater", "red sweater", "camping stove", ""])
>>> vectors.shape, vectors.dtype
((4, 2), dtype('float32'))
>>> similar, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
>>> similar > 0.9, abs(unrelated) < 0.1, vectors[3].tolist()
(True, True, [0.0, 0.0])

Every text encoder here follows the same small interface (:class:`TextEncoder`):
``fit(texts) -> self``, ``transform(texts) -> (N, D) float32`` with unit-norm rows and a zero
row for an empty (or missing) text, ``save``/``load``; :func:`text_encoder` builds one by name:
``"tfidf"`` (this module), ``"doc2vec"`` (:mod:`recforge.representation.doc2vec`) or
``"minilm"`` (:mod:`recforge.representation.sentence`, needs ``recforge[text]``).
"""

from __future__ import annotations

import inspect
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, Self

import numpy as np
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from recforge.core.errors import DataFormatError, RecforgeError

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1


class TextEncoderError(RecforgeError, ValueError):
    """The texts cannot give a vocabulary (all empty, only stop words, ``min_df`` too high)."""


def clean_texts(texts: Sequence[str] | Any) -> list[str]:
    """Texts as strings; None and NaN become ``""`` (a zero vector).

    Raises:
        TypeError: ``texts`` is one string, or an element is neither a string nor missing
            (the message names its position: ``texts[2]``).

    >>> clean_texts(["a", None, float("nan")])
    ['a', '', '']
    >>> clean_texts(["a", 3])
    Traceback (most recent call last):
    TypeError: texts[1] is int (3): expected a string, None or NaN
    """
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not one string")
    cleaned = []
    for position, text in enumerate(texts):
        if text is None or (isinstance(text, float) and math.isnan(text)):
            cleaned.append("")
        elif isinstance(text, str):
            cleaned.append(str(text))  # numpy.str_ -> str
        else:
            raise TypeError(
                f"texts[{position}] is {type(text).__name__} ({str(text)[:40]}): "
                "expected a string, None or NaN"
            )
    return cleaned


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """``(N, D)`` float32 rows scaled to unit L2 norm; an all-zero row stays zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)  # (N, 1)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 1e-12)


class TextEncoder(Protocol):
    """What every text encoder offers (TF-IDF+SVD, Doc2Vec, MiniLM)."""

    dim_: int

    def fit(self, texts: Sequence[str]) -> Self: ...

    def transform(self, texts: Sequence[str]) -> np.ndarray: ...

    def fit_transform(self, texts: Sequence[str]) -> np.ndarray: ...

    def save(self, path: str | Path) -> Path: ...


class TfidfEncoder:
    """TF-IDF (sublinear tf, unigrams and bigrams, English stop words) then truncated SVD.

    Args:
        dim: output dimension asked for; the fitted ``dim_`` is capped at
            ``min(n_texts, n_terms - 1)``, since a corpus that small has no more directions.
        min_df: a term must occur in at least this many texts.
        max_features: keep the most frequent terms only (``None``: all).
        seed: seeds the randomised SVD; the same texts and seed give the same vectors.

    Attributes:
        vectorizer_: the fitted :class:`~sklearn.feature_extraction.text.TfidfVectorizer`.
        components_: ``(D, V)`` float32 SVD basis.
        dim_: output dimension ``D``.

    An empty text, or one whose words were all unseen in ``fit``, encodes to a zero row (not
    normalised); every other row has unit L2 norm.
    """

    def __init__(
        self, dim: int = 64, *, min_df: int = 1, max_features: int | None = 50_000, seed: int = 0
    ) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
        if isinstance(min_df, bool) or not isinstance(min_df, int) or min_df < 1:
            raise ValueError(f"min_df must be an integer >= 1, got {min_df!r}")
        if max_features is not None and (not isinstance(max_features, int) or max_features < 2):
            raise ValueError(f"max_features must be an integer >= 2 or None, got {max_features!r}")
        self.dim = dim
        self.min_df = min_df
        self.max_features = max_features
        self.seed = seed

    def fit(self, texts: Sequence[str]) -> TfidfEncoder:
        """Learn the vocabulary, IDF weights and SVD basis from ``texts``.

        Raises:
            TextEncoderError: the texts leave fewer than two terms (all empty, only stop
                words, or ``min_df`` above what the corpus has).
        """
        self._fit_matrix(clean_texts(texts))
        return self

    def fit_transform(self, texts: Sequence[str]) -> np.ndarray:
        """:meth:`fit` then :meth:`transform` the same texts: ``(N, D)`` float32."""
        cleaned = clean_texts(texts)
        return self._encode(self._fit_matrix(cleaned))

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """Encode ``texts``: ``(N, D)`` float32, rows of unit L2 norm (zero rows for no text).

        Raises:
            RuntimeError: the encoder is not fitted.
        """
        if not hasattr(self, "components_"):
            raise RuntimeError("TfidfEncoder is not fitted; call fit(texts) first")
        return self._encode(self.vectorizer_.transform(clean_texts(texts)))

    def save(self, path: str | Path) -> Path:
        """Write the fitted state to one ``.npz`` file (arrays and JSON, no pickle).

        >>> import tempfile, pathlib
        >>> encoder = TfidfEncoder(dim=2).fit(["red wool sweater", "gas camping stove", "wool hat"])
        >>> path = encoder.save(pathlib.Path(tempfile.mkdtemp()) / "text.npz")
        >>> bool((TfidfEncoder.load(path).transform(["wool"]) == encoder.transform(["wool"])).all())
        True
        """
        if not hasattr(self, "components_"):
            raise RuntimeError("TfidfEncoder is not fitted; call fit(texts) first")
        vocabulary = self.vectorizer_.vocabulary_
        terms = sorted(vocabulary, key=vocabulary.__getitem__)  # term of column 0, 1, ...
        params = {
            "format_version": FORMAT_VERSION,
            "dim": self.dim,
            "min_df": self.min_df,
            "max_features": self.max_features,
            "seed": self.seed,
        }
        path = Path(path)
        with path.open("wb") as handle:  # a file handle keeps numpy from appending ".npz"
            np.savez(
                handle,
                terms=np.asarray(terms, dtype=str),
                idf=np.asarray(self.vectorizer_.idf_),
                components=self.components_,
                params=np.asarray(json.dumps(params)),
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> TfidfEncoder:
        """Read an encoder written by :meth:`save`.

        Raises:
            DataFormatError: the file is not a saved encoder, or of an unknown format version.
        """
        try:
            with np.load(path, allow_pickle=False) as data:
                params = json.loads(str(data["params"]))
                terms, idf = data["terms"].tolist(), data["idf"]
                components = data["components"].astype(np.float32)
        except (OSError, KeyError, ValueError) as error:
            raise DataFormatError(path, f"not a saved TfidfEncoder: {error}") from error
        version = params.pop("format_version", None)
        if version != FORMAT_VERSION:
            raise DataFormatError(
                path, f"unknown format_version {version!r} (this recforge reads {FORMAT_VERSION})"
            )
        encoder = cls(**params)
        vectorizer = encoder._vectorizer()
        vectorizer.vocabulary_ = {term: column for column, term in enumerate(terms)}
        vectorizer.idf_ = idf
        if components.shape[1] != len(terms):
            raise DataFormatError(path, "components and vocabulary differ in size")
        encoder.vectorizer_ = vectorizer
        encoder.components_ = components
        encoder.dim_ = int(components.shape[0])
        return encoder

    def _vectorizer(self) -> TfidfVectorizer:
        return TfidfVectorizer(
            sublinear_tf=True,
            ngram_range=(1, 2),
            min_df=self.min_df,
            max_features=self.max_features,
            stop_words="english",
            dtype=np.float32,
        )

    def _fit_matrix(self, texts: list[str]) -> Any:
        """Fit vectorizer and SVD; return the ``(N, V)`` sparse TF-IDF matrix of ``texts``."""
        vectorizer = self._vectorizer()
        n_texts = sum(bool(text.strip()) for text in texts)
        try:
            tfidf = vectorizer.fit_transform(texts)  # (N, V) sparse
        except ValueError as error:  # empty vocabulary, or min_df above the corpus size
            raise TextEncoderError(
                f"cannot fit a text encoder on {len(texts)} texts ({n_texts} non-empty): "
                f"no term is left after stop words and min_df={self.min_df} ({error})"
            ) from error
        n_terms = tfidf.shape[1]
        if n_terms < 2:
            raise TextEncoderError(
                f"cannot fit a text encoder: the {len(texts)} texts give {n_terms} term; "
                "at least 2 are needed"
            )
        dim = min(self.dim, len(texts), n_terms - 1)
        if dim < self.dim:
            logger.info("text encoder: dim %d capped at %d for a small corpus", self.dim, dim)
        svd = TruncatedSVD(n_components=dim, algorithm="randomized", random_state=self.seed)
        svd.fit(tfidf)
        self.vectorizer_ = vectorizer
        self.components_ = svd.components_.astype(np.float32)  # (D, V)
        self.dim_ = int(self.components_.shape[0])
        logger.info("text encoder: %d texts, %d terms -> dim %d", len(texts), n_terms, self.dim_)
        return tfidf

    def _encode(self, tfidf: Any) -> np.ndarray:
        """Project ``(N, V)`` TF-IDF rows onto the basis and L2-normalise: ``(N, D)``."""
        vectors = np.asarray(tfidf @ self.components_.T, dtype=np.float32)  # (N, D)
        # A row with no known term is exactly zero; it stays zero instead of dividing by 0.
        return normalize_rows(vectors)


#: name -> "module:class" of every text encoder; imported on demand, so "minilm" costs
#: nothing (and needs nothing installed) unless it is asked for
ENCODERS = {
    "tfidf": "recforge.representation.text:TfidfEncoder",
    "doc2vec": "recforge.representation.doc2vec:Doc2VecEncoder",
    "minilm": "recforge.representation.sentence:SentenceEncoder",
}


def encoder_class(name: str) -> type[Any]:
    """The class registered as ``name`` in :data:`ENCODERS`.

    Raises:
        ValueError: ``name`` is not a known encoder (the message lists the known ones).
    """
    if name not in ENCODERS:
        raise ValueError(f"unknown text encoder {name!r} (known: {', '.join(ENCODERS)})")
    module_name, class_name = ENCODERS[name].split(":")
    module = __import__(module_name, fromlist=[class_name])
    return getattr(module, class_name)


def check_encoder_options(name: str, options: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming the first option the encoder ``name`` does not take
    (checked without building it, so a config fails before anything is loaded).

    >>> check_encoder_options("tfidf", {"dim": 8})
    >>> check_encoder_options("tfidf", {"mode": "dm"})
    Traceback (most recent call last):
    ValueError: text encoder 'tfidf' has no option 'mode' (options: dim, min_df, max_features, seed)
    """
    accepted = [p for p in inspect.signature(encoder_class(name)).parameters if p != "self"]
    for option in options:
        if option not in accepted:
            raise ValueError(
                f"text encoder {name!r} has no option {option!r} (options: {', '.join(accepted)})"
            )


def text_encoder(name: str, **options: Any) -> TextEncoder:
    """Build the text encoder ``name`` (``"tfidf"``, ``"doc2vec"`` or ``"minilm"``) with
    ``options`` (its constructor's keyword arguments).

    >>> encoder = text_encoder("tfidf", dim=2).fit(["red wool hat", "blue wool hat", "gas stove"])
    >>> encoder.transform(["wool hat"]).shape
    (1, 2)

    Raises:
        ValueError: unknown name or option.
    """
    check_encoder_options(name, options)
    return encoder_class(name)(**options)
