"""Offline ``write``: the report body, in Markdown, from a question and its findings.

The question and findings come from the prompt's delimited sections (``agentloom.text.sections``:
one ``<question>`` and one ``<finding title=...>`` per finding, the merged answer first), the
same prompt a real model reads. The body is ``# <title>``, ``## Short answer``
(the best-supported claim for each sub-question; for a computed answer, the claims that give
its operands, then the team's ``Computed:`` calculator line) and ``## Findings`` (a section per
sub-question when there are several). Every sentence is copied from a finding with its
``[p_...]`` markers as they are; the Writer numbers them. The writer calls no tool: a
computation appears only when a research team ran the calculator. With no evidence the report
says so and answers nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agentloom.citations import CITE_ID, CITE_MARKER
from agentloom.models.offline import _text
from agentloom.models.offline._evidence import (
    Candidate,
    Question,
    Ranker,
    claim_candidate,
    question_in,
    select,
)
from agentloom.models.offline._words import is_year
from agentloom.models.types import Completion, ModelRequest
from agentloom.text.sections import blocks, question_in_messages
from agentloom.text.titles import title_for

__all__ = ["NO_EVIDENCE_REPORT", "Finding", "findings_in", "render", "respond", "sources_in", "title_for"]

#: The short answer of a report with no supporting evidence.
NO_EVIDENCE_REPORT = (
    "No supporting evidence was found in the sources for this question, so this report does not answer it."
)
_NO_EVIDENCE = re.compile(r"^\s*no (supporting )?evidence (was )?found", re.I)
_COMPUTED = re.compile(r"^Computed:", re.I)


@dataclass(slots=True)
class Finding:
    """One finding: the sub-question (or team) it answers and its cited text."""

    title: str
    text: str


def respond(request: ModelRequest) -> Completion:
    """The report body for the request's question and findings."""
    prompt = "\n\n".join(m.content or "" for m in request.messages if m.role == "user")
    question = question_in_messages([prompt]) or question_in(prompt)
    findings = findings_in(prompt)
    return Completion(text=render(question, findings, sources=sources_in(prompt)), finish_reason="stop")


_SOURCE_LINE = re.compile(rf'^\[({CITE_ID})\] (.+?)(?::L\d+-L\d+)?: "', re.M)


def sources_in(prompt: str) -> dict[str, str]:
    """Where each cited passage comes from (id -> file path or URL), from the Writer prompt's
    "Passages you may cite" list; empty without one."""
    return {m.group(1): m.group(2) for m in _SOURCE_LINE.finditer(prompt)}


def findings_in(prompt: str) -> list[Finding]:
    """The prompt's ``<finding>`` sections, in order."""
    return [Finding(block.title, block.body) for block in blocks(prompt, "finding")]


def _claims(text: str) -> list[str]:
    """The usable sentences of a finding, markers kept; no-evidence lines are dropped."""
    return [s for s in _text.sentences(text) if not _NO_EVIDENCE.match(_text.strip_markers(s))]


def _best_claim(
    question: str, claims: list[str], *, fallback: bool = True, sources: dict[str, str] | None = None
) -> str | None:
    """The cited claim that best answers ``question`` (ranked like the research teams rank
    sentences, with each claim's file name as its context when ``sources`` gives it); when none
    is relevant, the first cited one (with ``fallback``) or None."""
    cited: list[Candidate] = []
    originals: dict[str, str] = {}
    for sentence in claims:
        clean = _text.strip_markers(sentence)
        ids = CITE_MARKER.findall(sentence)
        if not ids or _COMPUTED.match(clean) or clean in originals:
            continue
        originals[clean] = sentence
        cited.append(claim_candidate(clean, ids[0], len(cited), (sources or {}).get(ids[0])))
    if not cited:
        return None
    chosen = select(Ranker(Question.parse(question), cited), limit=1)
    if chosen:
        return originals[chosen[0].candidate.text]
    return originals[cited[0].text] if fallback else None


