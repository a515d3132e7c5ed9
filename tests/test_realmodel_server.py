"""Both transports reach a real small model behind llama.cpp's server: text, usage, schemas, tools."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from agentloom.models import LiteLLMModel, Message, ModelRequest, OpenAIModel
from scripts import local_model

pytestmark = pytest.mark.realmodel


class CityAnswer(BaseModel):
    city: str
    country: str


def _question() -> ModelRequest:
    return ModelRequest(
        messages=[
            Message("system", "Answer in as few words as possible."),
            Message("user", "What is the capital city of France?"),
        ],
        temperature=0.0,
        max_tokens=32,
    )


@pytest.mark.parametrize("transport", ["openai", "litellm"])
async def test_a_real_model_answers_through_each_transport(
    real_model_server: local_model.RunningServer, transport: str
) -> None:
    model = (
        OpenAIModel(real_model_server.alias, base_url=real_model_server.base_url)
        if transport == "openai"
        else LiteLLMModel(f"openai/{real_model_server.alias}", api_base=real_model_server.base_url, api_key="none")
    )
    completion = await model.complete(_question())
    assert completion.text and "paris" in completion.text.lower()
    assert completion.usage.input_tokens > 10
    assert completion.usage.output_tokens > 0


async def test_the_server_enforces_a_json_schema_for_structured_output(
    real_model_server: local_model.RunningServer,
) -> None:
    model = OpenAIModel(real_model_server.alias, base_url=real_model_server.base_url)
    request = _question()
    request.output_type = CityAnswer
    request.max_tokens = 64
    completion = await model.complete(request)
    assert isinstance(completion.parsed, CityAnswer)
    assert completion.parsed.city.lower() == "paris"


def test_the_served_model_is_the_verified_file(real_model_server: local_model.RunningServer) -> None:
    """The fixture serves what ``prepare`` assembled: the exact size, a GGUF header."""
    if not real_model_server.pid:
        pytest.skip("AGENTLOOM_REALMODEL_URL points at a server this test did not start")
    path = local_model.weights_path("0.5b")
    assert path.stat().st_size == local_model.MODELS["0.5b"].size
    with path.open("rb") as fh:
        assert fh.read(4) == local_model.GGUF_MAGIC


async def test_the_readme_agent_runs_on_the_local_model_under_a_usd_budget(
    real_model_server: local_model.RunningServer,
) -> None:
    """The README's snippet with a served model: priced with price="0,0", a USD limit holds."""
    from agentloom import Agent, Budget
    from agentloom._paths import default_corpus
    from agentloom.models import resolve_model
    from agentloom.tools import calculator, corpus_tools

    local = resolve_model(real_model_server.alias, base_url=real_model_server.base_url, price="0,0")
    agent = Agent(model=local, tools=[calculator, *corpus_tools([str(default_corpus())])], max_turns=3)
    result = await agent.run("What is the installed capacity of the Skerry Sound Tidal Station?",
                             budget=Budget(usd=0.05, seconds=240))
    assert result.output
    assert result.usage.llm_calls >= 1 and result.usage.usd == 0.0
