"""A token budget against a provider that reports more usage than was reserved.

50 workers share one ``Budget(tokens=LIMIT)`` and call an ``OpenAIModel`` in a loop against the
loopback fake server until the budget refuses them. Three providers, side by side in one process:

- honest, prose prompts: it reports the prompt's true token count (tiktoken's ``o200k_base``,
  the encoding of the model named) and ``max_tokens`` of output;
- honest, prompts of JSON with UUIDs and long numbers, where a characters-per-token guess
  reserves too little;
- misreporting: it reports ``--factor`` times what the budget reserved.

Rows:

- ``server calls``: requests the provider saw;
- ``provider tokens``: the usage it reported (what it would bill);
- ``charged``: what the budget recorded as spent (goal: equal to ``provider tokens``);
- ``over limit``: how far the provider's figure went past the limit, as % of the limit;
- ``admitted after crossing``: calls let through after the limit was already crossed (goal: 0).

What is left over the limit is the first wave: calls admitted together, each on a reservation the
provider then exceeded. No budget can refuse a call it has already sent; it can charge what
comes back and stop the next one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakeserver import FakeOpenAIServer, Reply, last_user_text  # noqa: E402

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

MAX_TOKENS = 50


@dataclass
class Outcome:
    """What one case measured."""

    case: str
    limit: int
    server_calls: int
    provider_tokens: int
    charged: int
    admitted_after_crossing: int

    @property
    def over_limit_pct(self) -> float:
        return 100.0 * max(self.provider_tokens - self.limit, 0) / self.limit


def _true_tokens(text: str) -> int:
    """What an honest provider counts for one user message (its own tokenizer, plus framing)."""
    import tiktoken

    return len(tiktoken.get_encoding("o200k_base").encode(text)) + 7


def _prose(i: int) -> str:
    return f"Summarise finding number {i} in one line."


def _records(i: int) -> str:
    import json
    import uuid

    rows = [{"id": str(uuid.UUID(int=i * 131 + j)), "reading": 1_000_003 * (i + j) % 99_999_989, "lat": 51.0 + j / 7}
            for j in range(6)]
    return "Which reading is largest? " + json.dumps(rows)


async def _case(case: str, factor: float | None, prompt: Any, *, limit: int, workers: int, base_url: str,
                server: FakeOpenAIServer) -> Outcome:
    """``factor`` None: the provider reports true usage; else that multiple of the reservation."""
    from agentloom import tracing
    from agentloom.budget import Budget
    from agentloom.errors import BudgetExceeded
    from agentloom.models.base import estimate_input_tokens
    from agentloom.models.openai_model import OpenAIModel
    from agentloom.models.types import Message, ModelRequest

    def request(i: int) -> ModelRequest:
        return ModelRequest(messages=[Message("user", prompt(i))], max_tokens=MAX_TOKENS)

    def responder(body: dict[str, Any]) -> Reply:
        text = last_user_text(body)
        if factor is None:
            prompt_tokens = _true_tokens(text)
        else:
            prompt_tokens = round((estimate_input_tokens(ModelRequest(messages=[Message("user", text)]), "gpt-4o-mini")
                                   + MAX_TOKENS) * factor) - MAX_TOKENS
        reported.append(prompt_tokens + MAX_TOKENS)
        return Reply(text="ok", usage={"prompt_tokens": prompt_tokens, "completion_tokens": MAX_TOKENS})

    reported: list[int] = []
    server.responder = responder
    before = len(server.requests)
    model = OpenAIModel("gpt-4o-mini", base_url=base_url, api_key="k", max_retries=0)
    budget = Budget(tokens=limit)
    late = 0

    async def worker(w: int) -> None:
        nonlocal late
        with tracing.use(tracing.RunContext(run_id=f"bench-{case}", store=None, budget=budget)):  # type: ignore[arg-type]
            for i in range(10_000):
                crossed = budget.spent.tokens >= limit
                try:
                    await model.complete(request(w * 10_000 + i))
                except BudgetExceeded:
                    return
                late += crossed

    await asyncio.gather(*(worker(w) for w in range(workers)))
    calls = len(server.requests) - before
    return Outcome(case, limit, calls, sum(reported), budget.spent.tokens, late)


async def _main(args: argparse.Namespace) -> list[Outcome]:
    with FakeOpenAIServer() as server:
        base_url = server.base_url
        cases = [("honest, prose", None, _prose), ("honest, JSON with UUIDs and numbers", None, _records),
                 (f"reports {args.factor:g}x the reservation", args.factor, _prose)]
        return [await _case(name, factor, prompt, limit=args.limit, workers=args.workers, base_url=base_url,
                            server=server) for name, factor, prompt in cases]


def run(quick: bool = False, *, workers: int = 50, limit: int = 20_000, factor: float = 10.0) -> list[dict[str, Any]]:
    """Rows for ``python -m bench overshoot`` (``quick``: 10 workers, a 4,000-token limit)."""
    args = argparse.Namespace(workers=10 if quick else workers, limit=4_000 if quick else limit, factor=factor)
    return [
        {"case": o.case, "server calls": o.server_calls, "provider tokens": o.provider_tokens, "charged": o.charged,
         "over limit %": round(o.over_limit_pct, 1), "admitted after crossing": o.admitted_after_crossing}
        for o in asyncio.run(_main(args))
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--limit", type=int, default=20_000, help="the budget's token limit")
    parser.add_argument("--factor", type=float, default=10.0, help="reported usage over the reservation")
    args = parser.parse_args(argv)
    from bench.run import format_table

    print(f"{args.workers} workers, Budget(tokens={args.limit:,}), max_tokens={MAX_TOKENS}")
    print(format_table(run(workers=args.workers, limit=args.limit, factor=args.factor)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
