"""Folding and search terms (conveyor.awards.folding) against a plain-Python reading of them."""

from __future__ import annotations

import polars as pl
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conveyor.awards.folding import fold, fold_series, fold_texts, search_terms
from tests.support import folding

# Letters with and without accents, Greek with its final sigma, ASCII and Unicode whitespace.
ALPHABET = st.sampled_from(
    list("aAzZ09  .*'\"%&-") + list("ñÑéÉçüßİΣσς") + ["\t", "\n", "\u00a0", "\u2003"]
)
TEXTS = st.lists(st.one_of(st.none(), st.text(ALPHABET, max_size=12)), max_size=30)


@settings(max_examples=200, deadline=None, database=None)
@given(texts=TEXTS)
@example(texts=["Ordoñez  Construction", " ΟΔΟΣ\tWorks ", "plain ascii", None, ""])
def test_the_fast_fold_equals_the_full_fold_and_the_rules(texts: list[str | None]) -> None:
    series = pl.Series("t", texts, dtype=pl.String)
    full = series.to_frame().select(fold(pl.col("t"))).to_series()
    assert fold_series(series).to_list() == full.to_list()
    words = series.to_frame().select(fold(pl.col("t"), whitespace=False)).to_series()
    assert fold_series(series, whitespace=False).to_list() == words.to_list()
    assert full.to_list() == [None if t is None else folding.fold(t) for t in texts]


def test_the_issues_examples_fold_as_documented() -> None:
    assert fold_texts(["Ordoñez", "ORDONEZ", "  canal \u00a0\t drainage\n", "ΟΔΟΣ"]) == [
        "ordonez",
        "ordonez",
        "canal drainage",
        "οδοσ",
    ]


@settings(max_examples=200, deadline=None, database=None)
@given(texts=st.lists(st.text(ALPHABET, max_size=20), max_size=4))
def test_search_terms_are_the_documented_words_and_phrases(texts: list[str]) -> None:
    assert search_terms(texts) == folding.terms(texts)


def test_words_split_and_quoted_phrases_stay_whole() -> None:
    assert search_terms(['Supply  "Fire  Fighting" supply "open']) == [
        "supply",
        "fire fighting",
        "open",
    ]
    assert search_terms(["canal drainage"]) == ["canal", "drainage"]
    assert search_terms(['O"Brien', '""', "   "]) == ['o"brien']
