"""The offline ``write`` handler: a report body made only of the findings' own sentences."""

from __future__ import annotations

import re

from agentloom.agents.writer import Writer
from agentloom.citations import Citation
from agentloom.models.base import call_model
from agentloom.models.offline import OfflineModel
from agentloom.models.offline.write import (
    NO_EVIDENCE_REPORT,
    Finding,
    findings_in,
    render,
    respond,
    title_for,
)
from agentloom.models.types import Message, ModelRequest

QUESTION = "What is the capacity of the Skerry Sound Tidal Station and who is its chief engineer?"
CAPACITY = (
    "Since the upgrade, the station has 22 turbines and an installed capacity of 290 MW. [p_aaaaaaaaa1] "
    "Installed capacity: 240 MW. [p_aaaaaaaaa2]"
)
ENGINEER = "The station's chief engineer is Ilse Varga, who joined MEC in 2018. [p_bbbbbbbbb1]"
MERGED = f"{CAPACITY} {ENGINEER}"
FINDINGS = [
    Finding("Merged answer", MERGED),
    Finding("What is the installed capacity of the Skerry Sound Tidal Station?", CAPACITY),
    Finding("Who is the chief engineer of the Skerry Sound Tidal Station?", ENGINEER),
]


def _section(body: str, name: str) -> str:
    match = re.search(rf"^## {name}\n\n(.*?)(?=^## |\Z)", body, re.M | re.S)
    assert match, body
    return match.group(1).strip()


def test_report_has_title_short_answer_and_a_section_per_sub_question() -> None:
    body = render(QUESTION, FINDINGS)
    assert body.startswith(f"# {QUESTION}\n")
    short = _section(body, "Short answer")
    assert "290 MW. [p_aaaaaaaaa1]" in short and "Ilse Varga" in short and "[p_bbbbbbbbb1]" in short
    findings = _section(body, "Findings")
    assert "### What is the installed capacity of the Skerry Sound Tidal Station?" in findings
    assert "### Who is the chief engineer of the Skerry Sound Tidal Station?" in findings
    assert "### Merged answer" not in findings  # everything it says is shown under a sub-question
    assert findings.count("Ilse Varga") == 1


def test_every_sentence_comes_from_a_finding_with_its_markers() -> None:
    body = render(QUESTION, FINDINGS)
    source = " ".join(f.text for f in FINDINGS)
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        for sentence in re.split(r"(?<=\])\s+", line):
            assert sentence in source, sentence


def test_merged_answer_keeps_what_no_sub_question_shows() -> None:
    extra = "The station generated 742 GWh in 2023. [p_ccccccccc1]"
    body = render(QUESTION, [Finding("Merged answer", f"{MERGED} {extra}"), *FINDINGS[1:]])
    assert "### Merged answer\n\nThe station generated 742 GWh in 2023. [p_ccccccccc1]" in body


def test_no_evidence_means_no_answer() -> None:
    nothing = "No supporting evidence was found in the sources for: who built the opera house?"
    body = render("Who built the opera house?", [Finding("Merged answer", nothing), Finding("Who built it?", "")])
    assert _section(body, "Short answer") == NO_EVIDENCE_REPORT
    assert "## Findings" not in body and "[p_" not in body


def test_a_sub_question_without_evidence_says_so() -> None:
    body = render(QUESTION, [FINDINGS[1], Finding("Who is the chief engineer?", "No supporting evidence was found in the sources for: x")])
    assert "### Who is the chief engineer?\n\nNo supporting evidence was found for this part." in body


def test_a_computation_joins_the_short_answer() -> None:
    text = "Saltmarsh makes 62,000 cubic metres per day. [p_ddddddddd1] Northpoint makes 45,000. [p_ddddddddd2] Computed: 62000 - 45000 = 17000."
    body = render("How much more does Saltmarsh make than Northpoint?", [Finding("", text)])
    assert _section(body, "Short answer").endswith("Computed: 62000 - 45000 = 17000.")


