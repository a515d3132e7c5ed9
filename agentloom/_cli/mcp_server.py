"""agentloom as an MCP server: ``research`` (a budgeted, cited deep-research run) and ``ask``
(one agent over the corpus) as MCP tools. Each call is its own recorded run under a budget no
larger than the server's; the ``mcp`` package is imported only here."""

from __future__ import annotations

from typing import Any

from agentloom.errors import ConfigError

__all__ = ["build_server"]


def _budget(usd_cap: float | None, tokens_cap: int | None, usd: float | None, tokens: int | None) -> Any:
    """A call's budget: what the caller asked for, never above the server's caps."""
    from agentloom.budget import Budget

    for name, value in (("budget_usd", usd), ("budget_tokens", tokens)):
        if value is not None and value <= 0:
            raise ConfigError(f"{name}={value:g} leaves nothing to spend; give a positive limit or leave it out")
    pick_usd = min(v for v in (usd_cap, usd) if v is not None) if (usd_cap, usd) != (None, None) else None
    pick_tokens = min(v for v in (tokens_cap, tokens) if v is not None) if (tokens_cap, tokens) != (None, None) else None
    return Budget(usd=pick_usd, tokens=pick_tokens, name="mcp")


def _citations(result: Any) -> list[dict[str, Any]]:
    return [c.to_dict() for c in result.citations]


def build_server(
    corpus: list[str] | None = None,
    *,
    model: str | None = None,
    budget_usd: float | None = None,
    budget_tokens: int | None = None,
) -> Any:
    """An ``MCPServer`` offering ``research`` and ``ask`` over ``corpus`` (default: the shipped one)."""
    from mcp.server.mcpserver import MCPServer

    from agentloom._paths import default_corpus

    paths = list(corpus or []) or [str(default_corpus())]
    server = MCPServer(
        "agentloom",
        instructions="Cited answers from agentloom over its corpus: `research` for a deep report, `ask` for one quick answer.",
        log_level="WARNING",
    )

    @server.tool()
    async def research(question: str, budget_usd: float | None = None, budget_tokens: int | None = None) -> dict[str, Any]:
        """Deep research on a question over the corpus: parallel teams, verification and a cited
        Markdown report. Returns the short answer, the report, its citations, usage and run id."""
        from agentloom.research.run import research as run_research

        budget = _budget(budget_usd_cap, budget_tokens_cap, budget_usd, budget_tokens)
        result = await run_research(question, corpus=paths, model=model, budget=budget)
        return {
            "answer": result.meta.get("short_answer", ""),
            "report": str(result.output),
            "citations": _citations(result),
            "budget_limited": result.budget_limited,
            "usage": result.usage.to_dict(),
            "run_id": result.run_id,
        }

    @server.tool()
    async def ask(question: str, budget_usd: float | None = None, budget_tokens: int | None = None) -> dict[str, Any]:
        """Answer a question with one tool-using agent over the corpus, citing its sources.
        Returns the answer, its citations, whether it is grounded, usage and run id."""
        from agentloom.agents.agent import Agent
        from agentloom.tools.calculator import calculator
        from agentloom.tools.corpus import corpus_tools

        if not question.strip():
            raise ConfigError("the question is empty")
        budget = _budget(budget_usd_cap, budget_tokens_cap, budget_usd, budget_tokens)
        agent = Agent(model=model, tools=[*corpus_tools(paths), calculator], name="ask")
        result = await agent.run(question, budget=budget)
        return {
            "answer": str(result.output),
            "citations": _citations(result),
            "grounded": result.grounded,
            "budget_limited": result.budget_limited,
            "usage": result.usage.to_dict(),
            "run_id": result.run_id,
        }

    budget_usd_cap, budget_tokens_cap = budget_usd, budget_tokens
    return server
