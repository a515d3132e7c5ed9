"""Offline ``plan``: split a question into independent sub-questions, deterministically.

Splits at clause conjunctions ("; ", "as well as", "and" before a new question or noun
phrase), expands comparisons ("X or Y", "X vs Y", "compare X and Y", "difference between X and
Y") into one sub-question per side keeping the predicate, and lists of entities ("capacities of
A, B and C") into one sub-question per entity. "then" / "using that" mark sequential steps.
The answer is JSON for ``planners.subtasks.SubTaskPlan``, validated like a real model's.
"""

from __future__ import annotations

import json
import re

from agentloom.models.types import Completion, ModelRequest

__all__ = ["respond", "split_question", "question_of"]

_WH = r"(?:what|when|where|who|whom|which|why|how|is|are|was|were|does|do|did|can|could|has|have|had|will|would|should)"
_CAP_WORD = r"[A-Z][\w'’.&-]*"
_CAP = rf"{_CAP_WORD}(?:\s+(?:(?:of|de|la|le|van|von|upon|the|and)\s+)?[A-Z0-9][\w'’.&-]*)*"
_ITEM = rf"(?:the\s+)?{_CAP}"
_LIST = re.compile(rf"({_CAP})((?:\s*,\s*{_ITEM})*)\s*,?\s+(and|or|vs\.?|versus|with)\s+({_ITEM})")
_THAN = re.compile(rf"^(?i:is|are|was|were)\s+({_ITEM})\s+(\w+)\s+(?:in\s+([\w ]+?)\s+)?than\s+({_ITEM})\s*$")
_HAS_MORE = re.compile(rf"^(?i:does|do|did|has|have)\s+({_ITEM})\s+(?:have\s+|has\s+)?(?:a\s+)?(?:more|less|fewer|larger|bigger|higher|greater|smaller|lower)\s+([\w ]+?)\s+than\s+({_ITEM})\s*$")
_AGGREGATE = re.compile(r"\s*\b(?:combined|in total|altogether|together|in all)\b|\b(?:total|sum of the|sum of|combined)\s+", re.I)
_LEAD_SKIP = {
    "what", "which", "who", "when", "where", "why", "how", "is", "are", "was", "were", "does", "do", "did",
    "compare", "contrast", "list", "give", "tell", "describe", "explain", "find", "show", "between", "the", "and", "or",
    "can", "could", "should", "would", "will", "has", "have", "had", "in", "for", "of",
}
_SEQUENTIAL = re.compile(r"\b(then|after that|afterwards|and use (?:it|that|this|the result)|using (?:that|this|it|those|the result)|based on (?:that|this|it|the result))\b", re.I)
_SEQ_SPLIT = re.compile(r"\s*(?:;|,?\s+and then\s+|,?\s+then\s+|,?\s+after that,?\s+|,?\s+afterwards,?\s+)\s*", re.I)
_CLAUSE_SPLIT = re.compile(rf"\s*;\s*|\s+as well as\s+(?=[a-z])|,?\s+and\s+(?={_WH}\b)|,?\s+and\s+(?=(?:the|its|their|his|her|a|an)\s+(?-i:[a-z]))", re.I)
_LEAD = re.compile(rf"^({_WH}(?:\s+(?:is|are|was|were|does|do|did|many|much|long|old))?)\b", re.I)
_SINGULAR_TAIL = re.compile(r"^(\s+[a-z][\w ]*?)(\w+?)(ies|s)\b")
_THAN_THAT = re.compile(rf"^.*?\bthe\s+([\w ]+?)\s+of\s+({_ITEM})\s+than\s+(?:that|those|the one)\s+of\s+({_ITEM})(.*)$")
_COMPARE_WITH = re.compile(r"^how (?:does|do|did)\s+(.+?)\s+compare\s+(?:with|to|against)\s+(.+)$", re.I)
_PRONOUN = re.compile(r"\b(it|its|they|them|their)\b")
_SINGULAR_ARE = re.compile(r"^What are the ((?:\w+ )*?\w+(?<!s)) (of|for|in|at)\b")
_PLURAL_IS = re.compile(r"^What is the (\w+(?<!ss)(?<!us)(?<!is)s) of")
_COMPARATIVE = {
    "larger": ("large", "size"), "bigger": ("big", "size"), "greater": ("great", "size"), "smaller": ("small", "size"),
    "higher": ("high", "height"), "lower": ("low", "height"), "taller": ("tall", "height"), "shorter": ("short", "length"),
    "longer": ("long", "length"), "older": ("old", "age"), "newer": ("new", "age"), "younger": ("young", "age"),
    "heavier": ("heavy", "weight"), "lighter": ("light", "weight"), "faster": ("fast", "speed"), "slower": ("slow", "speed"),
    "cheaper": ("cheap", "price"), "wider": ("wide", "width"), "deeper": ("deep", "depth"), "more": ("much", ""), "less": ("little", ""),
    "fewer": ("few", ""), "earlier": ("early", "date"), "later": ("late", "date"),
}


