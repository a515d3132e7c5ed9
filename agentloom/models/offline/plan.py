"""Offline ``plan``: split a question into independent sub-questions, deterministically.

Rules (each holds for any corpus; they are about how English questions are built):

- Clauses: split at "; ", "as well as", and "and" before a new question or noun phrase, but only
  between clauses about different things. A clause that names nothing of its own ("... and how
  many stops does it have?", "the power rating and the energy capacity of X") or refers back with
  a pronoun (it, its, they, them, their) asks another attribute of the same thing, so it stays
  with the clause before it: split lists of entities, not lists of attributes.
- Entities: a list of named things ("capacities of A, B and C") becomes one sub-question per
  entity; a comparison ("X or Y", "X vs Y", "compare X and Y", "is X larger than Y") one per
  side, keeping the predicate.
- Computed answers: ``split_question`` splits "how much larger is X than Y", "the difference in
  Z between X and Y" and totals per side, for a DAG plan whose calculator task joins the sides.
  Sub-task plans (the ``plan`` purpose) have no joining step: each sub-task is researched by an
  independent team and the writer cannot compute. So a clause whose answer is computed from its
  parts (a difference, total, ratio or average) is kept too, whole, after its per-side parts:
  the team that researches it finds every figure and runs the calculator, and the report quotes
  that calculation.
- "then" / "using that" mark sequential steps.

The answer is JSON for ``planners.subtasks.SubTaskPlan``, validated like a real model's.
"""

from __future__ import annotations

import json
import re

from agentloom.models.offline._agreement import refer_to_one, singular_before, well_formed
from agentloom.models.types import Completion, ModelRequest
from agentloom.text.sections import question_in_messages

__all__ = ["respond", "split_question", "question_of", "is_computed"]

_WH = r"(?:what|when|where|who|whom|which|why|how|is|are|was|were|does|do|did|can|could|has|have|had|will|would|should)"
_CAP_WORD = r"[A-Z][\w'’.&-]*"
_CAP = rf"{_CAP_WORD}(?:\s+(?:(?:of|de|la|le|van|von|upon|the|and)\s+)?[A-Z0-9][\w'’.&-]*)*"
_ITEM = rf"(?:the\s+)?{_CAP}"
_LIST = re.compile(rf"({_CAP})((?:\s*,\s*{_ITEM})*)\s*,?\s+(and|or|vs\.?|versus|with)\s+({_ITEM})")
_THAN = re.compile(rf"^(?i:is|are|was|were)\s+({_ITEM})\s+(\w+)\s+(?:in\s+([\w ]+?)\s+)?than\s+({_ITEM})\s*$")
_HOW_MUCH_THAN = re.compile(rf"^(?i:how\s+much)\s+(\w+)\s+(?i:is|are|was|were)\s+({_ITEM})\s+than\s+({_ITEM})\s*$")
_HOW_MANY_MORE = re.compile(rf"^(?i:how\s+many)\s+(?:more|fewer|less)\s+([\w ]+?)\s+(?i:does|do|did)\s+({_ITEM})\s+(\w+)\s+than\s+({_ITEM})\s*$")
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
_PRONOUN = re.compile(r"\b(it|its|they|them|their|theirs|itself|themselves)\b", re.I)
#: A question whose answer is computed from its parts: a difference, a total, a ratio or an average.
_COMPUTED = re.compile(
    r"\bhow (?:much|many)\s+(?:\w+\s+)?(?:more|less|fewer|larger|bigger|smaller|higher|lower|longer|shorter|greater|"
    r"cheaper|dearer|taller|older|younger|newer|earlier|later|heavier|lighter|wider|narrower|deeper|shallower|faster|"
    r"slower|farther|further)\b|"
    r"\bhow many times (?:as|more|larger|bigger|greater|higher|longer)\b|\btimes (?:as|more|larger|bigger|greater|higher|longer)\b|"
    r"\bdifference (?:in|of)\b|\bratio\b|"
    r"\b(?:combined|in total|altogether|in all|total|sum of|add up|average|mean)\b",
    re.I,
)
_SINGULAR_ARE = re.compile(r"^What are the ((?:(?!and\b)\w+ )*?\w+(?<!s)) (of|for|in|at)\b")
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


