"""``Writer``: turns the findings of a research run into the final Markdown report.

The model (purpose ``write``) drafts the body from the findings, citing with the ``[p_...]``
markers it is given. Everything after that is deterministic code, so a report's citations can be
trusted whatever model wrote it: markers are numbered ``[1]``, ``[2]`` ... in order of first
appearance, markers of unknown passages (and any numbers the model made up) are dropped, and the
references list, the partial-run banner and the usage footer are appended here, never by the model.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentloom import tracing
from agentloom.citations import CITE_ID, CITE_MARKER, Citation
from agentloom.models.base import strip_fences
from agentloom.models.types import Message, Model, ModelRequest
from agentloom.text.sections import question_block, section
from agentloom.text.titles import title_for

__all__ = ["Report", "Writer", "finalize", "findings_body", "number_citations", "ungrounded_note", "usage_footer", "WRITER_INSTRUCTIONS"]

WRITER_INSTRUCTIONS = """You write the final report of a research run, in Markdown.

Use only the findings you are given; never add facts of your own. Cite every claim with the
citation markers exactly as they appear in the findings, for example [p_3f9a0c12de], placed
right after the sentence they support. Do not invent markers and do not number them: they are
numbered for you. Do not write a references list; it is added for you.

Structure:
# <a title: the question>
## Short answer
One to three sentences that answer the question directly, with their markers.
## Findings
One ### section per sub-question, headed by the sub-question, with what was found.

If the findings hold no supporting evidence, say plainly in the short answer that no supporting
evidence was found and do not answer the question."""

_PARTIAL_BANNER = (
    "> **Partial report.** The run stopped before it finished (budget limit or interruption); "
    "this report is built from the findings gathered until then."
)
_GROUPED = re.compile(rf"\[((?:{CITE_ID})(?:\s*[,;]\s*{CITE_ID})+)\]")
_NUMERIC = re.compile(r"\s?\[\d{1,3}\](?!\()")
_REFERENCES = re.compile(r"^(#{1,3})\s*(references|sources|bibliography|citations)\s*$", re.I | re.M)
_HEADING = re.compile(r"^(#{1,6})\s", re.M)


@dataclass
class Report:
    """A finished report: its Markdown, the short answer (with numbered markers), the cited
    passages in reference order (``citations[0]`` is ``[1]``) and its title."""

    markdown: str
    short_answer: str
    citations: list[Citation] = field(default_factory=list)
    title: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "short_answer": self.short_answer,
            "markdown": self.markdown,
            "citations": [{"n": i + 1, **c.to_dict()} for i, c in enumerate(self.citations)],
        }


def _finding(item: Any) -> dict[str, str]:
    """A finding as ``{"title", "text"}`` from a dict, an object with attributes, or a string."""
    if isinstance(item, str):
        return {"title": "", "text": item}
    if isinstance(item, Mapping):
        get = item.get
    else:
        def get(name: str, default: Any = None) -> Any:
            return getattr(item, name, default)
    title = get("title") or get("question") or get("name") or ""
    text = get("text")
    if text is None:
        text = get("output") or get("answer") or ""
    return {"title": str(title), "text": str(text)}


class Writer:
    """Writes the report with ``model`` (a model object or spec; default ``$AGENTLOOM_MODEL`` or
    offline). ``max_tokens`` bounds the body the model drafts."""

    def __init__(self, model: str | Model | None = None, *, max_tokens: int = 2048, instructions: str = WRITER_INSTRUCTIONS) -> None:
        self.model = model
        self.max_tokens = max_tokens
        self.instructions = instructions

    def _resolved(self) -> Model:
        from agentloom.models.resolve import resolve_model

        return resolve_model(self.model) if self.model is None or isinstance(self.model, str) else self.model

    def prompt(self, question: str, findings: list[dict[str, str]], passages: Mapping[str, Citation]) -> str:
        """The user message: the question, the findings (merged answer first) and the passages
        they cite, so a real model can see what each marker points to."""
        parts = [question_block(question), "", "Findings (the merged answer first):", ""]
        for item in findings:
            parts += [section("finding", item["text"].strip() or "(nothing found)", title=item["title"]), ""]
        cited: list[str] = []
        for item in findings:
            for pid in CITE_MARKER.findall(item["text"]):
                if pid in passages and pid not in cited:
                    cited.append(pid)
        if cited:
            parts.append("Passages you may cite (marker, source, opening text):")
            lines = []
            for pid in cited[:60]:
                passage = passages[pid]
                opening = " ".join(passage.text.split())[:240]
                lines.append(f'[{pid}] {passage.where()}: "{opening}"')
            parts.append(section("passages", "\n".join(lines)))
        return "\n".join(parts).rstrip() + "\n"

    async def write(
        self,
        question: str,
        findings: Sequence[Any],
        passages: Mapping[str, Citation],
        *,
        usage: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | Any | None = None,
        partial: bool = False,
        ungrounded: Sequence[str] = (),
    ) -> Report:
        """Draft the report with the model, then number citations and add the references, the
        banner (when ``partial``) and the usage footer. ``usage`` may be a function, read after
        the drafting call so the footer includes it. ``ungrounded`` names the sub-questions whose
        answers were set aside as ungrounded; the report says so."""
        from agentloom.models.base import call_model

        items = [_finding(f) for f in findings]
        request = ModelRequest(
            messages=[Message.system(self.instructions), Message.user(self.prompt(question, items, passages))],
            max_tokens=self.max_tokens,
            temperature=0.0,
            purpose="write",
            metadata={"partial": partial},
        )
        completion = await call_model(self._resolved(), request)
        body = _grounded_body(completion.text or "", question, items, passages)
        if not body.strip():
            # A model that returns nothing still gets an honest report: the findings as written.
            tracing.emit("writer_fallback", "writer", data={"reason": "empty draft"})
            body = findings_body(question, items)
        if callable(usage):
            usage = usage()
        return finalize(body, passages, question=question, usage=usage, partial=partial, ungrounded=ungrounded)

    def write_sync(self, question: str, findings: Sequence[Any], passages: Mapping[str, Citation], **kwargs: Any) -> Report:
        """``write`` for synchronous code."""
        return asyncio.run(self.write(question, findings, passages, **kwargs))


# --------------------------------------------------------------------------- deterministic part
def ungrounded_note(subquestions: Sequence[str]) -> str:
    """The report's note on answers set aside because they cite nothing the run looked up."""
    listed = "; ".join(f"\"{q}\"" for q in dict.fromkeys(subquestions))
    count = len(subquestions)
    return (f"> **Ungrounded {'answer' if count == 1 else 'answers'} set aside.** {count} research "
            f"{'team' if count == 1 else 'teams'} answered without citing anything the run looked up, "
            f"so {'its answer was' if count == 1 else 'their answers were'} not used: {listed}.")


