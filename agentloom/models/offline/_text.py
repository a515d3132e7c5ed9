"""Text utilities shared by the offline handlers: sentence splitting that keeps citation markers,
tokenising with stopwords and light stemming, entity and number extraction, overlap and BM25.

Everything here is deterministic and dependency-free, so extractive handlers (act, summarize,
verify, merge, plan, write) agree on what a "sentence" or a "term" is.

Public API:

- ``sentences(text)``: sentences of ``text`` (markdown-aware), each keeping its ``[p_...]`` markers.
- ``terms(text)`` / ``content_terms(text)``: stemmed content tokens (a list, or a set).
- ``overlap(a, b)``: the share of ``a``'s distinct terms that also occur in ``b``.
- ``entities(text)``: capitalised phrases ("Harrow Tidal Station"), in order, without repeats.
- ``numbers(text)``: numbers in ``text`` as floats ("1,200" -> 1200.0); ``number_spans`` adds
  positions, ``quantities`` the unit word after each number.
- ``RELATED`` / ``related_terms()``: words a source uses for a question's word ("population" ->
  "people"); ``HOW_MEASURE`` / ``COMPARATIVE_MEASURE``: the measure a "how <adjective>" or
  "how much <comparative>" question asks for.
- ``stem``, ``strip_markers``, ``markers``, ``squash``, ``idf``, ``bm25``, ``format_number``, ``STOPWORDS``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache

from agentloom.citations import CITE_ID

__all__ = [
    "COMPARATIVE_MEASURE",
    "ENTITY_PATTERN",
    "HOW_MEASURE",
    "RELATED",
    "STOPWORDS",
    "bm25",
    "content_terms",
    "entities",
    "format_number",
    "idf",
    "markers",
    "number_spans",
    "numbers",
    "quantities",
    "related_terms",
    "unit_after",
    "overlap",
    "sentences",
    "squash",
    "stem",
    "strip_markers",
    "terms",
]

#: Words that carry no topic: function words, question words, and generic request verbs.
STOPWORDS: frozenset[str] = frozenset(
    """
    a about above after again against all also am an and any are aren as at be because been before
    being below between both but by can cannot could couldn did didn do does doesn doing don down
    during each either few for from further had hadn has hasn have haven having he her here hers herself
    him himself his how however i if in into is isn it its itself just let me more most much must my
    myself neither no nor not now of off on once only or other ought our ours ourselves out over own
    per same shall she should shouldn so some such than that the their theirs them themselves then
    there these they this those through to too under until up upon us very via was wasn we were
    weren what when where whether which while who whom whose why will with within without won would
    wouldn you your yours yourself yourselves
    many each every tell give list describe explain say said please know find according compare
    """.split()
)

_MARKER = re.compile(rf"\[{CITE_ID}\]")
_WORD = re.compile(r"\d+(?:[.,]\d+)*|[a-z]+(?:'[a-z]+)?")
_NUMBER = re.compile(r"(?<![\w.])(?:-(?=\d))?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d])|(?<![\w.])(?:-(?=\d))?\d+(?:\.\d+)?(?![\d])")
_ABBREVIATIONS = frozenset(
    "e.g i.e dr mr mrs ms st no nos approx vs etc jan feb mar apr jun jul aug sep sept oct nov dec fig inc ltd co cf al".split()
)
_LIST_PREFIX = re.compile(r"^\s*(?:#{1,6}\s+|[-*+]\s+|\d{1,3}[.)]\s+|>\s*)")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
# A sentence ends at . ! or ? (plus closing quotes/brackets and any citation markers) before
# whitespace; the next sentence starts with a capital, a digit, a quote or a bracket.
# A passage marker before a capital or digit also ends one: "2 | Upper Line | 5.2 km [p_...] 1 | ...",
# the way an extractive answer cites a table row or a heading-like line.
_BOUNDARY = re.compile(
    rf"([.!?][\"')\]]*(?:\s*\[(?:{CITE_ID}|\d{{1,3}})\])*|\[{CITE_ID}\](?:\s*\[{CITE_ID}\])*)"
    r"\s+(?=[A-Z0-9\"'(\[*])"
)
_ANY_MARKER = re.compile(rf"\[(?:{CITE_ID}|\d{{1,3}})\]")


def squash(text: str) -> str:
    """``text`` with every run of whitespace collapsed to one space, trimmed."""
    return " ".join(text.split())


def strip_markers(text: str) -> str:
    """``text`` without citation markers (``[p_...]``, ``[w_...]``), whitespace tidied."""
    return squash(re.sub(r"\s+([.,;:!?])", r"\1", _MARKER.sub(" ", text)))


def markers(text: str) -> list[str]:
    """The citation markers in ``text`` (with brackets), in order, without repeats."""
    return list(dict.fromkeys(_MARKER.findall(text)))


#: Forms the suffix rules cannot reach ("daily" should meet "day", "built" should meet "build").
_IRREGULAR = {
    "daily": "day",
    "weekly": "week",
    "monthly": "month",
    "yearly": "year",
    "annually": "annual",
    "built": "build",
    "began": "begin",
    "begun": "begin",
    "ran": "run",
    "held": "hold",
    "paid": "pay",
    "bought": "buy",
    "made": "make",
    "cost": "cost",
    "costs": "cost",
    "costing": "cost",
    "led": "lead",
    "rose": "rise",
    "risen": "rise",
    "fell": "fall",
    "fallen": "fall",
    "grew": "grow",
    "grown": "grow",
    "metres": "metr",
    "meters": "metr",
    "meter": "metr",
}


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light, deterministic suffix stripper: plurals, -ing, -ed and a final -e.

    Enough to match "capacities"/"capacity", "plants"/"plant", "operated"/"operating"/"operate".
    """
    w = word.lower()
    if w in _IRREGULAR:
        return _IRREGULAR[w]
    if not w.isalpha() or len(w) <= 3:
        return w
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("sses"):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix in ("ing", "ed"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 4:
            w = w[: -len(suffix)]
            if len(w) >= 4 and w[-1] == w[-2] and w[-1] not in "aeiouls":
                w = w[:-1]
            if w.endswith("i"):
                w = w[:-1] + "y"
            break
    if w.endswith("e") and len(w) > 4:
        w = w[:-1]
    return w


#: What a question word is often written as in a source, from ordinary English usage:
#: "population" is given as "215,000 people", a length as "9.5 km", a cost as money spent.
#: Keys and values are surface words; ``related_terms`` gives them stemmed.
RELATED: dict[str, tuple[str, ...]] = {
    "population": ("people", "residents", "inhabitants"),
    "inhabitants": ("people", "residents", "population"),
    "residents": ("people", "inhabitants", "population"),
    "length": ("long", "km", "kilometres", "metres", "miles"),
    "height": ("tall", "high", "metres", "feet"),
    "distance": ("far", "km", "kilometres", "metres", "miles"),
    "depth": ("deep", "metres", "feet"),
    "width": ("wide", "metres", "feet"),
    "area": ("hectares", "acres", "square"),
    "weight": ("heavy", "tonnes", "tons", "kg", "kilograms"),
    "speed": ("fast", "kmh", "mph"),
    "age": ("old", "years", "built", "opened", "founded", "established"),
    "duration": ("long", "lasted", "years", "months", "weeks", "days", "hours", "minutes"),
    "cost": ("price", "spent", "paid", "expense", "funding"),
    "price": ("cost", "fare", "charge"),
    "revenue": ("income", "turnover", "sales"),
    "caused": ("due", "result", "led", "triggered", "blamed"),
    "opened": ("opening", "inaugurated", "launched", "commissioned", "completed"),
    "built": ("constructed", "construction", "completed", "erected"),
    "founded": ("established",),
    "established": ("founded",),
    "employees": ("employs", "staff", "workers", "people"),
    "staff": ("employs", "employees", "workers", "people"),
    "workers": ("employs", "employees", "staff", "people"),
    "closures": ("closed",),
    "closed": ("closures",),
    "deaths": ("killed", "died", "fatalities"),
    "operates": ("runs", "manages"),
    "runs": ("operates", "manages"),
    "manages": ("runs", "operates"),
    "capacity": ("produce", "holds", "seats", "accommodates"),
}

#: "How <adjective>" asks for a measure: "how long is" a length, "how old" an age.
HOW_MEASURE: dict[str, str] = {
    "long": "length",
    "tall": "height",
    "high": "height",
    "far": "distance",
    "deep": "depth",
    "wide": "width",
    "old": "age",
    "heavy": "weight",
    "fast": "speed",
}

#: A comparative asks for the same measure: "how much taller" compares heights.
COMPARATIVE_MEASURE: dict[str, str] = {
    "taller": "height",
    "shorter": "length",
    "higher": "height",
    "longer": "length",
    "farther": "distance",
    "further": "distance",
    "deeper": "depth",
    "shallower": "depth",
    "wider": "width",
    "narrower": "width",
    "older": "age",
    "younger": "age",
    "heavier": "weight",
    "lighter": "weight",
    "faster": "speed",
    "slower": "speed",
}


@lru_cache(maxsize=1)
def related_terms() -> dict[str, frozenset[str]]:
    """``RELATED`` stemmed: a question term -> the terms a source may use for it instead."""
    out: dict[str, set[str]] = {}
    for word, others in RELATED.items():
        key = stem(word)
        out.setdefault(key, set()).update(t for other in others for t in terms(other) if t != key)
    return {k: frozenset(v) for k, v in out.items()}


def _normalise_number(token: str) -> str:
    token = token.replace(",", "")
    if "." in token:
        head, _, tail = token.partition(".")
        tail = tail.rstrip("0")
        token = f"{head}.{tail}" if tail else head
    return token


def terms(text: str) -> list[str]:
    """Content tokens of ``text`` in order: lowercased, stopwords and markers removed, stemmed;
    numbers are kept in a normal form ("1,200.0" -> "1200")."""
    out: list[str] = []
    for token in _WORD.findall(_MARKER.sub(" ", text).lower()):
        if token[0].isdigit():
            out.append(_normalise_number(token))
            continue
        token = token.split("'")[0]
        if len(token) < 2 or token in STOPWORDS:
            continue
        out.append(stem(token))
    return out


def content_terms(text: str) -> set[str]:
    """The distinct content terms of ``text`` (see ``terms``)."""
    return set(terms(text))


def overlap(a_terms: Iterable[str], b_terms: Iterable[str]) -> float:
    """The share of ``a``'s distinct terms that also occur in ``b`` (0.0 when ``a`` is empty).

    Asymmetric on purpose: ``overlap(question, sentence)`` says how much of the question a
    sentence covers."""
    a = set(a_terms)
    if not a:
        return 0.0
    return len(a & set(b_terms)) / len(a)


_ENTITY_SKIP = frozenset(
    "a an the what which who whom whose when where why how is are was were do does did can could "
    "should would will in on at of for by to from and or if it its this that these those compare "
    "list give tell describe explain".split()
)
_ENTITY = re.compile(r"[A-Z][\w'’-]*(?:\s+(?:(?:of|de|du|la|le|van|von|upon)\s+(?:the\s+)?)?[A-Z0-9][\w'’-]*)*")
#: A capitalised phrase (a name, possibly with "of"/"de"/... inside it), as a regex pattern.
ENTITY_PATTERN = _ENTITY.pattern


def entities(text: str) -> list[str]:
    """Capitalised phrases in ``text`` ("Yew Ferry Terminal", "Route 9"), in order, without
    repeats; a lone capitalised question or function word ("What", "The") is not an entity."""
    found: dict[str, None] = {}
    clean = _MARKER.sub(" ", text)
    for match in _ENTITY.finditer(clean):
        words = match.group(0).split()
        while words and words[0].lower() in _ENTITY_SKIP:
            words.pop(0)
        while words and words[-1].lower() in _ENTITY_SKIP:
            words.pop()
        if not words:
            continue
        phrase = " ".join(words).rstrip("'’-")
        if len(phrase) < 2 or not any(ch.isupper() for ch in phrase):
            continue
        # A one-word phrase that only opens a sentence and is a common word is not a name.
        if len(words) == 1 and words[0].lower() in STOPWORDS:
            continue
        found.setdefault(phrase, None)
    return list(found)


def numbers(text: str) -> list[float]:
    """Numbers written in ``text`` as floats: "1,200" -> 1200.0, "3.5" -> 3.5, "-4" -> -4.0.

    Digits inside words or citation markers ("p_3f9a", "B2") are not numbers; a range like
    "2019-2021" gives 2019.0 and 2021.0."""
    clean = _MARKER.sub(" ", text)
    return [float(m.group(0).replace(",", "")) for m in _NUMBER.finditer(clean)]


def number_spans(text: str) -> list[tuple[float, int, int]]:
    """Like ``numbers`` but with positions: ``(value, start, end)`` of each number in ``text``
    (markers are blanked, not removed, so positions refer to ``text`` itself)."""
    clean = _MARKER.sub(lambda m: " " * len(m.group(0)), text)
    return [(float(m.group(0).replace(",", "")), m.start(), m.end()) for m in _NUMBER.finditer(clean)]


def unit_after(text: str, end: int) -> str:
    """The unit of the number ending at ``end``: the stemmed word right after it ("38,000 cubic
    metres" -> "cubic", "12%" -> "percent"), or "" when none follows."""
    rest = text[end:]
    if rest.startswith("%"):
        return "percent"
    match = re.match(r"\s*([A-Za-z³²]+)", rest)
    return stem(match.group(1).lower()) if match else ""


def quantities(text: str) -> list[tuple[float, str]]:
    """Each number in ``text`` with its unit (see ``unit_after``): "240 homes" -> (240.0, "home")."""
    return [(value, unit_after(text, end)) for value, _, end in number_spans(text)]


def format_number(value: float) -> str:
    """A number as a person writes it: integers without ".0", others up to 6 significant decimals."""
    if math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _split_block(block: str) -> list[str]:
    """Split one paragraph into sentences at ``_BOUNDARY``, skipping abbreviations."""
    out: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(block):
        end = match.end(1)
        before = block[start : match.start(1)]
        last_word = before.rsplit(None, 1)[-1].lower().rstrip(".") if before.strip() else ""
        if block[match.start(1)] == "." and (last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha())):
            continue
        piece = block[start:end].strip()
        if piece:
            out.append(piece)
        start = match.end()
    tail = block[start:].strip()
    if tail:
        out.append(tail)
    return out