def _rewrite_comparison(lead: str, item: str, tail: str) -> str | None:
    """One side of a comparison as its own question, keeping the predicate; None when the
    comparison has a shape these rules cannot rephrase (the clause then stays whole)."""
    lead_clean = lead.strip().rstrip(",").strip()
    article = re.search(r"\s*\bthe$", lead_clean, re.I)
    if article:  # "compare the A and B plants": the article goes with each item
        lead_clean = lead_clean[: article.start()].strip()
        item = item if item.lower().startswith("the ") else f"the {item}"
    low = lead_clean.lower()
    m = re.match(r"^(?:compare|contrast)\s+(?:the\s+)?(.+?)\s+(?:of|for|in)$", low)
    if m:
        return _end(f"What is the {_orig(lead_clean, m.group(1))} of {item}{tail}")
    if re.match(r"^(?:compare|contrast)$", low):
        return _end(f"Describe {item}{tail}")
    m = re.match(r"^(?:what is |what's )?the difference (?:in|of) (.+?) between$", low)
    if m:
        return _end(f"What is the {_orig(lead_clean, m.group(1))} of {item}{tail}")
    if re.match(r"^(?:what is |what's )?the difference between$", low):
        return _end(f"Describe {item}{tail}")
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
    if re.match(r"^(?:which|who)(?:\s+one)?\s+of$", low):  # "which of the A and B plants is larger"
        return _which_of(item, tail)
    if not any(w in _COMPARATIVE or w.endswith("est") for w in re.findall(r"[a-z]+", low)):
        return _one_of(lead_clean + " ", item, tail)  # "who runs A and B": a list, not a comparison
    return _which_aux(lead_clean, item)


def _which_of(item: str, tail: str) -> str | None:
    """A side of "which of A and B <noun> is larger / has more <noun>" as "How large is A <noun>?"."""
    m = re.match(r"^((?:\s+[a-z][\w-]*)*?)\s+(?:is|was|has|had)\s+(?:the\s+)?(\w+)\s*(\w*)", tail)
    if not m or m.group(2).lower() not in _COMPARATIVE:
        return None
    subject = f"{item}{m.group(1)}"
    base, default_noun = _COMPARATIVE[m.group(2).lower()]
    if m.group(2).lower() in ("more", "fewer", "less") and m.group(3):
        return _end(f"How {'many' if m.group(3).endswith('s') else 'much'} {m.group(3)} does {subject} have")
    return _end(f"How {base} is {subject}") if default_noun else None


def _which_aux(lead: str, item: str) -> str | None:
    """A side of "which barrier can be shut more quickly, A or B" as "How quickly can A be shut?"
    (or "Can A be shut more quickly?" when no comparative word is found); None for other shapes."""
    m = re.match(r"^(?:which|who)\s+(?:[\w-]+\s+){0,3}?(can|could|will|would|should|may|might|is|are|was|were|does|do|did)\s+(.+)$",
                 lead, re.I)
    if not m:
        return None
    aux, rest = m.group(1).lower(), m.group(2)
    aux = {"are": "is", "were": "was", "do": "does"}.get(aux, aux)
    more = re.search(r"\bmore\s+(\w+ly)\b", rest, re.I)
    if more:
        left = " ".join((rest[: more.start()] + rest[more.end():]).split())
        return _end(f"How {more.group(1)} {aux} {item} {left}")
    return _end(f"{aux.capitalize()} {item} {rest}")


