"""``Writer``: numbered citations that resolve, references, partial banner and usage footer,
with the offline model and with a model that misbehaves."""

from __future__ import annotations

import re
from typing import Any

from agentloom.agents.writer import Report, Writer, finalize, usage_footer
from agentloom.citations import Citation
from agentloom.models.function import FunctionModel
from agentloom.models.types import ModelRequest

P1 = Citation("p_1111111111", "Since the upgrade the station has an installed capacity of 290 MW.", path="energy/skerry.md", line_start=7, line_end=15)
P2 = Citation("p_2222222222", "Installed capacity: 240 MW.", path="energy/factsheet.txt", line_start=1, line_end=17)
P3 = Citation("p_3333333333", "The station's chief engineer is Ilse Varga.", path="people.md", line_start=10, line_end=14)
W1 = Citation("w_4444444444", "Marrowick tidal output rose.", url="https://example.org/tides", title="Tides report")
PASSAGES = {c.id: c for c in (P1, P2, P3, W1)}
QUESTION = "What is the capacity of the Skerry Sound Tidal Station and who is its chief engineer?"
FINDINGS = [
    {"title": "Merged answer", "text": f"The station has an installed capacity of 290 MW. [{P1.id}] The station's chief engineer is Ilse Varga. [{P3.id}]"},
    {"question": "What is the installed capacity?", "text": f"The station has an installed capacity of 290 MW. [{P1.id}] Installed capacity: 240 MW. [{P2.id}]"},
    {"question": "Who is the chief engineer?", "text": f"The station's chief engineer is Ilse Varga. [{P3.id}]"},
]
USAGE = {"usd": 0.0123, "input_tokens": 12000, "output_tokens": 3456, "llm_calls": 14, "tool_calls": 22, "wall_s": 3.21, "width": 3, "depth": 2, "memory_hits": 4}


def _references(markdown: str) -> list[str]:
    match = re.search(r"^## References\n\n(.*?)(?:\n\n|\Z)", markdown, re.M | re.S)
    return match.group(1).splitlines() if match else []


def _assert_resolves(report: Report) -> None:
    used = sorted({int(n) for n in re.findall(r"\[(\d+)\]", report.markdown.split("## References")[0])})
    assert used == list(range(1, len(report.citations) + 1))
    assert not re.search(r"\[[pw]_[0-9a-f]+\]", report.markdown)


async def test_offline_report_numbers_citations_in_first_appearance_order() -> None:
    report = await Writer("offline").write(QUESTION, FINDINGS, PASSAGES, usage=USAGE)
    assert report.title == QUESTION
    assert report.markdown.startswith(f"# {QUESTION}\n")
    assert [c.id for c in report.citations] == [P1.id, P3.id, P2.id]
    assert _references(report.markdown) == [
        "- [1] energy/skerry.md:L7-L15",
        "- [2] people.md:L10-L14",
        "- [3] energy/factsheet.txt:L1-L17",
    ]
    assert report.short_answer.startswith("The station has an installed capacity of 290 MW. [1]")
    assert "Ilse Varga. [2]" in report.short_answer
    _assert_resolves(report)
    footer = report.markdown.rstrip().splitlines()[-1]
    assert footer == (
        "**Usage:** cost $0.0123 · tokens 15,456 (12,000 in, 3,456 out) · model calls 14 · tool calls 22 · "
        "wall time 3.21 s · width 3 · depth 2 · memory hits 4"
    )
    assert "Partial report" not in report.markdown


async def test_partial_runs_get_a_banner_under_the_title() -> None:
    report = await Writer("offline").write(QUESTION, FINDINGS, PASSAGES, partial=True)
    lines = report.markdown.splitlines()
    assert lines[0].startswith("# ") and lines[2].startswith("> **Partial report.**")
    assert "**Usage:**" not in report.markdown  # no usage given, no footer


async def test_no_evidence_report_cites_nothing() -> None:
    nothing = [{"title": "Merged answer", "text": "No supporting evidence was found in the sources for: opera house seats"}]
    report = await Writer("offline").write("How many seats has the opera house?", nothing, PASSAGES)
    assert report.citations == [] and "## References" not in report.markdown
    assert "No supporting evidence was found" in report.short_answer


def _scripted(body: str, seen: list[ModelRequest]) -> FunctionModel:
    def fn(request: ModelRequest) -> str:
        seen.append(request)
        return body

    return FunctionModel(fn, name="scripted")


