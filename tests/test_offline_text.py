"""The offline handlers' text utilities: sentences, terms, entities, numbers, overlap, BM25."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from agentloom.models.offline import _text
from agentloom.models.offline._text import (
    bm25,
    content_terms,
    entities,
    format_number,
    idf,
    markers,
    number_spans,
    numbers,
    overlap,
    quantities,
    sentences,
    stem,
    strip_markers,
    terms,
)


def test_sentences_split_prose_and_keep_markers_with_their_sentence() -> None:
    text = "The station produces 290 MW [p_0123456789]. It opened in 2016. [p_abcdef0123] Output rose."
    assert sentences(text) == [
        "The station produces 290 MW [p_0123456789].",
        "It opened in 2016. [p_abcdef0123]",
        "Output rose.",
    ]


def test_sentences_do_not_split_abbreviations_decimals_or_initials() -> None:
    text = "Dr. Mira Osei approved 14.5 km of track, e.g. the Estuary Line. J. Smith agreed. Next."
    assert sentences(text) == [
        "Dr. Mira Osei approved 14.5 km of track, e.g. the Estuary Line.",
        "J. Smith agreed.",
        "Next.",
    ]


def test_sentences_are_markdown_aware() -> None:
    text = (
        "# Harrow Station\n\n"
        "The plant opened in 2011 and\nruns six trains.\n"
        "- Homes: 1,010 GWh\n"
        "1. First item.\n"
        "| Plant | Capacity |\n|---|---|\n| North | 40,000 |\n"
        "SKERRY SOUND - FACT SHEET\nLocation: the Sound.\n"
    )
    assert sentences(text) == [
        "Harrow Station",
        "The plant opened in 2011 and runs six trains.",
        "Homes: 1,010 GWh",
        "First item.",
        "Plant | Capacity",
        "North | 40,000",
        "SKERRY SOUND - FACT SHEET",
        "Location: the Sound.",
    ]


def test_numbered_markers_of_a_report_stay_with_their_sentence() -> None:
    assert sentences("Capacity is 290 MW. [1] Installed: 240 MW. [2][3] And [4] more.") == [
        "Capacity is 290 MW. [1]",
        "Installed: 240 MW. [2][3]",
        "And [4] more.",
    ]


def test_marker_helpers() -> None:
    text = "A claim [p_0123456789]. Another [w_abcdef0123] and again [p_0123456789]."
    assert markers(text) == ["[p_0123456789]", "[w_abcdef0123]"]
    assert strip_markers(text) == "A claim. Another and again."


def test_terms_drop_stopwords_and_markers_and_stem() -> None:
    assert terms("What are the capacities of the plants operated by Calder Water? [p_0123456789]") == [
        "capacity",
        "plant",
        "operat",
        "calder",
        "water",
    ]
    assert terms("It cost 1,200.50 crowns, 3.0 times more") == ["cost", "1200.5", "crown", "3", "time"]
    assert content_terms("plants plant PLANT") == {"plant"}


def test_stem_meets_common_forms() -> None:
    assert {stem(w) for w in ("operated", "operating", "operate", "operates")} == {"operat"}
    assert stem("capacities") == stem("capacity")
    assert stem("daily") == stem("day") and stem("built") == stem("build")
    assert stem("metres") == stem("metre") == stem("meter")
    assert stem("running") == "run" and stem("gas") == "gas" and stem("bus") == "bus"


def test_overlap_is_the_share_of_the_first_set_found_in_the_second() -> None:
    assert overlap({"a", "b"}, {"a", "c"}) == 0.5
    assert overlap({"a"}, {"a", "b", "c"}) == 1.0
    assert overlap(set(), {"a"}) == 0.0


def test_entities_are_capitalised_phrases_without_question_words() -> None:
    found = entities("Which is larger, the Port of Calder or Line 3? What about North Point and Saltmarsh in 2019?")
    assert found == ["Port of Calder", "Line 3", "North Point", "Saltmarsh"]
    assert entities("The Bank of the Estuary.") == ["Bank of the Estuary"]


def test_numbers_and_spans() -> None:
    assert numbers("It cost 1,200 crowns, rose 3.5% and fell -4 in 2019-2021 [p_3f9a0c12de] B2.") == [
        1200.0,
        3.5,
        -4.0,
        2019.0,
        2021.0,
    ]
    text = "About 240 homes and 12% of 3,000 cars"
    spans = number_spans(text)
    assert [(v, text[a:b]) for v, a, b in spans] == [(240.0, "240"), (12.0, "12"), (3000.0, "3,000")]
    assert quantities(text) == [(240.0, "home"), (12.0, "percent"), (3000.0, "car")]


def test_format_number() -> None:
    assert format_number(17000.0) == "17000"
    assert format_number(0.1 + 0.2) == "0.3"
    assert format_number(-2.5) == "-2.5"


def test_bm25_prefers_rare_matching_terms() -> None:
    docs = [terms("the tidal station output"), terms("the tram network output"), terms("tidal turbines turn slowly")]
    weights = idf(docs)
    avg = sum(map(len, docs)) / len(docs)
    query = terms("tram output")
    scores = [bm25(query, d, weights, avg) for d in docs]
    assert scores[1] > scores[0] > scores[2] == 0.0
    assert bm25(query, [], weights, avg) == 0.0


_word = st.text(alphabet=string.ascii_letters, min_size=1, max_size=8)
_sentence = st.builds(
    lambda words, end, marker: " ".join(words) + end + (" [p_0123456789]" if marker else ""),
    st.lists(_word, min_size=1, max_size=8),
    st.sampled_from([".", "!", "?", ""]),
    st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_sentence, min_size=1, max_size=6), st.sampled_from([" ", "\n", "  ", "\n\n"]))
def test_every_sentence_is_text_of_the_input(parts: list[str], sep: str) -> None:
    text = sep.join(parts)
    flat = _text.squash(text)
    for sentence in sentences(text):
        assert sentence and sentence in flat