def _lead_less(item: str, tail: str) -> str | None:
    """A side of a list that opens the clause: "A, B and C: when was each opened?" -> "When was
    A opened?"; "A and B capacity" -> "What is the capacity of A?"; None for other shapes."""
    m = re.match(r"^((?:\s+[a-z][\w-]*)*)\s*[:;,\u2014\u2013-]+\s*(.+)$", tail)
    if m is None:
        noun = tail.strip()
        if not noun:
            return f"Describe {item}."
        return _end(f"What is the {noun} of {item}") if re.fullmatch(r"[a-z][\w -]*", noun) else None
    subject, question = f"{item}{m.group(1)}", m.group(2).strip()
    if re.search(r"\b(?:each|they|them|their|it|its)\b", question, re.I):
        one = refer_to_one(question)
        named = re.sub(r"\bits\b", f"{subject}'s", one, count=1) if re.search(r"\bits\b", one) else one
        named = re.sub(r"\bit\b", subject, named, count=1) if named == one else named
        return _end(named[0].upper() + named[1:])
    comparison = re.match(r"^(?:which|who)(?:\s+one)?\s+(?:is|was)\s+(?:the\s+)?(\w+)", question, re.I)
    if comparison and comparison.group(1).lower() in _COMPARATIVE and _COMPARATIVE[comparison.group(1).lower()][1]:
        return _end(f"How {_COMPARATIVE[comparison.group(1).lower()][0]} is {subject}")
    return None


def _one_of(before: str, item: str, after: str) -> str:
    """``before`` + one item + ``after``, with the words that agreed with the whole list made to
    agree with one item ("When were A and B built" -> "When was A built")."""
    if re.search(r"\bthe\s*$", before, re.I) and item.lower().startswith("the "):
        item = item[4:]
    return _end(f"{singular_before(before)}{item}{refer_to_one(after)}")


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
    m = _HOW_MUCH_THAN.match(clause.strip())
    if m and m.group(1).lower() in _COMPARATIVE:  # "how much larger is X than Y": how large each is
        base = _COMPARATIVE[m.group(1).lower()][0]
        return [_end(f"How {base} is {x}") for x in (m.group(2), m.group(3))]
    m = _HOW_MANY_MORE.match(clause.strip())
    if m:  # "how many more stops does X have than Y": how many each has
        return [_end(f"How many {m.group(1)} does {x} {m.group(3)}") for x in (m.group(2), m.group(4))]
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
        part: str | None
        if comparative and (lead.endswith(",") or re.match(r"^(?:compare|contrast|which|who|what is the difference|what's the difference|the difference)\b", lead, re.I)):
            part = _rewrite_comparison(lead, item, tail)
        elif not lead.strip():
            part = _lead_less(item, tail)
        else:
            part = _one_of(before, item, after)
        if part is None or not well_formed(part, item):
            return [_end(clause)]  # a shape these rules cannot rephrase: the clause stays whole
        out.append(part)
    return out


def _subject(clause: str) -> str | None:
    """The first capitalised phrase of ``clause`` that is not a question or verb word."""
    for match in re.finditer(_CAP, clause):
        item, _ = _strip_lead_words(match.group(0))
        if item.split()[0].lower() not in _LEAD_SKIP:
            return item
    return None


def is_computed(question: str) -> bool:
    """Whether the answer to ``question`` is computed from several figures (a difference, a total,
    a ratio or an average) rather than read from a source."""
    return bool(_COMPUTED.search(question))