def _short_answer(question: str, findings: list[Finding], sources: dict[str, str] | None = None) -> list[str]:
    """The short answer. With one finding, its best cited claims for the question (up to
    three); with several (the merged answer first), for each sub-question the merged answer's
    best claim for it (else the sub-question's own best), in the merged answer's order, so that
    every sub-question is answered (up to six). When a computation was made, the claims that
    give its operands come first and the ``Computed:`` line last."""
    merged = _claims(findings[0].text) if findings else []
    computed = [c for f in findings for c in _claims(f.text) if _COMPUTED.match(_text.strip_markers(c))]
    room = max(3, min(6, len(findings) - 1))
    picks: list[str] = []

    def add(claim: str | None) -> None:
        if claim is not None and len(picks) < room and all(_key(claim) != _key(p) for p in picks):
            picks.append(claim)

    if computed:
        every = [c for f in findings for c in _claims(f.text)]
        for claim in _operand_claims(question, computed[0], every, sources):
            add(claim)
    for finding in findings[1:]:
        own = finding.title if len(_text.content_terms(finding.title)) >= 2 else question
        if computed and _operand_claims(own, computed[0], _claims(finding.text), sources):
            continue  # this part is already answered by the claim its figure came from
        mine = _best_claim(own, merged, fallback=False, sources=sources)
        add(mine or _best_claim(own, _claims(finding.text), sources=sources))
    if not picks:
        add(_best_claim(question, merged, sources=sources))
        rest = [c for c in merged if all(_key(c) != _key(p) for p in picks)]
        if len(findings) == 1 and rest:
            add(_best_claim(question, rest, fallback=False, sources=sources))
    order = [_key(c) for c in merged]
    if not computed:
        picks.sort(key=lambda p: order.index(_key(p)) if _key(p) in order else len(order))
    return picks + computed[:1]


_PRONOUN_OPENING = re.compile(r"^(It|Its|It's)\b")


def named_subject(question: str, claims: list[str]) -> list[str]:
    """The claims with an opening "It"/"Its" replaced by the one thing the question names, so
    the short answer says what it is about ("It covers 40 hectares" -> "Alder Park covers ...").
    Left alone when the question names no single thing or the claim already names it."""
    names = Question.parse(question).targets
    if len(names) != 1 or not claims:
        return claims
    label = names[0].label
    out = []
    for claim in claims:
        match = _PRONOUN_OPENING.match(claim)
        if match and label.lower() not in claim.lower():
            word = match.group(1)
            claim = (f"{label}'s" if word == "Its" else label + (" is" if word == "It's" else "")) + claim[match.end() :]
        out.append(claim)
    return out


_MORE = frozenset(
    "more larger bigger greater higher taller longer heavier wider deeper faster busier most largest biggest greatest "
    "highest tallest longest heaviest widest deepest fastest busiest".split()
)
_LESS = frozenset(
    "less fewer smaller lower shorter lighter narrower shallower slower cheaper least fewest smallest lowest shortest "
    "lightest narrowest shallowest slowest cheapest".split()
)


def _figure_for(claim: str) -> tuple[float, str, str] | None:
    """The first figure of a claim that is not a year: its value, unit and the text written."""
    clean = _text.strip_markers(claim)
    for value, start, end in _text.number_spans(clean):
        if is_year(value):
            continue
        unit = _text.unit_after(clean, end)
        rest = re.match(r"\s*(?:[A-Za-z³²%]+(?:\s+(?:metres|meters|feet|kilometres|per|of))?)?", clean[end:])
        return value, unit, clean[start : end + (rest.end() if rest else 0)].strip()
    return None


def comparison_lead(question: str, claims: list[str], sources: dict[str, str]) -> str | None:
    """For a question comparing named things on one measure ("which is longer, A or B"), the
    winner first: "A is longer (420 metres against 180 metres)." Only when every named thing
    has exactly one claim giving it a figure and all the figures share one unit; never a
    comparison across kinds of quantity."""
    words = re.findall(r"[a-z]+", question.lower())
    word = next((w for w in words if w in _MORE or w in _LESS), None)
    targets = Question.parse(question).targets
    if word is None or len(targets) < 2 or any(_COMPUTED.match(_text.strip_markers(c)) for c in claims):
        return None  # a computed answer ("how much larger") already says it
    figures: dict[int, tuple[float, str, str]] = {}
    for claim in claims:
        ids = CITE_MARKER.findall(claim)
        about = _text.content_terms(_text.strip_markers(claim) + " " + sources.get(ids[0] if ids else "", "").replace("_", " "))
        owners = [i for i, t in enumerate(targets) if t.head in about]
        figure = _figure_for(claim)
        if len(owners) == 1 and figure is not None and owners[0] not in figures:
            figures[owners[0]] = figure
    if len(figures) != len(targets) or len({f[1] for f in figures.values()}) != 1:
        return None
    order = sorted(figures, key=lambda i: figures[i][0], reverse=word in _MORE)
    if figures[order[0]][0] == figures[order[1]][0]:
        return None
    shown = " against ".join(figures[i][2] for i in order)
    verb = "has" if word in ("more", "less", "fewer", "most", "least", "fewest") else "is"
    return f"{targets[order[0]].label} {verb} {word} ({shown})."


