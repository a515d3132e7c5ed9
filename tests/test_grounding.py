"""Merge, refine and the writer never introduce a figure or a name absent from their inputs:
such sentences are dropped (and recorded), arithmetic on input figures is allowed."""

from __future__ import annotations

import json

from agentloom.agents import Candidate, MergeCrossover
from agentloom.agents.grounding import drop_ungrounded, figures_in, unsupported_terms
from agentloom.models.function import FunctionModel
from agentloom.models.types import ModelRequest

SOURCES = [
    "Northpoint desalination plant produces 45,000 cubic metres a day [p_aaaaaaaaaa].",
    "Kettle Bay plant produces 30,000 cubic metres a day; it is run by Orla Hensley.",
]


def test_figures_skip_citation_ids_and_numbered_markers() -> None:
    assert figures_in("It makes 45,000 m3 [p_1234567890] [3] in 2.5 days") == [45000.0, 2.5]


def test_invented_figures_and_names_are_unsupported_but_arithmetic_is_not() -> None:
    text = "\n".join(SOURCES)
    assert unsupported_terms("Northpoint makes 45,000 cubic metres a day.", text) == []
    assert unsupported_terms("Together they make 75,000 cubic metres a day.", text) == []  # a sum
    assert unsupported_terms("Northpoint makes 15,000 more than Kettle Bay.", text) == []  # a difference
    assert unsupported_terms("They make 10, 15, and 20 million gallons.", text) == ["10", "15", "20"]
    assert unsupported_terms("Kettle Bay is run by Marcus Wendt.", text) == ["Marcus", "Wendt"]


def test_drop_ungrounded_keeps_headings_and_grounded_sentences() -> None:
    out = drop_ungrounded("## Short answer\n\nNorthpoint makes 45,000 m3 a day. It makes 800 watts.", SOURCES)
    assert out.text == "## Short answer\n\nNorthpoint makes 45,000 m3 a day."
    assert out.dropped == [{"sentence": "It makes 800 watts.", "unsupported": ["800"]}]


async def test_merge_drops_a_sentence_whose_figures_no_candidate_said() -> None:
    a = Candidate(text="Northpoint produces 45,000 cubic metres a day [p_aaaaaaaaaa].")
    b = Candidate(text="Kettle Bay produces 30,000 cubic metres a day.")

    def respond(request: ModelRequest) -> str:
        payload = request.messages[-1].content or ""
        assert "45,000" in payload  # the merge sees the candidates
        return json.dumps({"text": "Northpoint produces 45,000 cubic metres a day [p_aaaaaaaaaa]. "
                                   "The plants hold 10, 15, and 20 million gallons."})

    merged = await MergeCrossover(FunctionModel(respond), k=2).combine([a, b], question="How much do the plants make?")
    assert "gallons" not in (merged.text or "") and "45,000" in (merged.text or "")
    assert merged.meta["ungrounded_dropped"][0]["unsupported"] == ["10", "15", "20"]


async def test_a_merge_with_nothing_grounded_left_keeps_the_best_candidate() -> None:
    a = Candidate(text="Northpoint produces 45,000 cubic metres a day.")
    b = Candidate(text="Kettle Bay produces 30,000 cubic metres a day.")
    model = FunctionModel(lambda r: json.dumps({"text": "They hold 777 million gallons."}))
    merged = await MergeCrossover(model, k=2).combine([a, b])
    assert merged.text == a.text and merged.meta["merged"] is False


async def test_a_verifier_node_fails_an_answer_its_agent_marked_ungrounded() -> None:
    from agentloom.agents.candidates import Verdict
    from agentloom.graph._nodes.verify import CombinedVerifier
    from agentloom.graph._state import to_candidate

    class Lenient:
        async def verify(self, candidates: list[Candidate], *, question: str | None = None) -> list[Verdict]:
            return [Verdict(c.id, 1.0, True, verifier="lenient") for c in candidates]

    grounded = to_candidate({"text": "290 MW [p_aaaaaaaaaa]", "grounded": True}, 0, "a-0")
    ungrounded = to_candidate({"text": "800 watts", "grounded": False}, 1, "a-1")
    verdicts = await CombinedVerifier([Lenient()], "v").verify([grounded, ungrounded])
    assert [v.passed for v in verdicts] == [True, False] and "ungrounded" in verdicts[1].feedback
    assert [v.score for v in verdicts] == [1.0, 0.0] and verdicts[1].meta["text_score"] == 1.0  # never ranked first


async def test_a_failed_ungrounded_branch_is_not_refined_as_a_confident_one() -> None:
    """A research round whose one answer is ungrounded fails verification; the next round must not
    read it as a branch that is "already confident" (its text score came from agreeing with itself)."""
    from pathlib import Path

    from agentloom.graph.loader import load_graph
    from agentloom.runstore import RunStore

    graph = load_graph(Path(__file__).resolve().parent.parent / "examples" / "deep_research.yaml")
    result = await graph.run({"question": "What colour is the mayor's bicycle in Zorbania?"})
    with RunStore() as store:
        plans = [e["data"] for e in store.events(result.run_id, "decision") if e["name"] == "plan"]
    assert len(plans) == 2 and "already confident" not in plans[1]["reason"]


def test_loom_ask_says_when_an_answer_is_ungrounded(capsys: object, monkeypatch: object) -> None:
    import pytest

    from agentloom.agents.agent import Agent
    from tests.cliutil import run_cli

    mp = pytest.MonkeyPatch()
    original = Agent.__init__

    def fixed(self: Agent, *args: object, **kwargs: object) -> None:
        kwargs["model"] = FunctionModel(lambda r: "It is about 800 watts.")
        kwargs["tool_mode"] = "text"
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    mp.setattr(Agent, "__init__", fixed)
    try:
        code, out, _ = run_cli(["ask", "What is the installed capacity of the Skerry Sound Tidal Station?", "--quiet"], capsys)  # type: ignore[arg-type]
    finally:
        mp.undo()
    assert code == 0 and "Ungrounded:" in out


async def test_a_research_report_says_which_team_answers_were_set_aside_as_ungrounded(tmp_path: object) -> None:
    """Teams whose answers cite nothing they looked up are left out of the report's inputs, and
    the report names them; the invented figure never reaches the report."""
    from pathlib import Path

    from agentloom.models.offline import OfflineModel
    from agentloom.research.pipeline import deep_research_graph
    from agentloom.runstore import RunStore

    offline = OfflineModel()

    async def respond(request: ModelRequest) -> object:
        if request.purpose == "act":  # every team answers from thin air, never citing
            return "The plant makes 987,654 widgets an hour."
        return await offline.complete(request)

    store = RunStore(Path(str(tmp_path)) / "runs.db")
    try:
        result = await deep_research_graph().run(
            {"question": "What is the daily capacity of the Northpoint desalination plant?", "width": "2", "depth": "1"},
            model=FunctionModel(respond, name="uncited"),
            store=store,
        )
    finally:
        store.close()
    report = str(result.output["report"])
    assert "Ungrounded answers set aside" in report or "Ungrounded answer set aside" in report
    assert "987,654" not in report
