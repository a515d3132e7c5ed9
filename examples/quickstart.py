"""The README's Python example: one agent with a custom tool, the calculator and the corpus.

    python examples/quickstart.py
"""

import asyncio
from pathlib import Path

from agentloom import Agent, Budget, tool
from agentloom.tools import calculator, corpus_tools

CORPUS = Path(__file__).resolve().parent / "corpus"


@tool(timeout=10)
async def ridership(line: str) -> dict:
    """Yearly passenger journeys on a tram line (from the operator's API).

    Args:
        line: the line's name, e.g. "Line 1"
    """
    return {"line": line, "journeys": 9_800_000}


agent = Agent(
    model="offline",  # or any litellm string: "openai/gpt-4o-mini", "ollama/llama3.1", ...
    tools=[ridership, calculator, *corpus_tools([CORPUS])],
    width="descending",  # tool calls per turn: wide early, narrow later
    max_turns=6,  # depth
)
result = asyncio.run(
    agent.run("What is the installed capacity of the Skerry Sound Tidal Station?", budget=Budget(usd=0.05, seconds=60))
)
print(result.output)
for citation in result.citations:
    print(f"[{citation.id}] {citation.where()}")
print(result.usage)
assert "290 MW" in str(result.output), result.output
