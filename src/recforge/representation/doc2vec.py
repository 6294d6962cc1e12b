"""Item text -> dense vectors with paragraph vectors (Le & Mikolov, "Distributed
Representations of Sentences and Documents", ICML 2014), by gensim's Doc2Vec.

Two architectures (``mode``): PV-DM ("distributed memory": the paragraph vector joins the
mean of the context word vectors to predict the next word) and PV-DBOW ("distributed bag of
words": the paragraph vector alone predicts words sampled from the text; with
``dbow_words`` word vectors are trained alongside by skip-gram, which helps short texts).
Both are trained with negative sampling.

:meth:`Doc2VecEncoder.transform` *infers* a vector for every text, seen in ``fit`` or not
(paragraph-vector inference: the network is frozen and only the new paragraph vector is
trained for ``infer_epochs``), so items fitted and items added later live in one space.
gensim's own ``infer_vector`` seeds the starting vector with Python's per-process ``hash``
and draws negatives from the model's advancing random state, so the same text would get
another vector in another process or after another call; here the start is seeded by CRC32
of the words and the random state is reset before each text, so a text always gets the
same vector, whatever else is encoded with it. Training runs on one thread for the same
reason.

Dimension letters: N texts, V vocabulary words, D output dimension (``dim_``).

>>> texts = ["wool sweater red", "wool sweater blue", "wool scarf red", "camping stove gas",
...          "camping stove steel", "camping tent gas"] * 20
>>> encoder = Doc2VecEncoder(dim=8, epochs=30, min_count=1, seed=0).fit(texts)
>>> wool, scarf, stove = encoder.transform(["wool sweater", "red wool scarf", "camping stove"])
>>> bool(wool @ scarf > wool @ stove)
True
>>> encoder.transform(["", "zebra"]).tolist() == [[0.0] * 8] * 2  # nothing known: zero rows
True
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from recforge.core.errors import DataFormatError
from recforge.representation.item2vec import stable_hash
from recforge.representation.text import TextEncoderError, clean_texts, normalize_rows

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
_WORD = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens (letters, digits, underscore runs).

    >>> tokenize("Toy Story (1995). Animation, Children's")
    ['toy', 'story', '1995', 'animation', 'children', 's']
    """
    return _WORD.findall(text.lower())


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


