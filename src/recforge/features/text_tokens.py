"""Item texts -> padded integer token arrays for neural text encoders (the text CNN).

A :class:`TokenVocabulary` is fitted on the *training* items' texts only, so words that only
cold (held-out) items use map to the unknown index, whose embedding training did learn,
rather than to rows no gradient ever reached.

Tokens: the text is lower-cased (``lowercase=True``) and split into runs of letters and
digits, keeping inner apostrophes (``"Children's"`` -> ``["children's"]``, ``"Sci-Fi"`` ->
``["sci", "fi"]``). Two indices are reserved:

* :data:`PAD` = 0 fills the row after the text ends; an item with no text (``None``, NaN,
  ``""`` or only punctuation) is a row of padding only.
* :data:`UNK` = 1 stands for a word not kept in the vocabulary (unseen in ``fit``, or rarer
  than ``min_count``, or beyond ``max_size``). A text of only unknown words is a row of
  ``UNK`` tokens, which a model can tell apart from no text.

Texts longer than ``max_tokens`` words keep their *first* ``max_tokens`` words (item texts
put the title first, see :func:`recforge.features.profiles.item_text`); ``n_truncated_``
counts the texts cut in the last :meth:`~TokenVocabulary.transform`.

Words get indices by descending count in ``fit``, ties broken alphabetically, so the same
texts always give the same vocabulary and arrays.

Dimension letters: N texts, L tokens per text (``max_tokens``), V vocabulary size including
the two reserved indices.

>>> vocab = TokenVocabulary(max_tokens=4).fit(["red wool sweater", "blue wool hat"])
>>> vocab.words_
['<pad>', '<unk>', 'wool', 'blue', 'hat', 'red', 'sweater']
>>> vocab.transform(["Wool sweater, green!", None, "a b c d e f"]).tolist()
[[2, 6, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]]
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recforge.core.errors import DataFormatError

PAD = 0
UNK = 1
PAD_WORD = "<pad>"
UNK_WORD = "<unk>"
FORMAT_VERSION = 1

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def tokenize(text: str, *, lowercase: bool = True) -> list[str]:
    """Words of ``text``: runs of letters and digits, inner apostrophes kept.

    >>> tokenize("Toy Story (1995). Animation, Children's, Sci-Fi")
    ['toy', 'story', '1995', 'animation', "children's", 'sci', 'fi']
    """
    return _WORD.findall(text.lower() if lowercase else text)


def clean_texts(texts: Iterable[Any]) -> list[str]:
    """Texts as strings: None/NaN -> ``""``, numbers -> their string.

    Raises:
        TypeError: ``texts`` is one string, or an entry is neither text, a number nor
            missing (the message names its position ``texts[i]``).
    """
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be a sequence of strings, not one string")
    cleaned = []
    for position, text in enumerate(texts):
        if text is None or (isinstance(text, float) and math.isnan(text)):
            cleaned.append("")
        elif isinstance(text, str):
            cleaned.append(text)
        elif isinstance(text, (int, float, np.integer, np.floating)) and not isinstance(text, bool):
            cleaned.append(str(text))
        else:
            raise TypeError(
                f"texts[{position}]: expected a string (or None for no text), "
                f"got {type(text).__name__}"
            )
    return cleaned


class TokenVocabulary:
    """Word vocabulary and fixed-length token arrays for a text encoder.

    Args:
        max_tokens: ``L``, length of every token row; longer texts are truncated.
        min_count: a word must occur this many times in the fitted texts to be kept.
        max_size: keep at most this many words (the most frequent), besides ``<pad>`` and
            ``<unk>``; ``None`` keeps all.
        lowercase: lower-case texts before splitting.

    Attributes:
        words_: word of each index, ``words_[0] == "<pad>"``, ``words_[1] == "<unk>"``.
        index_: word -> index.
        n_truncated_: texts cut to ``max_tokens`` in the last ``transform``.
    """

    def __init__(
        self,
        max_tokens: int = 32,
        *,
        min_count: int = 1,
        max_size: int | None = None,
        lowercase: bool = True,
    ) -> None:
        for name, value, least in (("max_tokens", max_tokens, 1), ("min_count", min_count, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
        if max_size is not None and (
            isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1
        ):
            raise ValueError(f"max_size must be an integer >= 1 or None, got {max_size!r}")
        self.max_tokens = max_tokens
        self.min_count = min_count
        self.max_size = max_size
        self.lowercase = lowercase

    def __len__(self) -> int:
        """``V``: the vocabulary size including ``<pad>`` and ``<unk>``."""
        self._check_fitted()
        return len(self.words_)

    def fit(self, texts: Sequence[Any]) -> TokenVocabulary:
        """Count the words of ``texts`` (the training items' texts) and keep the frequent
        ones. Texts with no words are allowed; the vocabulary may hold only the reserved
        indices."""
        counts: Counter[str] = Counter()
        for text in clean_texts(texts):
            counts.update(tokenize(text, lowercase=self.lowercase))
        kept = [(word, n) for word, n in counts.items() if n >= self.min_count]
        kept.sort(key=lambda pair: (-pair[1], pair[0]))  # most frequent first, then a-z
        if self.max_size is not None:
            kept = kept[: self.max_size]
        self._set_words([PAD_WORD, UNK_WORD] + [word for word, _ in kept])
        return self

    def transform(self, texts: Sequence[Any]) -> np.ndarray:
        """Token rows ``(N, L)`` int64: indices of the first ``L`` words, then :data:`PAD`.

        Raises:
            RuntimeError: not fitted.
            TypeError: an entry of ``texts`` is not text (see :func:`clean_texts`).
        """
        self._check_fitted()
        cleaned = clean_texts(texts)
        tokens = np.full((len(cleaned), self.max_tokens), PAD, dtype=np.int64)  # (N, L)
        truncated = 0
        for row, text in enumerate(cleaned):
            words = tokenize(text, lowercase=self.lowercase)
            if len(words) > self.max_tokens:
                truncated += 1
                words = words[: self.max_tokens]
            tokens[row, : len(words)] = [self.index_.get(word, UNK) for word in words]
        self.n_truncated_ = truncated
        return tokens

    def fit_transform(self, texts: Sequence[Any]) -> np.ndarray:
        """:meth:`fit` then :meth:`transform` the same texts: ``(N, L)`` int64."""
        return self.fit(texts).transform(texts)

    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            "format_version": FORMAT_VERSION,
            "max_tokens": self.max_tokens,
            "min_count": self.min_count,
            "max_size": self.max_size,
            "lowercase": self.lowercase,
            "words": list(self.words_),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | Path = "<dict>") -> TokenVocabulary:
        """Rebuild a vocabulary written by :meth:`to_dict`.

        Raises:
            DataFormatError: unknown ``format_version``, a missing key, or reserved words out
                of place (``source`` names where the dict came from).
        """
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise DataFormatError(
                source, f"unknown format_version {version!r} (this recforge reads {FORMAT_VERSION})"
            )
        try:
            vocab = cls(
                data["max_tokens"],
                min_count=data["min_count"],
                max_size=data["max_size"],
                lowercase=data["lowercase"],
            )
            words = [str(word) for word in data["words"]]
        except (KeyError, TypeError, ValueError) as error:
            raise DataFormatError(source, f"not a saved TokenVocabulary: {error!r}") from error
        if words[:2] != [PAD_WORD, UNK_WORD] or len(set(words)) != len(words):
            raise DataFormatError(
                source, "words must start with '<pad>', '<unk>' and hold no duplicates"
            )
        vocab._set_words(words)
        return vocab

    def save(self, path: str | Path) -> Path:
        """Write the vocabulary as JSON.

        >>> import tempfile, pathlib
        >>> vocab = TokenVocabulary(max_tokens=3).fit(["red hat", "red tent"])
        >>> path = vocab.save(pathlib.Path(tempfile.mkdtemp()) / "tokens.json")
        >>> TokenVocabulary.load(path).transform(["red tent"]).tolist()
        [[2, 4, 0]]
        """
        path = Path(path)
        path.write_text(json.dumps(self.to_dict()))
        return path

    @classmethod
    def load(cls, path: str | Path) -> TokenVocabulary:
        """Read a vocabulary written by :meth:`save`.

        Raises:
            DataFormatError: the file is not valid JSON or not a saved vocabulary.
        """
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as error:
            raise DataFormatError(path, f"not a saved TokenVocabulary: {error}") from error
        if not isinstance(data, dict):
            raise DataFormatError(path, "not a saved TokenVocabulary: expected a JSON object")
        return cls.from_dict(data, source=path)

    def _set_words(self, words: list[str]) -> None:
        self.words_ = words
        self.index_ = {word: position for position, word in enumerate(words)}

    def _check_fitted(self) -> None:
        if not hasattr(self, "words_"):
            raise RuntimeError("TokenVocabulary is not fitted; call fit(texts) first")


__all__ = ["PAD", "UNK", "TokenVocabulary", "clean_texts", "tokenize"]
