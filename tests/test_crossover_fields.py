"""FieldCrossover (per-field composition of structured outputs) and Variation (declared variety)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from agentloom.agents import Candidate, FieldCrossover, Variation, Verdict
from agentloom.agents.crossover import STYLES
from agentloom.errors import ConfigError, VerifierError
from agentloom.models.types import Message, ModelRequest


class Trip(BaseModel):
    city: str
    nights: int
    budget_usd: float


def trip(city: str, nights: int, budget: float) -> Candidate:
    return Candidate(output=Trip(city=city, nights=nights, budget_usd=budget))


async def test_each_field_comes_from_the_candidate_preferred_for_it() -> None:
    a, b, c = trip("Lisbon", 3, 900.0), trip("Porto", 4, 1200.0), trip("Lisbon", 5, 700.0)
    verdicts = [
        Verdict(a.id, 0.6, False, field_scores={"city": 1.0, "nights": 0.0, "budget_usd": 0.0}),
        Verdict(b.id, 0.3, False, field_scores={"city": 0.0, "nights": 1.0, "budget_usd": 0.0}),
        Verdict(c.id, 0.3, False, field_scores={"city": 1.0, "nights": 0.0, "budget_usd": 1.0}),
    ]
    child = await FieldCrossover().combine([a, b, c], verdicts)
    assert isinstance(child.output, Trip)
    assert child.output == Trip(city="Lisbon", nights=4, budget_usd=700.0)
    assert child.meta["field_sources"] == {"city": a.id, "nights": b.id, "budget_usd": c.id}
    assert set(child.parents) == {a.id, b.id, c.id}


async def test_overall_score_stands_in_for_missing_field_scores() -> None:
    a, b = trip("Rome", 2, 500.0), trip("Milan", 6, 800.0)
    verdicts = [Verdict(a.id, 0.4, True, field_scores={"city": 0.9}), Verdict(b.id, 0.7, True)]
    child = await FieldCrossover().combine([a, b], verdicts)
    assert child.output == Trip(city="Rome", nights=6, budget_usd=800.0)


async def test_dict_outputs_and_an_explicit_type() -> None:
    a = Candidate(output={"city": "Oslo", "nights": "3", "budget_usd": 100})
    b = Candidate(output={"city": "Bergen", "nights": 2, "budget_usd": 50})
    verdicts = [Verdict(a.id, 0.5, None, field_scores={"nights": 1.0}), Verdict(b.id, 0.5, None, field_scores={"city": 1.0})]
    child = await FieldCrossover(Trip).combine([a, b], verdicts)
    assert child.output == Trip(city="Bergen", nights=3, budget_usd=100.0)
    untyped = await FieldCrossover().combine([a, b], verdicts)
    assert untyped.output == {"city": "Bergen", "nights": "3", "budget_usd": 100}


async def test_invalid_composition_keeps_the_best_candidate() -> None:
    a = Candidate(output={"city": "Oslo", "nights": "many", "budget_usd": 1})
    b = Candidate(output={"city": "Bergen", "nights": 2, "budget_usd": 5})
    verdicts = [Verdict(a.id, 0.2, None, field_scores={"nights": 1.0}), Verdict(b.id, 0.9, True)]
    child = await FieldCrossover(Trip).combine([a, b], verdicts)
    assert child.output == b.output and "did not validate" in child.meta["error"]


async def test_text_only_candidates_are_refused_with_the_node_name() -> None:
    with pytest.raises(VerifierError, match="'compose'.*structured"):
        await FieldCrossover(name="compose").combine([Candidate(text="hello")])
    with pytest.raises(VerifierError, match="'compose'"):
        await FieldCrossover(name="compose").combine([])


def test_variation_applies_parameters_and_style() -> None:
    request = ModelRequest(messages=[Message.system("Be helpful."), Message.user("Q")], temperature=0.0)
    varied = Variation(name="hot", temperature=1.1, top_p=0.9, top_k=40, style="skeptical", seed=7).apply(request)
    assert varied.temperature == 1.1 and varied.top_p == 0.9 and varied.seed == 7
    assert varied.metadata["top_k"] == 40 and varied.metadata["variation"] == "hot"
    assert varied.messages[0].content is not None and STYLES["skeptical"] in varied.messages[0].content
    assert request.temperature == 0.0 and request.messages[0].content == "Be helpful.", "the original is untouched"
    bare = ModelRequest(messages=[Message.user("Q")])
    custom = Variation(style="Answer in French.").apply(bare)
    assert custom.messages[0].role == "system" and custom.messages[0].content == "Answer in French."


def test_variation_spread_covers_temperatures_and_cycles_styles() -> None:
    spread = Variation.spread(5, styles=["direct", "stepwise"], top_ks=[20, None])
    assert [v.temperature for v in spread] == [0.2, 0.4, 0.6, 0.8, 1.0]
    assert [v.style for v in spread] == ["direct", "stepwise", "direct", "stepwise", "direct"]
    assert [v.top_k for v in spread] == [20, None, 20, None, 20]
    assert spread[1].params() == {"temperature": 0.4, "style": "stepwise"}
    assert Variation(temperature=0.3).label() == "temperature=0.3"
    with pytest.raises(ConfigError):
        Variation.spread(0)
