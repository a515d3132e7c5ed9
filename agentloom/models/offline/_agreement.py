"""English agreement for sub-questions: when one item of a list ("X and Y") stands in for the
whole list, the verbs and pronouns that referred to the list must become singular ("When were
X and Y built, and how many times has each closed?" -> "When was X built, and how many times has
it closed?"); and a check that a rewritten sub-question is well formed, so the planner keeps a
clause whole rather than emit a garbled heading. Rules about English, not about any corpus."""

from __future__ import annotations

import re

__all__ = ["singular_before", "refer_to_one", "third_person", "well_formed"]

#: Plural auxiliaries and their singular forms.
_SINGULAR = {"are": "is", "were": "was", "do": "does", "have": "has"}
_MODALS = frozenset("can could will would shall should may might must did does is was has had".split())
_ADVERBS = frozenset("still also now ever often never usually currently already not both all".split())
_AUX_BEFORE = re.compile(r"\b(are|were|do|have)(\s+(?:the\s+)?)$", re.I)
_PRONOUN_VERB = re.compile(r"\b(do|are|were|have)\s+(they)\b", re.I)
_THEY_VERB = re.compile(r"\bthey\s+((?:" + "|".join(sorted(_ADVERBS)) + r")\s+)?([a-z]+)\b", re.I)
_IT_PLURAL = re.compile(r"\bit\s+(are|were|have|do)\b", re.I)
_FUNCTION_WORD = r"(?:the|a|an|of|in|for|to|at|by|with|from|between|and|or|than)"
_BAD = (
    re.compile(r"\b(?:the|a|an)\s+(?:the|a|an)\b", re.I),  # "the the"
    re.compile(rf"\b{_FUNCTION_WORD}\s*[?.!,:;]"),  # "What is the, ..." / "... of?" (lower case: "Line A?" is a name)
    re.compile(r"[,:;]\s*[,:;?.!]"),  # doubled punctuation
    re.compile(r"^[^A-Za-z]"),
    re.compile(r"^(?:how|when|where|why|what|which|who)\s+(?:the|a|an|its|their)\b", re.I),  # "How the cost of ..."
    re.compile(r"\b(\w+)\s+\1\b", re.I),  # a word twice in a row
    re.compile(r"\b(?:it|its)\s+(?:are|were|have|do)\b", re.I),
)


def _cased(word: str, like: str) -> str:
    return word[0].upper() + word[1:] if like[:1].isupper() else word


def singular_before(before: str) -> str:
    """``before`` (the words ahead of a list) with a plural auxiliary right before the list made
    singular: "Where are the " -> "Where is the ", "What do " -> "What does "."""
    def swap(match: re.Match[str]) -> str:
        word = match.group(1)
        return _cased(_SINGULAR[word.lower()], word) + match.group(2)

    return _AUX_BEFORE.sub(swap, before)


def third_person(verb: str) -> str:
    """``verb`` as it follows "it": "produce" -> "produces", "carry" -> "carries"; auxiliaries,
    modals and past forms as they are."""
    low = verb.lower()
    if low in _SINGULAR:
        return _cased(_SINGULAR[low], verb)
    if low in _MODALS or low.endswith(("ed", "ly")) or low.endswith("s") and not low.endswith(("ss", "sh")):
        return verb
    if low.endswith(("sh", "ch", "x", "z", "o", "ss")):
        return verb + "es"
    if len(low) > 1 and low.endswith("y") and low[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def refer_to_one(text: str) -> str:
    """``text`` (words after a list, or a question about "each" of it) with the pronouns that
    referred to the list made singular, and their verbs agreeing: "what do they cost" -> "what
    does it cost", "the capacity of each" -> "its capacity", "has each closed" -> "has it closed"."""
    text = re.sub(r"\s+both\b", "", text, flags=re.I)
    text = re.sub(r"\bthe ((?:[a-z]+ ){0,2}[a-z]+) of each(?: of them)?\b", r"its \1", text)
    text = re.sub(r"\beach (?:one|of them|of these|of those)\b", "it", text, flags=re.I)
    text = _PRONOUN_VERB.sub(lambda m: _cased(_SINGULAR[m.group(1).lower()], m.group(1)) + " it", text)

    def they(match: re.Match[str]) -> str:
        adverb = match.group(1) or ""
        return "it " + adverb + third_person(match.group(2))

    text = _THEY_VERB.sub(they, text)
    text = re.sub(r"\btheir\b", "its", text, flags=re.I)
    text = re.sub(r"\bthemselves\b", "itself", text, flags=re.I)
    text = re.sub(r"\b(they|them)\b", "it", text, flags=re.I)
    text = re.sub(r"\b(has|does|did|is|was|can|could|will|would)\s+each\b", r"\1 it", text, flags=re.I)
    text = re.sub(r"\beach\b(?=\s*(?:[?.!,;]|$))", "it", text)
    text = re.sub(r"\beach\s+(?=(?:is|was|has|have|does|do|did|can|could|will|would|should|may|might|must)\b)", "it ", text)
    text = re.sub(r"\beach\s+(?=[a-z])", "the ", text)  # "each plant" -> "the plant"
    return _IT_PLURAL.sub(lambda m: "it " + _cased(_SINGULAR[m.group(1).lower()], m.group(1)), text)


def well_formed(sub: str, item: str | None = None) -> bool:
    """Whether a rewritten sub-question reads as English: no "the the", no function word before
    punctuation, no doubled punctuation or word, no "How the ..."; and it names ``item``."""
    if any(pattern.search(sub) for pattern in _BAD):
        return False
    return item is None or item.lower().removeprefix("the ") in sub.lower()