def findings_body(question: str, findings: Sequence[Any]) -> str:
    """A report body without a model draft (the model returned nothing, or no budget was left):
    the findings as the teams wrote them, the first one's opening sentence as the short answer."""
    items = [_finding(f) for f in findings]
    texts = [i["text"].strip() for i in items if i["text"].strip()]
    title = title_for(question)
    if not texts:
        return f"# {title}\n\n## Short answer\n\nNo supporting evidence was found in the sources for this question.\n"
    first = re.split(r"(?<=[.!?])\s+(?=[A-Z])", texts[0], maxsplit=1)[0]
    out = [f"# {title}", "", "## Short answer", "", first, "", "## Findings", ""]
    for item in items:
        if item["text"].strip():
            if item["title"] and len(items) > 1:
                out += [f"### {item['title']}", ""]
            out += [item["text"].strip(), ""]
    return "\n".join(out).rstrip() + "\n"


def _grounded_body(body: str, question: str, items: list[dict[str, str]], passages: Mapping[str, Citation]) -> str:
    """The drafted body without sentences holding a figure or name found in no finding or passage,
    and with a short answer: the merged finding's own text when the draft has none left."""
    from agentloom.agents.grounding import drop_ungrounded

    if not body.strip():
        return body
    grounded = drop_ungrounded(body, [question, *(i["text"] for i in items), *(p.text for p in passages.values())])
    if grounded.dropped:
        tracing.emit("grounding", "writer", status="error", data={"dropped": grounded.dropped,
                     "reason": "report sentences held figures or names found in no finding or passage"})
    text = grounded.text
    if items and items[0]["text"].strip() and not _section(text, "Short answer"):
        text = _with_short_answer(text, items[0]["text"].strip())
    return text


def _with_short_answer(text: str, answer: str) -> str:
    """``text`` with a ``## Short answer`` section holding ``answer``, after the title if any."""
    section = f"## Short answer\n\n{answer}\n"
    match = re.search(r"^##\s*Short answer\s*$", text, re.I | re.M)
    if match:
        return text[: match.end()] + "\n\n" + answer + "\n" + text[match.end():]
    title = re.match(r"^\s*#\s+.+$", text, re.M)
    if title and not text[: title.start()].strip():
        return text[: title.end()] + "\n\n" + section + "\n" + text[title.end():].lstrip("\n")
    return section + "\n" + text



