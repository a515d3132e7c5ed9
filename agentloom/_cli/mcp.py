"""``loom mcp serve``: agentloom's ``research`` and ``ask`` as tools of an MCP server."""

from __future__ import annotations

import click

__all__ = ["mcp"]


@click.group()
def mcp() -> None:
    """agentloom and the Model Context Protocol."""


@mcp.command()
@click.option("--corpus", "corpus", multiple=True, type=click.Path(), help="Corpus folder (repeatable). Default: the shipped example corpus.")
@click.option("--model", default=None, help="litellm model string, or 'offline'. Default: $AGENTLOOM_MODEL, else offline.")
@click.option("--budget-usd", type=float, default=None, help="Most one call may spend in USD (a caller may ask for less).")
@click.option("--budget-tokens", type=int, default=None, help="Most tokens one call may spend (a caller may ask for less).")
@click.option("--http", "http_port", type=click.IntRange(1, 65535), default=None, metavar="PORT",
              help="Serve streamable HTTP on PORT (at /mcp) instead of stdio.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on with --http.")
def serve(corpus: tuple[str, ...], model: str | None, budget_usd: float | None, budget_tokens: int | None,
          http_port: int | None, host: str) -> None:
    """Serve `research` and `ask` as MCP tools (stdio by default; --http PORT for streamable HTTP)."""
    import importlib.util

    from agentloom.errors import ConfigError

    if importlib.util.find_spec("mcp") is None:
        raise ConfigError("loom mcp serve needs the mcp package: pip install 'agentloom[mcp]'")
    for flag, value in (("--budget-usd", budget_usd), ("--budget-tokens", budget_tokens)):
        if value is not None and value <= 0:
            raise ConfigError(f"{flag} {value:g} leaves nothing to spend; give a positive limit or leave it out")
    from agentloom._cli.mcp_server import build_server
    from agentloom.research.run import corpus_paths

    server = build_server(corpus_paths(list(corpus) or None), model=model, budget_usd=budget_usd, budget_tokens=budget_tokens)
    if http_port is None:
        server.run()
    else:
        server.run("streamable-http", host=host, port=http_port)
