"""Offline answer quality: the general rules that pick, attribute and compute evidence (one
subject with several attributes, appositive names, a source's own words for what is asked,
figures owned by the name they follow, later sources over older ones, computed answers), on
passages written here and on the shipped corpus through the whole research pipeline."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from agentloom.citations import Citation
from agentloom.models.offline._evidence import (
    Candidate,
    Question,
    Ranker,
    candidates_from,
    figure_targets,
    select,
)
from agentloom.models.offline._text import sentences
from agentloom.models.offline.act import respond, search_queries
from agentloom.models.offline.plan import is_computed, split_question
from agentloom.models.offline.write import Finding, render
from agentloom.models.types import Message, ModelRequest, ToolCall
from agentloom.planners import plan_subtasks
from tests.offline_loop import CORPUS, passage_holds


def _schema(name: str, **props: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": {k: {"type": v} for k, v in props.items()}}}}


TOOLS = [_schema("corpus_search", query="string"), _schema("read_passage", id="string"), _schema("calculator", expression="string")]


def passage(pid: str, path: str, text: str, line: int = 5) -> dict[str, Any]:
    return {"id": pid, "path": path, "line_start": line, "line_end": line + text.count("\n"), "text": text, "score": 1.0}


def answer_for(question: str, *passages: dict[str, Any], extra: list[tuple[str, dict[str, Any], Any]] | None = None) -> str:
    """The act policy's final answer once one search returned ``passages`` (and ``extra`` calls
    their results); planned searches not made yet are answered empty."""
    messages = [Message.system("Research.\n\nTool-call width this turn: 8"), Message.user(question)]
    rounds = [[("corpus_search", {"query": "q"}, {"query": "q", "results": list(passages)})], *([extra] if extra else [])]
    for r, calls in enumerate(rounds):
        tool_calls = [ToolCall(f"c{r}_{i}", name, json.dumps(args)) for i, (name, args, _) in enumerate(calls)]
        messages.append(Message("assistant", None, tool_calls))
        for call, (_, _, value) in zip(tool_calls, calls, strict=True):
            messages.append(Message("tool", json.dumps(value), tool_call_id=call.id, name=call.name))
    for _ in range(8):
        out = respond(ModelRequest(messages=list(messages), tools=TOOLS, purpose="act", metadata={"question": question}))
        if not out.tool_calls:
            return out.text or ""
        messages.append(out.message())
        for call in out.tool_calls:
            if call.name == "calculator":
                expression = call.args()["expression"]
                result: Any = {"expression": expression, "value": eval(expression, {"__builtins__": {}})}  # noqa: S307 - digits and + - * / only
            else:
                result = {"query": "q", "results": []}
            messages.append(Message("tool", json.dumps(result), tool_call_id=call.id, name=call.name))
    raise AssertionError("the policy never answered")


def ranker_for(question: str, *passages: dict[str, Any]) -> Ranker:
    found = {p["id"]: Citation(p["id"], p["text"], path=p["path"], line_start=p["line_start"], line_end=p["line_end"]) for p in passages}
    return Ranker(Question.parse(question), candidates_from(found, {pid: i for i, pid in enumerate(found)}))


# --------------------------------------------------------------------------- plan
@pytest.mark.parametrize("question", [
    "How long is tram Line 3, the Estuary Line, and how many stops does it have?",
    "What is the capacity of Harrow Station and when did it open?",
    "What are the power rating and the energy capacity of the Quayside Battery Store?",
    "What is the capacity of Harrow Station, and who runs it for the City Council?",
])
def test_attributes_of_one_subject_stay_one_question(question: str) -> None:
    assert split_question(question) == ([question], False)


def test_lists_of_entities_still_split_with_their_shared_attributes() -> None:
    subs, _ = split_question("What are the power rating and the energy capacity of Alder Store and Birch Store?")
    assert subs == ["What are the power rating and the energy capacity of Alder Store?",
                    "What are the power rating and the energy capacity of Birch Store?"]
    subs, _ = split_question("How many more stops does Line 3 have than Line 1?")
    assert subs == ["How many stops does Line 3 have?", "How many stops does Line 1 have?"]
    subs, _ = split_question("How much taller is the Beacon Tower than the Clock Tower?")
    assert subs == ["How tall is the Beacon Tower?", "How tall is the Clock Tower?"]


def test_computed_questions_are_recognised() -> None:
    for question in ("How much larger is A than B?", "What is the total output of A and B?", "How many times longer is A than B?",
                     "What is the difference in cost between A and B?", "What is the average depth of A, B and C?",
                     "How much taller is A than B?"):
        assert is_computed(question), question
    for question in ("Which is larger, A or B?", "What is the capacity of A?", "How much water does A hold?",
                     "How many times was the barrier closed in 2023?"):
        assert not is_computed(question), question


async def test_sub_task_plans_keep_a_computed_question_whole_after_its_parts() -> None:
    question = "How much larger is the capacity of Harrow Station than that of Brandt Dam?"
    # a DAG plan joins the sides with its own calculator task ...
    assert split_question(question)[0] == ["What is the capacity of Harrow Station?", "What is the capacity of Brandt Dam?"]
    # ... independent research teams cannot, so the whole question is a sub-task of its own
    plan = await plan_subtasks("offline", question)
    assert plan.sub_tasks == ["What is the capacity of Harrow Station?", "What is the capacity of Brandt Dam?", question]
    assert not plan.sequential and "kept whole" in plan.reason
    mixed = await plan_subtasks("offline", "What is the total capacity of Alder Dam and Birch Dam combined, and who operates Cedar Park?")
    assert mixed.sub_tasks == ["What is the capacity of Alder Dam?", "What is the capacity of Birch Dam?",
                               "What is the total capacity of Alder Dam and Birch Dam combined?", "Who operates Cedar Park?"]
    alone = await plan_subtasks("offline", "What is the total cost of the Alder Dam?")
    assert alone.sub_tasks == ["What is the total cost of the Alder Dam?"]
    single = await plan_subtasks("offline", "Which has the larger capacity, Alder Dam or Birch Dam?")
    assert single.sub_tasks == ["What is the capacity of Alder Dam?", "What is the capacity of Birch Dam?"]


# --------------------------------------------------------------------------- reading the question
def test_an_appositive_is_one_target_with_two_names() -> None:
    q = Question.parse("How long is tram Line 3, the Estuary Line, and how many stops does it have?")
    assert len(q.targets) == 1
    target = q.targets[0]
    assert target.mentioned_by({"estuary", "line", "run"}) and target.mentioned_by({"line", "3"})
    assert not target.mentioned_by({"line", "4"})
    assert "tram" in q.kind_terms and {"stop", "length"} <= q.topic_terms
    assert {"km", "metr"} <= q.related["length"]
    listed = Question.parse("What are the capacities of Alder Dam, the Birch Dam, and Cedar Dam?")
    assert len(listed.targets) == 3


def test_dates_are_not_names_and_kind_nouns_are_not_topics() -> None:
    q = Question.parse("What caused the March 2023 outage at the Saltmarsh Desalination Plant?")
    assert [t.label for t in q.targets] == ["Saltmarsh Desalination Plant"]
    assert {"march", "2023", "outag", "caus"} <= q.topic_terms
    plant = Question.parse("What is the capacity of the Kettle Bay desalination plant?")
    assert plant.kind_terms == {"desalination", "plant"} and plant.asked == {"capacity"}
    verb = Question.parse("How much did the Gannet Gate Barrier cost to build?")
    assert not verb.kind_terms and {"cost", "build"} <= verb.topic_terms
    assert not Question.parse("What is the capacity of the Skerry Sound Tidal Station?").targets[0].mentioned_by({"tidal", "station", "sound"})


def test_measures_asked_by_how_and_by_comparatives() -> None:
    assert "height" in Question.parse("How tall is the Beacon Tower?").topic_terms
    assert "height" in Question.parse("How much taller is the Beacon Tower than the Clock Tower?").topic_terms
    lasting = Question.parse("How long did the outage at Saltmarsh last?")
    assert "duration" in lasting.topic_terms and "last" not in lasting.topic_terms and "day" in lasting.related["duration"]
    tall = Question.parse("How long is Line 3 and how many stops does it have?")
    assert tall.gives_measure(14.5, "km") and tall.gives_measure(22.0, "stop") and not tall.gives_measure(1998.0, "")
    old = Question.parse("How old is Northbridge University?")
    assert old.gives_measure(1962.0, "") and old.gives_measure(60.0, "year") and not old.gives_measure(19100.0, "student")
    # a comparative of what the question names is not a second measure
    assert "size" not in Question.parse("How much larger is the capacity of A Dam than B Dam?").topic_terms


# --------------------------------------------------------------------------- the evidence
OVERVIEW = passage("p_0000000a01", "town_overview.md", "Marrowick is a coastal city of 412,000 people (2023 census). It has three tram lines.")
STAFF = passage("p_0000000a02", "kettle_bay.md", "Kettle Bay employs 24 people. Its manager is Tom Reed.")


def test_a_source_word_for_what_is_asked_answers_it() -> None:
    q = "What is the population of Marrowick?"
    assert "Marrowick people residents inhabitants" in search_queries(Question.parse(q))
    text = answer_for(q, STAFF, OVERVIEW)
    assert text == f"{OVERVIEW['text'].split(' It ')[0]} [{OVERVIEW['id']}]"


def test_other_words_count_only_for_the_target_itself() -> None:
    shelter = passage("p_0000000a03", "storm.md",
                      "About 240 homes were flooded, and 600 residents spent the night at the Fenmoor sports hall.")
    assert answer_for("What is the population of Fenmoor?", shelter).startswith("No supporting evidence")
    saltings = passage("p_0000000a06", "storm_edda_2023.md", "## Saltings\n\n" + shelter["text"])
    assert answer_for("What is the population of Saltings?", saltings).startswith("No supporting evidence")
    water = passage("p_0000000a04", "water_report.md", "At the end of 2022 Marrowick Water could produce 135,000 cubic metres per day.")
    assert answer_for("What is the seating capacity of the Marrowick opera house?", water).startswith("No supporting evidence")
    # "who runs X?" is answered by another name, whose subject the sentence is
    roads = passage("p_0000000a05", "northern_ring.md", "Oakhaven Roads operates the Northern Ring and maintains its bridges.")
    assert answer_for("Who runs the Northern Ring?", roads) == f"{roads['text']} [{roads['id']}]"


def test_a_figure_belongs_to_the_name_it_follows() -> None:
    outage = passage("p_0000000b01", "northpoint.md",
                     "During the March 2023 outage at the Saltmarsh Desalination Plant, Northpoint ran at its full capacity of 45,000 cubic metres per day.")
    own = passage("p_0000000b02", "saltmarsh.md", "The Saltmarsh plant can produce 62,000 cubic metres per day.")
    q = "What is the capacity of the Saltmarsh Desalination Plant?"
    ranker = ranker_for(q, outage, own)
    scored = {s.candidate.source: s for s in ranker.ranked()}
    assert 0 in scored[outage["id"]].targets and not figure_targets(ranker.question, scored[outage["id"]])
    assert figure_targets(ranker.question, scored[own["id"]]) == {0}
    assert [s.candidate.source for s in select(ranker)] == [own["id"]]
    # a name in a phrase set off by commas places the subject; it does not own the figure
    towers = passage("p_0000000b03", "towers.md", "The older Clock Tower, on Market Square, is 46 metres tall.")
    r = ranker_for("How tall is the Clock Tower?", towers)
    assert figure_targets(r.question, r.ranked()[0]) == {0}


def test_a_later_source_wins_and_an_older_value_is_history() -> None:
    old = passage("p_0000000c01", "stadium_guide_2015.md", "Riverside Stadium has room for 24,000 spectators.")
    new = passage("p_0000000c02", "riverside_stadium_2020.md", "Riverside Stadium seats 31,500 spectators.")
    text = answer_for("How many spectators does Riverside Stadium seat?", old, new)
    assert "31,500" in text and "24,000" not in text
    # two sources of the same date that disagree: both are shown
    other = passage("p_0000000c03", "fan_survey_2020.md", "Riverside Stadium seats 30,000 spectators.")
    both = answer_for("How many spectators does Riverside Stadium seat?", new, other)
    assert "31,500" in both and "30,000" in both
    # a value the source marks as past is not a disagreement
    station = passage("p_0000000c04", "station_2022.md",
                      "The Harrow Station has an installed capacity of 290 MW after its 2022 upgrade. "
                      "Its original installed capacity was 240 MW.")
    assert "240" not in answer_for("What is the installed capacity of the Harrow Station?", station)


def test_how_old_is_answered_by_a_year_not_by_another_figure() -> None:
    uni = passage("p_0000000d11", "northbridge_university.md", "Northbridge University has 18,400 students. The university was established in 1962.")
    news = passage("p_0000000d12", "report_2023.md", "Northbridge University now has 19,100 students after opening its medical school.")
    text = answer_for("How old is Northbridge University?", news, uni)
    assert text.startswith(f"The university was established in 1962. [{uni['id']}]") and "19,100" not in text


def test_a_sentence_naming_its_target_answers_under_its_heading() -> None:
    budgets = passage("p_0000000d21", "annual_report_2023.md",
                      "## Budgets\n\nNorthbridge University spent 412 million pounds in 2023. Kestrel College spent 96 million pounds.")
    text = answer_for("What were the 2023 budgets of Kestrel College?", budgets)
    assert text == f"Kestrel College spent 96 million pounds. [{budgets['id']}]"
    assert answer_for("How many students does Kestrel College have?", budgets).startswith("No supporting evidence")


def test_a_section_answers_for_the_document_it_belongs_to() -> None:
    title = passage("p_0000000d01", "water_outage_2021.md", "# Incident report: Oakhaven water outage, June 2021", line=1)
    cause = passage("p_0000000d02", "water_outage_2021.md",
                    "## Cause\n\nThe outage was caused by a burst trunk main under Mill Lane after a heavy frost.", line=3)
    text = answer_for("What caused the June 2021 water outage in Oakhaven?", title, cause)
    assert text == f"The outage was caused by a burst trunk main under Mill Lane after a heavy frost. [{cause['id']}]"
    assert answer_for("What caused the June 2021 water outage in Oakhaven?", cause).startswith("No supporting evidence")


def test_a_difference_of_measures_is_computed_from_cited_figures() -> None:
    towers = passage("p_0000000e01", "towers.md",
                     "The Beacon Tower stands 112 metres tall and was finished in 1987. "
                     "The older Clock Tower, on Market Square, is 46 metres tall.")
    text = answer_for("How much taller is the Beacon Tower than the Clock Tower?", towers)
    assert text.endswith("Computed: 112 - 46 = 66.")
    assert text.count(f"[{towers['id']}]") == 2


def test_list_items_continue_over_their_wrapped_lines() -> None:
    text = "## Projects\n\n- Transport: new trams and the\n  replacement of two transformers.\n- Water: a new\nstage at Saltmarsh.\n- Energy: a cable.\nThen prose."
    assert sentences(text) == ["Projects", "Transport: new trams and the replacement of two transformers.",
                               "Water: a new stage at Saltmarsh.", "Energy: a cable.", "Then prose."]


# --------------------------------------------------------------------------- the report
def test_the_short_answer_gives_the_operands_then_the_computation() -> None:
    saltmarsh = "Saltmarsh opened in 2018. [p_0000000f01] Saltmarsh can produce 62,000 cubic metres per day. [p_0000000f02]"
    northpoint = "Northpoint can produce 45,000 cubic metres per day. [p_0000000f03]"
    whole = f"{northpoint} {saltmarsh} Computed: 62000 - 45000 = 17000."
    question = "How much larger is the capacity of Saltmarsh than that of Northpoint?"
    body = render(question, [Finding("Merged answer", whole), Finding(question, whole)])
    short = re.search(r"## Short answer\n\n(.*?)\n", body).group(1)  # type: ignore[union-attr]
    assert short == ("Saltmarsh can produce 62,000 cubic metres per day. [p_0000000f02] "
                     "Northpoint can produce 45,000 cubic metres per day. [p_0000000f03] Computed: 62000 - 45000 = 17000.")


def test_the_writer_reads_where_each_passage_comes_from() -> None:
    from agentloom.agents.writer import Writer
    from agentloom.models.offline.write import sources_in

    passages = {"p_0000001101": Citation("p_0000001101", "Saltmarsh can produce 62,000 cubic metres per day.", path="saltmarsh.md",
                                         line_start=3, line_end=4)}
    prompt = Writer("offline").prompt("What is the capacity of Saltmarsh?", [{"title": "", "text": "Saltmarsh can produce 62,000. [p_0000001101]"}], passages)
    assert sources_in(prompt) == {"p_0000001101": "saltmarsh.md"}
    assert sources_in("no passages here") == {}


def test_the_short_answer_covers_every_sub_question() -> None:
    parts = {name: f"{name} Dam holds {n},000 cubic metres. [p_00000010{n:02d}]" for n, name in enumerate(["Alder", "Birch", "Cedar", "Dover"], 1)}
    findings = [Finding("Merged answer", " ".join(parts.values()))]
    findings += [Finding(f"What is the capacity of {name} Dam?", text) for name, text in parts.items()]
    body = render("What are the capacities of Alder Dam, Birch Dam, Cedar Dam and Dover Dam?", findings)
    short = re.search(r"## Short answer\n\n(.*?)\n", body).group(1)  # type: ignore[union-attr]
    assert all(text in short for text in parts.values())


# --------------------------------------------------------------------------- end to end
@pytest.mark.parametrize(("question", "expected"), [
    ("How much larger is the capacity of the Saltmarsh Desalination Plant than that of the Northpoint Desalination Plant, in cubic metres per day?",
     ["17000", "62,000", "45,000"]),
    ("How long is tram Line 3, the Estuary Line, and how many stops does it have?", ["14.5 km", "22 stops"]),
    ("What is the population of Marrowick?", ["412,000 people"]),
])
async def test_research_reports_answer_with_cited_source_sentences(question: str, expected: list[str]) -> None:
    from agentloom.research.run import research

    result = await research(question, corpus=[str(CORPUS)])
    report = str(result.output)
    body = report.split("## References")[0]
    short = body.split("## Short answer")[1].split("## Findings")[0]
    for needle in expected:
        assert needle in short, (needle, short)
    passages = {i: c for i, c in enumerate(result.citations, 1)}
    lines = [line for line in body.splitlines()[1:] if line.strip() and not line.startswith("#")]
    for sentence in (s for line in lines for s in sentences(line)):
        if sentence.startswith("Computed:"):
            continue
        numbers = [int(n) for n in re.findall(r"\[(\d+)\]", sentence)]
        assert numbers, f"uncited: {sentence}"
        plain = re.sub(r"\s*\[\d+\]", "", sentence).strip()
        assert any(passage_holds(passages[n], plain) for n in numbers), f"not in its source: {plain}"


def test_candidates_keep_the_text_of_their_source() -> None:
    """Words a source uses for a question term are scored as that term, but the text is the source's."""
    ranker = ranker_for("What is the population of Marrowick?", OVERVIEW)
    texts = {c.text for c in ranker.candidates}
    assert all(isinstance(c, Candidate) for c in ranker.candidates)
    assert "Marrowick is a coastal city of 412,000 people (2023 census)." in texts
    assert "population" in next(c for c in ranker.candidates if "412,000" in c.text).term_set
    assert Path(CORPUS).is_dir()
