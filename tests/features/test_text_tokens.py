"""Token vocabulary for text encoders: reserved indices, missing text, truncation,
determinism, persistence and bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recforge.core.errors import DataFormatError
from recforge.features.text_tokens import PAD, UNK, TokenVocabulary, clean_texts, tokenize

TEXTS = [
    "Toy Story (1995). Animation, Children's, Comedy",
    "Jumanji (1995). Adventure, Children's, Fantasy",
    "Heat (1995). Action, Crime, Thriller",
    "Alien (1979). Action, Horror, Sci-Fi",
]


def test_tokenize_lowercases_and_keeps_inner_apostrophes():
    assert tokenize("Children's Sci-Fi_Thing 2 ÉTÉ") == [
        "children's",
        "sci",
        "fi",
        "thing",
        "2",
        "été",
    ]
    assert tokenize("Abc", lowercase=False) == ["Abc"]
    assert tokenize("  ...  ") == []


def test_vocabulary_orders_words_by_count_then_alphabet():
    vocab = TokenVocabulary().fit(TEXTS)
    assert vocab.words_[:2] == ["<pad>", "<unk>"]
    assert vocab.words_[2:5] == ["1995", "action", "children's"]  # 3, 2, 2 occurrences
    assert len(vocab) == 2 + len({w for t in TEXTS for w in tokenize(t)})
    # order of the texts does not matter
    assert TokenVocabulary().fit(TEXTS[::-1]).words_ == vocab.words_


def test_transform_pads_marks_unknown_and_handles_missing_text():
    vocab = TokenVocabulary(max_tokens=5).fit(TEXTS)
    tokens = vocab.transform(["heat alien zzz", None, float("nan"), "", "?!", "zzz yyy"])
    assert tokens.dtype == np.int64 and tokens.shape == (6, 5)
    heat, alien = vocab.index_["heat"], vocab.index_["alien"]
    assert tokens[0].tolist() == [heat, alien, UNK, PAD, PAD]
    assert (tokens[1:5] == PAD).all()  # no text: padding only
    assert tokens[5].tolist() == [UNK, UNK, PAD, PAD, PAD]  # unknown words are not "no text"
    assert vocab.n_truncated_ == 0


def test_long_texts_keep_their_first_words():
    vocab = TokenVocabulary(max_tokens=3).fit(TEXTS)
    tokens = vocab.transform([TEXTS[0], "heat"])
    assert tokens[0].tolist() == [vocab.index_[w] for w in ("toy", "story", "1995")]
    assert vocab.n_truncated_ == 1


def test_min_count_and_max_size_send_rare_words_to_unknown():
    vocab = TokenVocabulary(min_count=2).fit(TEXTS)
    assert vocab.words_ == ["<pad>", "<unk>", "1995", "action", "children's"]
    assert vocab.transform(["heat"]).tolist()[0][0] == UNK
    assert TokenVocabulary(max_size=1).fit(TEXTS).words_ == ["<pad>", "<unk>", "1995"]


def test_texts_without_words_give_only_the_reserved_indices():
    vocab = TokenVocabulary(max_tokens=2).fit([None, "", "..."])
    assert len(vocab) == 2
    assert vocab.transform(["anything"]).tolist() == [[UNK, PAD]]


def test_pandas_series_with_numbers_and_missing_values():
    texts = pd.Series(["1984", 1984, np.nan, None], dtype=object)
    vocab = TokenVocabulary(max_tokens=2).fit(texts)
    assert vocab.transform(texts).tolist() == [[2, 0], [2, 0], [0, 0], [0, 0]]


def test_bad_input_names_the_position():
    with pytest.raises(TypeError, match="not one string"):
        TokenVocabulary().fit("one text")
    with pytest.raises(TypeError, match=r"texts\[2\]: expected a string.*got list"):
        clean_texts(["a", None, ["b"]])
    with pytest.raises(RuntimeError, match="not fitted"):
        TokenVocabulary().transform(["a"])
    for bad in ({"max_tokens": 0}, {"min_count": 0}, {"max_size": 0}, {"max_tokens": 2.5}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            TokenVocabulary(**bad)  # type: ignore[arg-type]


def test_save_load_round_trip_and_corrupt_files(tmp_path):
    vocab = TokenVocabulary(max_tokens=4, min_count=1).fit(TEXTS)
    loaded = TokenVocabulary.load(vocab.save(tmp_path / "tokens.json"))
    assert loaded.words_ == vocab.words_ and loaded.max_tokens == 4
    np.testing.assert_array_equal(loaded.transform(TEXTS), vocab.transform(TEXTS))

    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(DataFormatError, match=r"junk\.json"):
        TokenVocabulary.load(tmp_path / "junk.json")
    future = {**vocab.to_dict(), "format_version": 9}
    (tmp_path / "future.json").write_text(json.dumps(future))
    with pytest.raises(DataFormatError, match="format_version 9"):
        TokenVocabulary.load(tmp_path / "future.json")
    shuffled = {**vocab.to_dict(), "words": ["<unk>", "<pad>", "a"]}
    (tmp_path / "bad.json").write_text(json.dumps(shuffled))
    with pytest.raises(DataFormatError, match=r"bad\.json.*'<pad>'"):
        TokenVocabulary.load(tmp_path / "bad.json")