def _clause_spans(body: str) -> list[tuple[int, int]]:
    """Where the clauses of ``body`` are (see ``_CLAUSE_SPLIT``), without their separators."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _CLAUSE_SPLIT.finditer(body):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(body)))
    return [(a, b) for a, b in spans if body[a:b].strip(" ,")]


def _attribute_groups(body: str, spans: list[tuple[int, int]]) -> list[str]:
    """Clauses about different things, each as written: a clause that names nothing of its own
    or refers back with a pronoun joins the clause before it (the first clause joins the next)."""
    groups: list[list[int]] = []
    for start, end in spans:
        clause = body[start:end]
        own = _subject(clause)
        if groups and (own is None or _PRONOUN.search(clause)):
            groups[-1][1] = end
        else:
            groups.append([start, end])
    if len(groups) > 1 and _subject(body[groups[0][0] : groups[0][1]]) is None:
        groups[1][0] = groups[0][0]
        groups.pop(0)
    return [body[a:b].strip(" ,") for a, b in groups]


def split_question(question: str, *, keep_computed: bool = False) -> tuple[list[str], bool]:
    """Independent sub-questions of ``question`` (in order, without repeats) and whether the
    question has sequential steps. A question that does not split is returned alone. With
    ``keep_computed``, a clause whose answer is computed from its parts is also kept whole,
    after its parts, as the step that computes it."""
    text = " ".join(question.split())
    if not text:
        return [], False
    if _SEQUENTIAL.search(text):
        steps = [s.strip(" ,") for s in _SEQ_SPLIT.split(text.rstrip("?.!")) if s.strip(" ,")]
        if len(steps) > 1:
            return [_end(s[0].upper() + s[1:]) for s in steps], True
    body = text.rstrip("?.!").strip()
    clauses = _attribute_groups(body, _clause_spans(body))
    lead_match = _LEAD.match(clauses[0]) if clauses else None
    lead = lead_match.group(1) if lead_match else ""
    out: dict[str, None] = {}
    whole: set[str] = set()
    for i, clause in enumerate(clauses):
        if i > 0 and lead and not re.match(rf"^{_WH}\b", clause, re.I):
            # a noun phrase ("..., and the cost of X") asks what it is unless the lead already does
            noun_phrase = re.match(r"^(?:the|a|an|its|their|his|her)\b", clause, re.I)
            clause = f"What is {clause}" if noun_phrase and not re.search(r"\b(?:is|are|was|were)$", lead, re.I) else f"{lead} {clause}"
        parts = [sub[0].upper() + sub[1:] for sub in _expand(clause)]
        computed = keep_computed and is_computed(clause)
        if computed and len(parts) > 1:  # the parts, tidied now: the whole keeps its own words
            parts = [_tidy_part(sub) for sub in parts]
        elif computed:  # nothing to split: the clause alone is the computing step
            parts = []
        for sub in parts:
            out.setdefault(sub, None)
        if computed:
            sub = _end(clause[0].upper() + clause[1:])
            whole.add(sub)
            out.setdefault(sub, None)
    subs = list(out) or [_end(text)]
    if len(subs) > 1:
        subs = [sub if sub in whole else _tidy_part(sub) for sub in subs]
    return subs, False


def _tidy_part(sub: str) -> str:
    """One part of a split question: without the aggregate words that only applied to the
    whole, and with the verb agreeing with the noun ("What are the capacity of" -> "is")."""
    sub = _PLURAL_IS.sub(r"What are the \1 of", _end(_AGGREGATE.sub(" ", sub).replace(" ?", "?")))
    return _SINGULAR_ARE.sub(r"What is the \1 \2", sub)


def question_of(request: ModelRequest) -> str:
    """The question: the prompt's question section, else a ``Task:``/``Question:`` line, else
    the last user message."""
    hint = question_in_messages(m.content or "" for m in request.messages if m.role == "user")
    if hint:
        return hint
    for message in reversed(request.messages):
        if message.role != "user" or not message.content:
            continue
        for line in message.content.splitlines():
            for prefix in ("Task: ", "Question: "):
                if line.startswith(prefix):
                    return line[len(prefix):].strip()
    return request.last_user_text().strip()


def respond(request: ModelRequest) -> Completion:
    """Sub-questions as JSON (``sub_tasks``, ``sequential``, ``reason``). Each sub-task goes to
    its own team, so computed answers stay whole (see the module docstring)."""
    question = question_of(request)
    subs, sequential = split_question(question, keep_computed=True)
    if not subs:
        subs = [question] if question else []
    computed = [s for s in subs if is_computed(s)]
    if sequential:
        reason = f"{len(subs)} sequential steps (a later step uses an earlier result)"
    elif len(subs) > 1:
        if computed:
            reason = (
                f"split into {len(subs)} sub-questions at conjunctions, comparisons or listed entities; a part computed "
                "from several figures is also kept whole, so that one team gathers them all and calculates"
            )
        else:
            reason = f"split into {len(subs)} independent sub-questions at conjunctions, comparisons or listed entities"
    elif computed and question:
        reason = "kept whole: the answer is computed from several figures, so one team gathers them all and calculates"
    else:
        reason = "the question has a single part (or asks several things of one subject)"
    payload = {"sub_tasks": subs, "sequential": sequential, "reason": reason}
    return Completion(text=json.dumps(payload, ensure_ascii=False), finish_reason="stop")