_UPPER = re.compile(r"[A-Z]")
_LOWER = re.compile(r"[a-z]")


def _is_title(line: str) -> bool:
    """A line in capitals ("SKERRY SOUND - FACT SHEET") is a title: a block of its own."""
    upper = len(_UPPER.findall(line))
    if upper < 5:
        return False
    lower = len(_LOWER.findall(line))
    return upper + lower >= 6 and upper >= 0.7 * (upper + lower)


def _continues_item(raw: str, item: str) -> bool:
    """Whether ``raw`` carries on the list item ``item`` (Markdown continuation): an indented
    line, or any plain line while the item has not ended its sentence."""
    line = raw.strip()
    if _LIST_PREFIX.match(line) or line.startswith("|") or _is_title(line) or _TABLE_RULE.match(line):
        return False
    return raw[:1] in (" ", "\t") or not _STATEMENT_END.search(item)


_STATEMENT_END = re.compile(r"[.!?:][\"'’”)\]]*$")


def join_lists(text: str) -> str:
    """``text`` with every line that ends in a colon and introduces a list extended by the list's
    items ("Three depots serve the city: North; East; West."), so the sentence that announces a
    list answers for all of it. The item lines stay as they were."""
    lines = text.splitlines()
    out: list[str] = []
    for i, line in enumerate(lines):
        out.append(line)
        stripped = line.strip()
        if not stripped.endswith(":") or stripped.startswith("#"):
            continue
        items: list[str] = []
        for follow in lines[i + 1 :]:
            if not follow.strip():
                if items:
                    break
                continue
            prefix = _LIST_PREFIX.match(follow.strip())
            if not prefix or follow.strip().startswith("#"):
                break
            items.append(follow.strip()[prefix.end() :].strip().rstrip(".;,"))
        if len(items) >= 2:
            lead = _LIST_PREFIX.sub("", stripped, count=1) if _LIST_PREFIX.match(stripped) else stripped
            out[-1] = line[: len(line) - len(line.lstrip())] + f"{lead} {'; '.join(items)}."
    return "\n".join(out)


