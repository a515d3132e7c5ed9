"""PDR: parallel drafts → bounded workspace → refine; width 1 is sequential refinement."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentloom import Budget
from agentloom.agents import PDR
from agentloom.errors import ConfigError
from agentloom.models.function import FunctionModel
from agentloom.models.types import ModelRequest
from agentloom.runstore import RunStore

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "corpus"


class Drafts:
    """Drafts are numbered sentences chosen from the prompt's content; refine keeps the
    workspace's first point and adds a marker so tests can see which round refined."""

    def __init__(self) -> None:
        self.prompts: list[str] = []
        self.refines: list[str] = []

    def __call__(self, request: ModelRequest) -> str:
        text = "\n".join(m.content or "" for m in request.messages if m.role == "user")
        if request.purpose == "refine":
            self.refines.append(text)
            return f"Refined answer {len(self.refines)}: the dam holds water."
        self.prompts.append(text)
        seen_workspace = "Workspace distilled" in text
        variant = sum(ord(c) for c in request.messages[0].content or "") % 3  # same for all drafts
        return (f"The dam holds water. The dam is {'old' if seen_workspace else 'new'}. "
                f"Point {variant} is extra. Filler sentence number {len(text) % 7} for length.")


async def test_parallel_drafts_distil_and_refine_each_round() -> None:
    drafts = Drafts()
    store = RunStore()
    result = await PDR(width=3, rounds=2, workspace_tokens=24, model=FunctionModel(drafts)).run("How old is the dam?", store=store)
    assert len(drafts.prompts) == 6 and len(drafts.refines) == 2
    assert result.output == "Refined answer 2: the dam holds water."
    assert result.meta["rounds"] == 2 and all(t <= 24 for t in result.meta["workspace_tokens"])
    history = result.meta["history"]
    assert history[0]["dropped"] > 0  # the workspace is bounded: some points did not fit
    # round-2 drafts build on the distilled workspace and the refined answer of round 1
    assert sum("Workspace distilled" in p for p in drafts.prompts) == 3
    assert all("Refined answer 1" in p for p in drafts.prompts[3:])
    decisions = [e["data"]["reason"] for e in store.events(result.run_id) if e["kind"] == "decision" and e["name"] == "pdr"]
    assert decisions == ["round 1/2: 3 parallel draft(s)", "round 2/2: 3 parallel draft(s) from the distilled workspace"]


async def test_width_one_is_sequential_refinement() -> None:
    drafts = Drafts()
    result = await PDR(width=1, rounds=3, model=FunctionModel(drafts)).run("How old is the dam?")
    assert len(drafts.prompts) == 3 and len(drafts.refines) == 3
    assert "Workspace distilled" not in drafts.prompts[0]
    assert "Refined answer 1" in drafts.prompts[1] and "Refined answer 2" in drafts.prompts[2]
    assert result.output == "Refined answer 3: the dam holds water."


async def test_budget_runs_out_keeps_the_best_draft() -> None:
    drafts = Drafts()
    result = await PDR(width=3, rounds=2, model=FunctionModel(drafts)).run("How old is the dam?", budget=Budget(llm_calls=3))
    assert result.budget_limited and result.stop_reason == "budget"
    assert result.output.startswith("The dam holds water.") and len(drafts.refines) == 0


async def test_offline_pdr_over_a_corpus_keeps_citations() -> None:
    from agentloom.tools.corpus import corpus_tools

    tools = corpus_tools(EXAMPLES)
    result = await PDR(width=2, rounds=2, model="offline", tools=tools).run("What is the installed capacity of the Skerry Sound Tidal Station?")
    assert "290 MW" in result.output
    assert result.citations and all(f"[{c.id}]" in result.output for c in result.citations)


@pytest.mark.parametrize("kwargs", [{"width": 0}, {"rounds": 0}, {"workspace_tokens": 8}, {"width": -1}])
def test_bad_settings(kwargs: dict[str, int]) -> None:
    with pytest.raises(ConfigError):
        PDR(**kwargs)


async def test_drafts_that_all_run_out_of_budget_stop_the_rounds() -> None:
    drafts = Drafts()
    result = await PDR(width=2, rounds=3, model=FunctionModel(drafts)).run("How old is the dam?", budget=Budget(llm_calls=0))
    assert result.budget_limited and result.stop_reason == "budget" and result.output == ""