def test_findings_are_read_from_the_writer_prompt_sections() -> None:
    passages = {"p_aaaaaaaaa1": Citation("p_aaaaaaaaa1", "installed capacity of 290 MW", path="a.md", line_start=1, line_end=2)}
    prompt = Writer("offline").prompt(QUESTION, [{"title": f.title, "text": f.text} for f in FINDINGS], passages)
    parsed = findings_in(prompt)
    assert [(f.title, f.text) for f in parsed] == [(f.title, f.text) for f in FINDINGS]
    out = respond(ModelRequest(messages=[Message.system("write"), Message.user(prompt)], purpose="write"))
    assert (out.text or "").startswith(f"# {QUESTION}") and "Ilse Varga" in (out.text or "")


async def test_write_purpose_through_the_offline_model_reads_only_the_prompt() -> None:
    prompt = Writer("offline").prompt(QUESTION, [{"title": f.title, "text": f.text} for f in FINDINGS], {})
    request = ModelRequest(messages=[Message.user(prompt)], purpose="write", metadata={"question": "ignored", "findings": []})
    completion = await call_model(OfflineModel(), request)
    assert completion.text == render(QUESTION, FINDINGS)


def test_title_is_the_question_bounded() -> None:
    assert title_for("  what   powers the trams? ") == "What powers the trams?"
    long = "why " * 60
    assert len(title_for(long)) <= 101 and title_for(long).endswith("…")
    assert title_for("") == "Research report"


# --------------------------------------------------------------------------- summarize
def _summary_request(max_tokens: int | None = None, extra: list[Message] | None = None) -> ModelRequest:
    import json as _json

    from agentloom.models.types import ToolCall

    results = {
        "query": "q",
        "results": [
            {"id": "p_aaaaaaaaa1", "path": "a.md", "line_start": 1, "line_end": 3, "text": "The station has an installed capacity of 290 MW. Its turbines turn slowly."},
            {"id": "p_aaaaaaaaa2", "path": "b.md", "line_start": 1, "line_end": 2, "text": "Trams run every six minutes. The depot holds 80 trams."},
        ],
    }
    call = ToolCall("c1", "corpus_search", _json.dumps({"query": "capacity"}))
    return ModelRequest(
        messages=[
            Message.system("Summarize the evidence."),
            Message.user("What is the installed capacity of the tidal station?"),
            Message("assistant", None, [call]),
            Message("tool", _json.dumps(results), tool_call_id="c1", name="corpus_search"),
            *(extra or []),
        ],
        purpose="summarize",
        max_tokens=max_tokens,
    )


def test_summary_keeps_relevant_cited_sentences_first() -> None:
    from agentloom.models.offline.summarize import respond as summarize

    text = summarize(_summary_request()).text or ""
    lines = text.splitlines()
    assert lines[0] == "The station has an installed capacity of 290 MW. [p_aaaaaaaaa1]"
    assert all(re.search(r"\[p_[0-9a-f]{10}\]$", line) for line in lines)
    assert "Trams run every six minutes" not in text  # says nothing about the task


def test_summary_is_bounded_and_keeps_markers_of_earlier_summaries() -> None:
    from agentloom.models.offline.summarize import respond as summarize
    from agentloom.tokens import count_tokens

    earlier = Message.user("Earlier: The tidal station capacity rose to 290 MW after the upgrade. [p_ccccccccc1]")
    text = summarize(_summary_request(max_tokens=40, extra=[earlier])).text or ""
    assert count_tokens(text) <= 40
    assert "[p_ccccccccc1]" in text or "[p_aaaaaaaaa1]" in text
    assert summarize(_summary_request(max_tokens=400, extra=[earlier])).text.count("[p_ccccccccc1]") == 1  # type: ignore[union-attr]