def _end(text: str) -> str:
    """``text`` as a sentence: a question mark after a question, a full stop after an instruction."""
    text = " ".join(text.split()).rstrip(" ,;")
    if text.endswith(("?", ".", "!")):
        return text
    return text + ("?" if re.match(rf"^{_WH}\b", text, re.I) else ".")


def _strip_lead_words(item: str) -> tuple[str, int]:
    """Drop leading question/verb words from a capitalised phrase; returns (item, chars dropped)."""
    words = item.split()
    dropped = 0
    while len(words) > 1 and words[0].lower().strip(",") in _LEAD_SKIP:
        dropped += len(words[0]) + 1
        words.pop(0)
    return " ".join(words), dropped


def _items(clause: str) -> tuple[int, int, list[str], str] | None:
    """The first list of two or more capitalised items in ``clause``: span, items, joiner."""
    for match in _LIST.finditer(clause):
        first, shift = _strip_lead_words(match.group(1))
        if first.split()[0].lower() in _LEAD_SKIP:
            continue
        rest = [p.strip() for p in match.group(2).split(",") if p.strip()]
        last = match.group(4).strip()
        items = [first, *rest, last]
        if len(set(items)) < 2:
            continue
        return match.start(1) + shift, match.end(4), items, match.group(3).lower().rstrip(".")
    return None


def _rewrite_comparison(lead: str, item: str, tail: str) -> str:
    """One side of a comparison as its own question, keeping the predicate."""
    lead_clean = lead.strip().rstrip(",").strip()
    low = lead_clean.lower()
    m = re.match(r"^(?:compare|contrast)\s+(?:the\s+)?(.+?)\s+(?:of|for|in)$", low)
    if m:
        return _end(f"What is the {_orig(lead_clean, m.group(1))} of {item}{tail}")
    if re.match(r"^(?:compare|contrast)$", low):
        return _end(f"Describe {item}{tail}")
    m = re.match(r"^(?:what is |what's )?the difference (?:in|of) (.+?) between$", low)
    if m:
        return _end(f"What is the {_orig(lead_clean, m.group(1))} of {item}")
    if re.match(r"^(?:what is |what's )?the difference between$", low):
        return f"Describe {item}."
    m = re.match(r"^(?:which|who)\b((?:\s+(?!is\b|was\b|has\b|had\b|are\b|were\b|have\b)\w+){0,3}?)\s+(?:is|was|has|had|are|were|have)\s+(?:the\s+)?(\w+)\s*(.*?)$", low)
    if m and m.group(2) in _COMPARATIVE:
        kind = _orig(lead_clean, m.group(1).strip()).strip()
        kind = "" if kind.lower() in ("", "one") else " " + kind
        noun = _orig(lead_clean, m.group(3)).strip()
        base, default_noun = _COMPARATIVE[m.group(2)]
        if noun:
            return _end(f"What is the {noun} of {item}{kind}")
        if default_noun:
            return _end(f"How {base} is {item}{kind}")
    return _end(f"{lead_clean} {item}{tail}".strip())


def _singular(match: re.Match[str]) -> str:
    stem, ending = match.group(2), match.group(3)
    if ending == "s" and stem.endswith(("s", "u", "i")):
        return match.group(0)
    return match.group(1) + stem + ("y" if ending == "ies" else "")


def _orig(original: str, lowered_piece: str) -> str:
    """``lowered_piece`` with the casing it has in ``original``."""
    at = original.lower().find(lowered_piece)
    return original[at:at + len(lowered_piece)] if at >= 0 and lowered_piece else lowered_piece