def sentences(text: str) -> list[str]:
    """The sentences of ``text``, each a substring of it up to whitespace, markers kept.

    Markdown-aware: a heading, list item, quote line, table row or line in capitals is its own
    block (a leading ``#``/``-``/``1.``/``>`` and a table row's outer pipes are dropped; table
    rules are skipped); a list item goes on over the lines that continue it (indented, or
    before the item has ended its sentence); consecutive plain lines form a paragraph.
    Citation markers after a full stop (``[p_...]``, or the numbered ``[3]`` of a finished
    report) stay with the sentence before them, and a passage marker followed by a capital or
    digit ends a sentence even without a full stop. Whitespace inside a sentence is collapsed
    to single spaces."""
    blocks: list[str] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append(" ".join(paragraph))
            paragraph.clear()

    item_open = False  # the last block is a list item that may continue on the next line
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            flush()
            item_open = False
            continue
        if item_open and _continues_item(raw, blocks[-1]):
            blocks[-1] = f"{blocks[-1]} {line}"
            continue
        item_open = False
        if _TABLE_RULE.match(line) and "-" in line:
            flush()
            continue
        if _is_title(line):
            flush()
            blocks.append(line)
            continue
        if line.startswith("|"):
            flush()
            blocks.append(line.strip("|").strip())
            continue
        prefix = _LIST_PREFIX.match(line)
        if prefix:
            flush()
            blocks.append(line[prefix.end() :].strip())
            item_open = not line.startswith("#")
            continue
        paragraph.append(line)
    flush()
    out: list[str] = []
    for block in blocks:
        for piece in _split_block(squash(block)):
            if _ANY_MARKER.sub("", piece).strip(" .;,"):
                out.append(piece)
            elif out:  # markers alone: they belong to the sentence before
                out[-1] = f"{out[-1]} {piece}"
    return out


def idf(documents: Sequence[Iterable[str]]) -> dict[str, float]:
    """BM25 inverse document frequency of every term over ``documents`` (each a term collection)."""
    n = len(documents)
    df: Counter[str] = Counter()
    for doc in documents:
        df.update(set(doc))
    return {term: math.log(1.0 + (n - count + 0.5) / (count + 0.5)) for term, count in df.items()}


def bm25(
    query: Iterable[str],
    document: Sequence[str],
    weights: dict[str, float],
    avg_len: float,
    *,
    k1: float = 1.2,
    b: float = 0.75,
    default: float | None = None,
) -> float:
    """The BM25 score of ``document`` (a term list) for ``query`` terms, with ``weights`` from
    ``idf``; unknown terms weigh ``default`` (else as the rarest known term)."""
    if not document:
        return 0.0
    counts = Counter(document)
    norm = k1 * (1.0 - b + b * len(document) / max(avg_len, 1.0))
    if default is None:
        default = max(weights.values(), default=1.0)
    score = 0.0
    for term in set(query):
        tf = counts.get(term, 0)
        if tf:
            score += weights.get(term, default) * tf * (k1 + 1.0) / (tf + norm)
    return score