async def test_summary_without_evidence_says_so() -> None:
    request = ModelRequest(messages=[Message.user("What is the capacity of the opera house?")], purpose="summarize")
    completion = await call_model(OfflineModel(), request)
    assert completion.text == "No supporting evidence was found in the sources for: What is the capacity of the opera house?"


def test_a_yes_no_question_is_answered_yes_or_no_first() -> None:
    from agentloom.models.offline.write import polar_lead

    assert polar_lead("Is the ferry still running?", ["The ferry runs twice a day. [p_1111111111]"]) == "Yes."
    assert polar_lead("Does the museum open on Mondays?", ["The museum does not open on Mondays. [p_1111111111]"]) == "No."
    assert polar_lead("Is the hall not open?", ["The hall is not open. [p_1111111111]"]) == "Yes."
    assert polar_lead("Is it larger or smaller?", ["It is larger. [p_1111111111]"]) is None
    assert polar_lead("What does it cost?", ["It costs 5. [p_1111111111]"]) is None
    body = render("Does the depot have a workshop?", [Finding("", "The depot has a workshop. [p_1111111111]")])
    assert _section(body, "Short answer").startswith("Yes. The depot has a workshop.")


def test_a_sentence_that_announces_a_list_carries_its_items() -> None:
    from agentloom.models.offline import _text

    text = "# Depots\n\nThree depots serve the town:\n\n- North Yard\n- East Yard\n- West Yard (since 2020)\n\nEach has a workshop."
    joined = _text.join_lists(text)
    assert "Three depots serve the town: North Yard; East Yard; West Yard (since 2020)." in _text.sentences(joined)
    assert "East Yard" in _text.sentences(joined)  # the items stay
    assert _text.join_lists("Only one:\n\n- item\n") == "Only one:\n\n- item"  # a single item is no list


def test_the_short_answer_names_its_subject() -> None:
    from agentloom.models.offline.write import named_subject

    claims = ["It covers 40 hectares. [p_1111111111]"]
    assert named_subject("How large is Alder Park?", claims) == ["Alder Park covers 40 hectares. [p_1111111111]"]
    assert named_subject("How large is Alder Park?", ["Its area is 40 hectares."]) == ["Alder Park's area is 40 hectares."]
    assert named_subject("How large are the parks?", claims) == claims  # no single named thing


def test_a_present_tense_question_prefers_what_still_holds() -> None:
    from agentloom.models.offline._evidence import Question, Ranker, claim_candidate

    ended = claim_candidate("Ann Reed was the warden of Alder Park from 2001 to 2015.", "p_1111111111", 0, None)
    now = claim_candidate("Ben Ortiz is the warden of Alder Park.", "p_2222222222", 1, None)
    ranked = Ranker(Question.parse("Who is the warden of Alder Park?"), [ended, now]).ranked()
    assert ranked[0].candidate.text.startswith("Ben Ortiz")
    assert Question.parse("Who is the warden?").present and not Question.parse("Who was the warden in 2010?").present


def test_a_comparison_states_the_winner_only_for_one_kind_of_quantity() -> None:
    from agentloom.models.offline.write import comparison_lead

    claims = ["The dam is 420 metres long. [p_1111111111]", "The Weir Bridge is 180 metres long. [p_2222222222]"]
    sources = {"p_1111111111": "north_dam.md", "p_2222222222": "weir_bridge.md"}
    assert comparison_lead("Which is longer, the North Dam or the Weir Bridge?", claims, sources) == (
        "North Dam is longer (420 metres against 180 metres)."
    )
    assert comparison_lead("Which is shorter, the North Dam or the Weir Bridge?", claims, sources) == (
        "Weir Bridge is shorter (180 metres against 420 metres)."
    )
    mixed = ["The dam is 420 metres long. [p_1111111111]", "The Weir Bridge carries 180 cars an hour. [p_2222222222]"]
    assert comparison_lead("Which is longer, the North Dam or the Weir Bridge?", mixed, sources) is None
    assert comparison_lead("What is the North Dam?", claims, sources) is None