def _expand(clause: str) -> list[str]:
    """A clause with a list of entities or a comparison as one question per item."""
    m = _THAN_THAT.match(clause.strip())
    if m:
        rest = m.group(4).strip(" ,?.!")
        return [_end(f"What is the {m.group(1)} of {x}" + (f", {rest}" if rest else "")) for x in (m.group(2), m.group(3))]
    m = _COMPARE_WITH.match(clause.strip())
    if m:
        return [_end(f"What is {side.strip()}") for side in (m.group(1), m.group(2))]
    for pattern in (_THAN, _HAS_MORE):
        m = pattern.match(clause.strip())
        if m:
            groups = m.groups()
            sides = [groups[0], groups[-1]]
            if pattern is _THAN:
                word, noun = m.group(2).lower(), (m.group(3) or "").strip()
                base, default_noun = _COMPARATIVE.get(word, (word, ""))
                return [_end(f"What is the {noun} of {x}") if noun else _end(f"How {base} is {x}") if word in _COMPARATIVE else _end(clause) for x in sides]
            noun = m.group(2).strip()
            plural = noun.endswith("s") and not noun.endswith(("ss", "us", "is"))
            return [_end(f"How many {noun} does {x} have" if plural else f"What is the {noun} of {x}") for x in sides]
    found = _items(clause)
    if found is None:
        return [_end(clause)]
    start, end, items, joiner = found
    before, after = clause[:start], clause[end:]
    tail = after.rstrip(" ?.!")
    lead = before.rstrip()
    comparative = joiner in ("or", "vs", "versus", "with") or re.search(r"\b(compare|contrast|difference|which|who)\b", lead, re.I)
    out = []
    if len(items) > 1:
        after = _SINGULAR_TAIL.sub(_singular, after)
        tail = after.rstrip(" ?.!")
    for item in items:
        if comparative and (lead.endswith(",") or re.match(r"^(?:compare|contrast|which|who|what is the difference|what's the difference|the difference)\b", lead, re.I)):
            out.append(_rewrite_comparison(lead, item, tail))
        elif not lead.strip():
            noun = tail.strip()
            out.append(_end(f"What is the {noun} of {item}") if noun else f"Describe {item}.")
        else:
            out.append(_end(f"{before}{item}{after}"))
    return out


def _subject(clause: str) -> str | None:
    """The first capitalised phrase of ``clause`` that is not a question or verb word."""
    for match in re.finditer(_CAP, clause):
        item, _ = _strip_lead_words(match.group(0))
        if item.split()[0].lower() not in _LEAD_SKIP:
            return item
    return None


def split_question(question: str) -> tuple[list[str], bool]:
    """Independent sub-questions of ``question`` (in order, without repeats) and whether the
    question has sequential steps. A question that does not split is returned alone."""
    text = " ".join(question.split())
    if not text:
        return [], False
    if _SEQUENTIAL.search(text):
        steps = [s.strip(" ,") for s in _SEQ_SPLIT.split(text.rstrip("?.!")) if s.strip(" ,")]
        if len(steps) > 1:
            return [_end(s[0].upper() + s[1:]) for s in steps], True
    body = text.rstrip("?.!").strip()
    clauses = [c.strip(" ,") for c in _CLAUSE_SPLIT.split(body) if c and c.strip(" ,")]
    lead_match = _LEAD.match(clauses[0]) if clauses else None
    lead = lead_match.group(1) if lead_match else ""
    subject = _subject(clauses[0]) if clauses else None
    for i in range(len(clauses) - 1):  # "the power rating and the energy capacity of X": share "of X"
        if _subject(clauses[i]) is None:
            tail = re.search(rf"\s(?:of|for|at|in)\s+(?:the\s+)?{_CAP}.*$", clauses[i + 1])
            if tail:
                clauses[i] = clauses[i] + tail.group(0)
    out: dict[str, None] = {}
    for i, clause in enumerate(clauses):
        if i > 0 and lead and not re.match(rf"^{_WH}\b", clause, re.I):
            clause = f"{lead} {clause}"
        if i > 0 and subject and _subject(clause) is None:
            clause = _PRONOUN.sub(lambda m: subject + "'s" if m.group(1) in ("its", "their") else subject, clause)
        for sub in _expand(clause):
            sub = sub[0].upper() + sub[1:]
            out.setdefault(sub, None)
    subs = list(out) or [_end(text)]
    if len(subs) > 1:
        subs = [_PLURAL_IS.sub(r"What are the \1 of", _end(_AGGREGATE.sub(" ", sub).replace(" ?", "?"))) for sub in subs]
        subs = [_SINGULAR_ARE.sub(r"What is the \1 \2", sub) for sub in subs]
    return subs, False


def question_of(request: ModelRequest) -> str:
    """The question: ``metadata["question"]``, else a ``Task:``/``Question:`` line, else the
    last user message."""
    hint = request.metadata.get("question")
    if isinstance(hint, str) and hint.strip():
        return hint.strip()
    for message in reversed(request.messages):
        if message.role != "user" or not message.content:
            continue
        for line in message.content.splitlines():
            for prefix in ("Task: ", "Question: "):
                if line.startswith(prefix):
                    return line[len(prefix):].strip()
    return request.last_user_text().strip()


def respond(request: ModelRequest) -> Completion:
    """Sub-questions as JSON (``sub_tasks``, ``sequential``, ``reason``)."""
    question = question_of(request)
    subs, sequential = split_question(question)
    if not subs:
        subs = [question] if question else []
    if sequential:
        reason = f"{len(subs)} sequential steps (a later step uses an earlier result)"
    elif len(subs) > 1:
        reason = f"split into {len(subs)} independent sub-questions at conjunctions, comparisons or listed entities"
    else:
        reason = "the question has a single part"
    payload = {"sub_tasks": subs, "sequential": sequential, "reason": reason}
    return Completion(text=json.dumps(payload, ensure_ascii=False), finish_reason="stop")