async def test_a_real_model_gets_a_clear_prompt_with_the_markers_and_passages() -> None:
    seen: list[ModelRequest] = []
    await Writer(_scripted("# T\n\n## Short answer\n\nIt is 290 MW. [p_1111111111]", seen)).write(QUESTION, FINDINGS, PASSAGES)
    request = seen[0]
    assert request.purpose == "write"
    system, user = request.messages[0].content or "", request.messages[1].content or ""
    assert "Cite every claim" in system and "[p_3f9a0c12de]" in system
    assert user.startswith(f"<question>\n{QUESTION}\n</question>")
    assert '<finding title="What is the installed capacity?">' in user
    assert f'[{P2.id}] energy/factsheet.txt:L1-L17: "Installed capacity: 240 MW."' in user
    assert "findings" not in request.metadata and "question" not in request.metadata  # the prompt carries them


async def test_misbehaving_model_output_is_cleaned_so_citations_stay_true() -> None:
    body = (
        "```markdown\n# Skerry Sound\n\n## Short answer\n\n"
        "Capacity is 290 MW [p_1111111111, p_2222222222] and it is installed [p_9999999999]. "
        "Varga runs it [7]. See also [w_4444444444].\n\n"
        "## Findings\n\nMore detail [p_3333333333][p_1111111111].\n\n"
        "## References\n\n[1] made-up.md\n[2] also-made-up.md\n```"
    )
    report = await Writer(_scripted(body, [])).write(QUESTION, FINDINGS, PASSAGES, usage={"usd": None, "llm_calls": 2})
    assert report.title == "Skerry Sound"
    assert report.short_answer == "Capacity is 290 MW [1][2] and it is installed. Varga runs it. See also [3]."
    assert "More detail [4][1]." in report.markdown
    assert [c.id for c in report.citations] == [P1.id, P2.id, W1.id, P3.id]
    assert _references(report.markdown)[2] == '- [3] https://example.org/tides — "Tides report"'
    assert "made-up" not in report.markdown and "```" not in report.markdown
    assert report.markdown.count("## References") == 1
    assert report.markdown.rstrip().endswith("**Usage:** cost unknown (unpriced model) · model calls 2")
    _assert_resolves(report)


async def test_an_empty_draft_falls_back_to_the_extractive_report() -> None:
    report = await Writer(_scripted("", [])).write(QUESTION, FINDINGS, PASSAGES)
    assert report.markdown.startswith(f"# {QUESTION}") and "Ilse Varga" in report.markdown
    _assert_resolves(report)


def test_finalize_adds_a_title_when_the_draft_has_none() -> None:
    report = finalize("The capacity is 290 MW. [p_1111111111]", PASSAGES, question="what is the capacity?")
    assert report.markdown.startswith("# What is the capacity?\n\nThe capacity is 290 MW. [1]")
    assert report.short_answer == "The capacity is 290 MW. [1]"


def test_usage_footer_accepts_objects_and_partial_dicts() -> None:
    class Summary:
        def to_dict(self) -> dict[str, Any]:
            return {"usd": 1234.5, "tokens": 10, "input_tokens": 4, "output_tokens": 6}

    assert usage_footer(Summary()) == "**Usage:** cost $1,234.50 · tokens 10 (4 in, 6 out)"
    assert usage_footer({"width": "auto→4", "depth": 3}) == "**Usage:** width auto→4 · depth 3"
    assert usage_footer(None) == "" and usage_footer({}) == ""


def test_report_to_dict_numbers_citations() -> None:
    report = finalize("# T\n\nX. [p_3333333333]", PASSAGES)
    data = report.to_dict()
    assert data["citations"][0]["n"] == 1 and data["citations"][0]["path"] == "people.md"
    assert data["title"] == "T" and data["short_answer"] == "X. [1]"


def test_write_sync_from_plain_code() -> None:
    report = Writer("offline").write_sync(QUESTION, FINDINGS, PASSAGES)
    assert report.citations


async def test_a_drafted_sentence_with_a_figure_or_name_in_no_input_is_dropped() -> None:
    body = (
        "# Skerry Sound\n\n## Short answer\n\nIt has 99 turbines [p_1111111111]. "
        "Its capacity is 290 MW [p_1111111111]. It was opened by Mayor Quarrington [p_3333333333].\n"
    )
    report = await Writer(_scripted(body, [])).write(QUESTION, FINDINGS, PASSAGES)
    assert report.short_answer == "Its capacity is 290 MW [1]."
    assert "99" not in report.markdown and "Quarrington" not in report.markdown


async def test_a_draft_without_a_short_answer_gets_the_merged_finding() -> None:
    body = "### Finding 1\nThe capacity is 290 MW [p_1111111111].\n"
    report = await Writer(_scripted(body, [])).write(QUESTION, FINDINGS, PASSAGES)
    assert report.short_answer.startswith("The station has an installed capacity of 290 MW. [1]")