_AUXILIARY = re.compile(r"^(?:is|are|was|were|does|do|did|has|have|had|can|could|will|would|should|may|might|must)\b", re.I)
_NEGATION = re.compile(r"\b(?:not|no|never|none|neither|nor|cannot|without)\b|n't\b", re.I)


def polar_lead(question: str, claims: list[str]) -> str | None:
    """"Yes." or "No." for a yes/no question (one opening with an auxiliary verb and offering no
    choice with "or"): "No." when the claims answering it are negated and the question is not,
    else "Yes."; ``None`` for any other question. A reader of a yes/no question wants that word
    first; the cited claims after it say why."""
    text = _text.squash(question)
    if not claims or not _AUXILIARY.match(text) or re.search(r"\bor\b", text, re.I):
        return None
    negated = any(_NEGATION.search(_text.strip_markers(c)) for c in claims)
    return "No." if negated != bool(_NEGATION.search(text)) else "Yes."


def _operand_claims(
    question: str, computed: str, claims: list[str], sources: dict[str, str] | None = None
) -> list[str]:
    """For each number of a ``Computed: <expression> = <value>.`` line, the cited claim that
    gives it (the one that best answers ``question`` when several do), in the expression's order."""
    expression = _text.strip_markers(computed).split(":", 1)[1].rsplit("=", 1)[0]
    out: list[str] = []
    for operand in _text.numbers(expression):
        holding = [
            c
            for c in claims
            if CITE_MARKER.search(c)
            and not _COMPUTED.match(_text.strip_markers(c))
            and operand in _text.numbers(_text.strip_markers(c))
        ]
        if not holding:
            continue
        best = _best_claim(question, holding, sources=sources) or holding[0]
        if all(_key(best) != _key(o) for o in out):
            out.append(best)
    return out


def _key(claim: str) -> str:
    """A claim without its markers, for telling repeats apart."""
    return _text.squash(_text.strip_markers(claim))


def render(question: str, findings: list[Finding], *, sources: dict[str, str] | None = None) -> str:
    """The report body: title, short answer, then the findings by sub-question. ``sources``
    (passage id -> path, see ``sources_in``) helps pick the short answer's claims."""
    lines = [f"# {title_for(question)}", "", "## Short answer", ""]
    grouped = [(f, _claims(f.text)) for f in findings]
    if not any(claims for _, claims in grouped):
        lines += [NO_EVIDENCE_REPORT, ""]
        return "\n".join(lines)
    picks = named_subject(question, _short_answer(question, findings, sources))
    lead = polar_lead(question, picks) or comparison_lead(question, picks, sources or {})
    lines += [" ".join(([lead] if lead else []) + picks), "", "## Findings", ""]
    if len(grouped) == 1:
        return "\n".join([*lines, " ".join(grouped[0][1]), ""])
    later = {_key(c) for _, claims in grouped[1:] for c in claims}
    shown: set[str] = set()
    for position, (finding, claims) in enumerate(grouped):
        if position == 0:  # the merged answer: only what no sub-question section will show
            fresh = [c for c in claims if _key(c) not in later]
        else:
            fresh = [c for c in claims if _key(c) not in shown]
        if not fresh and (position == 0 or claims):
            continue
        heading = finding.title.strip() or ("Overall" if position == 0 else f"Finding {position + 1}")
        if _text.squash(heading).rstrip("?").lower() == _text.squash(question).rstrip("?").lower():
            heading = "Overall"
        lines += [f"### {heading}", ""]
        lines += [" ".join(fresh) if fresh else "No supporting evidence was found for this part.", ""]
        shown.update(_key(c) for c in fresh)
    return "\n".join(lines).rstrip() + "\n"
