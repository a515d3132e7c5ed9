"""Model transport overhead: ``OpenAIModel`` and ``LiteLLMModel`` against the raw SDK calls they
wrap, all hitting the same zero-latency fake OpenAI server on loopback, side by side in one process.

What the wrappers add per call: the budget reservation and settlement, tenacity's retry loop,
a ``model_call`` event, and reading the response into a ``Completion``. Rows are per-call medians
over interleaved repeats, sequential (latency) and ``gather``-ed (throughput). ``ratio`` compares
each wrapper with the raw SDK it wraps (``openai`` ``AsyncOpenAI``, ``litellm.acompletion``);
``vs_openai_sdk`` compares everything with the raw openai SDK.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakeserver import FakeOpenAIServer, Reply  # noqa: E402

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

Call = Callable[[int], Awaitable[Any]]


def _responder(body: dict[str, Any]) -> Reply:
    return Reply(text="ok", usage={"prompt_tokens": 12, "completion_tokens": 1})


async def _cases(base_url: str) -> dict[str, tuple[str, Call]]:
    """case name -> (its raw peer's name, the call)."""
    from openai import AsyncOpenAI

    from agentloom import tracing
    from agentloom.budget import Budget
    from agentloom.models.litellm_model import LiteLLMModel, import_litellm
    from agentloom.models.openai_model import OpenAIModel
    from agentloom.models.types import Message, ModelRequest

    litellm = import_litellm()
    client = AsyncOpenAI(api_key="k", base_url=base_url, max_retries=0)
    openai_model = OpenAIModel("gpt-4o-mini", base_url=base_url, api_key="k")
    litellm_model = LiteLLMModel("openai/gpt-4o-mini", api_base=base_url, api_key="k")
    budget = Budget()  # wrappers pay for their accounting, as they would in a run

    def messages(i: int) -> list[dict[str, Any]]:
        return [{"role": "user", "content": f"question {i}"}]

    async def raw_openai(i: int) -> Any:
        return await client.chat.completions.create(model="gpt-4o-mini", messages=messages(i))  # type: ignore[arg-type]

    async def raw_litellm(i: int) -> Any:
        return await litellm.acompletion(
            model="openai/gpt-4o-mini", messages=messages(i), api_base=base_url, api_key="k", num_retries=0, max_retries=0
        )

    def wrapped(model: Any) -> Call:
        async def call(i: int) -> Any:
            with tracing.use(tracing.RunContext(budget=budget)):
                return await model.complete(ModelRequest([Message.user(f"question {i}")], max_tokens=16))

        return call

    return {
        "openai SDK (raw)": ("openai SDK (raw)", raw_openai),
        "OpenAIModel.complete": ("openai SDK (raw)", wrapped(openai_model)),
        "litellm.acompletion (raw)": ("litellm.acompletion (raw)", raw_litellm),
        "LiteLLMModel.complete": ("litellm.acompletion (raw)", wrapped(litellm_model)),
    }


async def _time(call: Call, n: int, concurrent: bool) -> float:
    start = time.perf_counter()
    if concurrent:
        await asyncio.gather(*(call(i) for i in range(n)))
    else:
        for i in range(n):
            await call(i)
    return (time.perf_counter() - start) / n


async def _run(base_url: str, quick: bool) -> list[dict[str, Any]]:
    cases = await _cases(base_url)
    for _, call in cases.values():  # warm up: imports, connection pools, price lookups
        await call(0)
    repeats = 5 if quick else 9
    modes = {"sequential": 15 if quick else 100, "gather": 16 if quick else 64}
    rows: list[dict[str, Any]] = []
    for mode, n in modes.items():
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(repeats):
            for name, (_, call) in cases.items():
                samples[name].append(await _time(call, n, concurrent=mode == "gather"))
        medians = {name: statistics.median(values) for name, values in samples.items()}
        for name, (peer, _) in cases.items():
            rows.append(
                {
                    "case": name,
                    "mode": mode,
                    "calls": n,
                    "per_call_ms": round(medians[name] * 1000, 3),
                    "peer": peer,
                    "ratio": round(medians[name] / medians[peer], 2),
                    "vs_openai_sdk": round(medians[name] / medians["openai SDK (raw)"], 2),
                }
            )
    return rows


def run(quick: bool = False) -> list[dict[str, Any]]:
    with FakeOpenAIServer(_responder, record=False) as server:
        return asyncio.run(_run(server.base_url, quick))


if __name__ == "__main__":
    from bench.run import format_table

    print(format_table(run(quick="--quick" in sys.argv)))