class Doc2VecEncoder:
    """Paragraph vectors (gensim Doc2Vec) for item texts.

    Args:
        dim: vector size D.
        mode: ``"dbow"`` (PV-DBOW) or ``"dm"`` (PV-DM, mean of context vectors).
        window: context words on each side (PV-DM, and PV-DBOW's word training).
        min_count: words occurring fewer times in all texts are dropped.
        epochs: training passes over the texts.

    The defaults (PV-DBOW, every word kept, 20 epochs, no down-sampling) ranked best on the
    validation items of the MovieLens-1M cold-start benchmark (``benchmarks/cold_start.py``),
    whose texts are a title and a few genres.
        infer_epochs: inference passes per text in :meth:`transform` (default ``epochs``).
        negatives: negative samples per positive word.
        learning_rate: initial SGD step (gensim's ``alpha``), decayed linearly to 1e-4, in
            training and in inference.
        dbow_words: PV-DBOW only: also train word vectors by skip-gram.
        subsample: frequent-word down-sampling threshold (0 = off).
        seed: seeds initialisation, sampling and inference.

    Attributes:
        model_: the fitted ``gensim.models.Doc2Vec``.
        dim_: output dimension ``D``.

    Rows of :meth:`transform` have unit L2 norm; a text with no word known to the model
    (empty, missing, or only unseen words) gets a zero row.
    """

    def __init__(
        self,
        dim: int = 64,
        *,
        mode: Literal["dbow", "dm"] = "dbow",
        window: int = 5,
        min_count: int = 1,
        epochs: int = 20,
        infer_epochs: int | None = None,
        negatives: int = 5,
        learning_rate: float = 0.025,
        dbow_words: bool = True,
        subsample: float = 0.0,
        seed: int = 0,
    ) -> None:
        _check_int("dim", dim, 1)
        for name, value in (("window", window), ("min_count", min_count), ("epochs", epochs)):
            _check_int(name, value, 1)
        _check_int("negatives", negatives, 1)
        if infer_epochs is not None:
            _check_int("infer_epochs", infer_epochs, 1)
        if mode not in ("dbow", "dm"):
            raise ValueError(f"mode must be 'dbow' or 'dm', got {mode!r}")
        if not learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")
        if not 0 <= subsample < 1:
            raise ValueError(f"subsample must be in [0, 1), got {subsample!r}")
        self.dim = dim
        self.mode = mode
        self.window = window
        self.min_count = min_count
        self.epochs = epochs
        self.infer_epochs = infer_epochs
        self.negatives = negatives
        self.learning_rate = learning_rate
        self.dbow_words = dbow_words
        self.subsample = subsample
        self.seed = seed

    def _params(self) -> dict[str, Any]:
        return {
            "dim": self.dim,
            "mode": self.mode,
            "window": self.window,
            "min_count": self.min_count,
            "epochs": self.epochs,
            "infer_epochs": self.infer_epochs,
            "negatives": self.negatives,
            "learning_rate": self.learning_rate,
            "dbow_words": self.dbow_words,
            "subsample": self.subsample,
            "seed": self.seed,
        }

    def _model(self) -> Any:
        """An untrained gensim Doc2Vec with this encoder's settings."""
        from gensim.models.doc2vec import Doc2Vec

        return Doc2Vec(
            vector_size=self.dim,
            dm=1 if self.mode == "dm" else 0,
            dm_mean=1,
            dbow_words=int(self.dbow_words),
            window=self.window,
            min_count=self.min_count,
            sample=self.subsample,
            negative=self.negatives,
            hs=0,
            alpha=self.learning_rate,
            min_alpha=1e-4,
            epochs=self.epochs,
            seed=self.seed,
            workers=1,
            hashfxn=stable_hash,
        )

    def fit(self, texts: Sequence[str]) -> Doc2VecEncoder:
        """Train word and paragraph vectors on ``texts``.

        Raises:
            TextEncoderError: no word occurs ``min_count`` times (all texts empty, say).
            TypeError: an element of ``texts`` is not a string (nor None/NaN).
        """
        from gensim.models.doc2vec import TaggedDocument

        tokens = [tokenize(text) for text in clean_texts(texts)]
        documents = [TaggedDocument(words, [row]) for row, words in enumerate(tokens)]
        model = self._model()
        n_words = sum(map(len, tokens))
        try:
            model.build_vocab(documents)
        except RuntimeError as error:  # gensim: "you must first build vocabulary"
            raise TextEncoderError(
                f"cannot fit Doc2Vec on {len(tokens)} texts ({n_words} words): {error}"
            ) from error
        if len(model.wv) == 0:
            raise TextEncoderError(
                f"cannot fit Doc2Vec on {len(tokens)} texts ({n_words} words): no word occurs "
                f"min_count={self.min_count} times"
            )
        model.train(documents, total_examples=len(documents), epochs=self.epochs)
        self.model_ = model
        self.dim_ = self.dim
        logger.info(
            "doc2vec (%s): %d texts, %d words in the vocabulary -> dim %d",
            self.mode,
            len(tokens),
            len(model.wv),
            self.dim,
        )
        return self

    def fit_transform(self, texts: Sequence[str]) -> np.ndarray:
        """:meth:`fit`, then :meth:`transform` the same texts (inferred, like any other)."""
        return self.fit(texts).transform(texts)

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """Infer ``(N, D)`` float32 vectors, unit-norm rows (zero rows for no known word).

        Raises:
            RuntimeError: the encoder is not fitted.
            TypeError: an element of ``texts`` is not a string (nor None/NaN).
        """
        if not hasattr(self, "model_"):
            raise RuntimeError("Doc2VecEncoder is not fitted; call fit(texts) first")
        known = self.model_.wv.key_to_index
        vectors = np.zeros((len(texts), self.dim), np.float32)  # (N, D)
        for row, text in enumerate(clean_texts(texts)):
            words = [word for word in tokenize(text) if word in known]
            if words:
                vectors[row] = self._infer(words)
        return normalize_rows(vectors)

    def _infer(self, words: list[str]) -> np.ndarray:
        """One paragraph vector ``(D,)`` trained against the frozen network (what gensim's
        ``infer_vector`` does, with a start and random state that do not depend on the
        process or on earlier calls)."""
        from gensim.models.doc2vec_inner import train_document_dbow, train_document_dm

        model = self.model_
        model.random = np.random.RandomState(self.seed)  # negatives and windows, per text
        start = np.random.default_rng(stable_hash(" ".join(words)) ^ self.seed)
        paragraph = ((start.random(self.dim) - 0.5) / self.dim).astype(np.float32)[None, :]
        lock = np.ones(1, np.float32)
        work = np.zeros(model.layer1_size, np.float32)
        hidden = np.zeros(model.layer1_size, np.float32)
        epochs = self.infer_epochs or self.epochs
        alphas = np.linspace(model.alpha, model.min_alpha, epochs) if epochs > 1 else [model.alpha]
        # the network stays frozen: only the paragraph vector learns
        frozen: dict[str, Any] = {"learn_words": False, "learn_hidden": False}
        frozen |= {"doctag_vectors": paragraph, "doctags_lockf": lock}
        for alpha in alphas:
            if self.mode == "dbow":
                train_document_dbow(model, words, [0], float(alpha), work, **frozen)
            else:
                train_document_dm(model, words, [0], float(alpha), work, hidden, **frozen)
        return paragraph[0]

    def save(self, path: str | Path) -> Path:
        """Write the fitted state to the folder ``path``: ``encoder.json`` (settings) and
        ``arrays.npz`` (vocabulary, counts, word and output weights, sampling tables), no
        pickle.

        >>> import tempfile, pathlib
        >>> texts = ["red wool hat", "blue wool hat", "gas camping stove"] * 5
        >>> encoder = Doc2VecEncoder(dim=4, min_count=1, epochs=5).fit(texts)
        >>> folder = encoder.save(pathlib.Path(tempfile.mkdtemp()) / "doc2vec")
        >>> again = Doc2VecEncoder.load(folder).transform(["wool hat", "stove"])
        >>> bool((again == encoder.transform(["wool hat", "stove"])).all())
        True
        """
        if not hasattr(self, "model_"):
            raise RuntimeError("Doc2VecEncoder is not fitted; call fit(texts) first")
        model = self.model_
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        params = {"format_version": FORMAT_VERSION, **self._params()}
        (folder / "encoder.json").write_text(json.dumps(params, indent=2))
        with (folder / "arrays.npz").open("wb") as handle:
            np.savez(
                handle,
                words=np.asarray(model.wv.index_to_key, dtype=str),
                counts=np.asarray(model.wv.expandos["count"], dtype=np.int64),
                sample_int=np.asarray(model.wv.expandos["sample_int"], dtype=np.uint32),
                cum_table=np.asarray(model.cum_table),
                word_vectors=np.asarray(model.wv.vectors, dtype=np.float32),
                output=np.asarray(model.syn1neg, dtype=np.float32),
            )
        return folder

    @classmethod
    def load(cls, path: str | Path) -> Doc2VecEncoder:
        """Read an encoder written by :meth:`save`.

        Raises:
            DataFormatError: the folder holds no saved encoder, or one of an unknown format
                version, or arrays that do not fit together.
        """
        folder = Path(path)
        try:
            params = json.loads((folder / "encoder.json").read_text())
            with np.load(folder / "arrays.npz", allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
            words = arrays["words"].tolist()
        except (OSError, KeyError, ValueError) as error:
            raise DataFormatError(folder, f"not a saved Doc2VecEncoder: {error}") from error
        version = params.pop("format_version", None)
        if version != FORMAT_VERSION:
            raise DataFormatError(
                folder, f"unknown format_version {version!r} (this recforge reads {FORMAT_VERSION})"
            )
        encoder = cls(**params)
        vectors, output = arrays["word_vectors"], arrays["output"]
        if not (len(words) == len(vectors) == len(output) == len(arrays["counts"])):
            raise DataFormatError(folder, "vocabulary and weights differ in size")
        if vectors.shape[1] != encoder.dim:
            raise DataFormatError(
                folder, f"weights have {vectors.shape[1]} columns, dim is {encoder.dim}"
            )
        model = encoder._model()
        # the vocabulary as gensim builds it, then every table exactly as it was saved (gensim
        # orders words by count and ties may fall otherwise; negatives are drawn by index)
        model.build_vocab_from_freq(dict(zip(words, arrays["counts"].tolist(), strict=True)))
        model.wv.index_to_key = words
        model.wv.key_to_index = {word: index for index, word in enumerate(words)}
        model.wv.expandos["count"] = arrays["counts"]
        model.wv.expandos["sample_int"] = arrays["sample_int"]
        model.cum_table = arrays["cum_table"]
        model.wv.vectors = vectors
        model.syn1neg = output
        encoder.model_ = model
        encoder.dim_ = encoder.dim
        return encoder


__all__ = ["Doc2VecEncoder", "tokenize"]