def _drop_references(text: str) -> str:
    """Remove a references section the model wrote anyway (it is rebuilt from real passages)."""
    match = _REFERENCES.search(text)
    if not match:
        return text
    level = len(match.group(1))
    rest = text[match.end() :]
    nxt = next((h for h in _HEADING.finditer(rest) if len(h.group(1)) <= level), None)
    return text[: match.start()] + (rest[nxt.start() :] if nxt else "")


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", text)
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = re.sub(r"[ \t]+$", "", text, flags=re.M)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def number_citations(text: str, passages: Mapping[str, Citation]) -> tuple[str, list[Citation]]:
    """Replace known markers by ``[n]`` in first-appearance order; drop unknown ones."""
    text = _GROUPED.sub(lambda m: "".join(f"[{p.strip()}]" for p in re.split(r"[,;]", m.group(1))), text)
    text = _NUMERIC.sub("", text)
    numbers: dict[str, int] = {}
    ordered: list[Citation] = []

    def replace(match: re.Match[str]) -> str:
        pid = match.group(1)
        passage = passages.get(pid)
        if passage is None:
            return ""
        if pid not in numbers:
            numbers[pid] = len(numbers) + 1
            ordered.append(passage)
        return f"[{numbers[pid]}]"

    return CITE_MARKER.sub(replace, text), ordered


def _section(text: str, name: str) -> str:
    """The text under ``## <name>`` up to the next heading of level 1 or 2."""
    match = re.search(rf"^##\s*{re.escape(name)}\s*$", text, re.I | re.M)
    if not match:
        return ""
    rest = text[match.end() :]
    nxt = re.search(r"^#{1,2}\s", rest, re.M)
    return (rest[: nxt.start()] if nxt else rest).strip()


def _first_paragraph(text: str) -> str:
    for block in re.split(r"\n\s*\n", text):
        block = block.strip()
        if block and not block.startswith(("#", ">")):
            return block
    return ""


def _money(usd: Any) -> str:
    if usd is None:
        return "cost unknown (unpriced model)"
    value = float(usd)
    return f"cost ${value:.4f}" if value < 100 else f"cost ${value:,.2f}"


def usage_footer(usage: Mapping[str, Any] | Any | None) -> str:
    """One line of what the run spent: cost, tokens, calls, wall time, width and depth used and
    memory hits, from a usage dict (``UsageSummary.to_dict()`` keys plus ``width``/``depth``);
    keys that are missing are left out."""
    if usage is None:
        return ""
    if not isinstance(usage, Mapping):
        usage = usage.to_dict() if hasattr(usage, "to_dict") else vars(usage)
    parts: list[str] = []
    if "usd" in usage:
        parts.append(_money(usage["usd"]))
    tokens_in, tokens_out = usage.get("input_tokens"), usage.get("output_tokens")
    total = usage.get("tokens")
    if total is None and tokens_in is not None and tokens_out is not None:
        total = int(tokens_in) + int(tokens_out)
    if total is not None:
        split = f" ({int(tokens_in):,} in, {int(tokens_out):,} out)" if tokens_in is not None and tokens_out is not None else ""
        parts.append(f"tokens {int(total):,}{split}")
    for key, label in (("llm_calls", "model calls"), ("tool_calls", "tool calls")):
        if usage.get(key) is not None:
            parts.append(f"{label} {int(usage[key]):,}")
    wall = usage.get("wall_s", usage.get("wall_time"))
    if wall is not None:
        parts.append(f"wall time {float(wall):.2f} s")
    for key in ("width", "depth"):
        if usage.get(key) is not None:
            parts.append(f"{key} {usage[key]}")
    if usage.get("memory_hits") is not None:
        parts.append(f"memory hits {int(usage['memory_hits']):,}")
    return "**Usage:** " + " · ".join(parts) if parts else ""


def finalize(
    body: str,
    passages: Mapping[str, Citation],
    *,
    question: str = "",
    usage: Mapping[str, Any] | Any | None = None,
    partial: bool = False,
    ungrounded: Sequence[str] = (),
) -> Report:
    """The finished report from a drafted body: numbered citations (unknown markers dropped), a
    title, the partial banner, a note naming answers set aside as ungrounded, the references list
    and the usage footer."""
    text = _drop_references(strip_fences(body))
    text, citations = number_citations(text, passages)
    text = _tidy(text)
    title_match = re.match(r"^#\s+(.+)$", text, re.M)
    if title_match and not text[: title_match.start()].strip():
        title = title_match.group(1).strip()
        head, rest = text[: title_match.end()], text[title_match.end() :].strip()
    else:
        title = title_for(question)
        head, rest = f"# {title}", text
    short = _section(rest, "Short answer") or _first_paragraph(rest)
    out = [head, ""]
    if partial:
        out += [_PARTIAL_BANNER, ""]
    if ungrounded:
        out += [ungrounded_note(ungrounded), ""]
    if rest:
        out += [rest, ""]
    if citations:
        out += ["## References", ""]
        for i, citation in enumerate(citations, 1):
            label = f' — "{citation.title}"' if citation.title else ""
            out.append(f"- [{i}] {citation.where()}{label}")
        out.append("")
    footer = usage_footer(usage)
    if footer:
        out += ["---", "", footer, ""]
    return Report(markdown="\n".join(out).rstrip() + "\n", short_answer=short, citations=citations, title=title)
