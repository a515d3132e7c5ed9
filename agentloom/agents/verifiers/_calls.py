"""How verifiers talk to judge models: resolve the model, lay out candidates and passages for
the request's JSON payload, ask for a structured answer, and bound how many run at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from agentloom.agents._verify_text import payload_request
from agentloom.agents.candidates import Candidate
from agentloom.citations import Citation
from agentloom.errors import ModelError
from agentloom.models.base import call_model
from agentloom.models.types import Model

__all__ = [
    "ask_judge",
    "bounded",
    "candidate_passages",
    "candidate_payload",
    "passage_payload",
    "resolve",
]

J = TypeVar("J", bound=BaseModel)


def resolve(model: str | Model | None) -> Model:
    """``model`` (a name, a model, or None for the default) as a model object."""
    from agentloom.models.resolve import resolve_model

    return resolve_model(model)


def passage_payload(passages: Sequence[Citation], limit: int = 4000) -> list[dict[str, Any]]:
    """Passages as the judge reads them: id, text (cut at ``limit``) and where they come from."""
    out = []
    for p in passages:
        item: dict[str, Any] = {"id": p.id, "text": p.text[:limit]}
        if p.path:
            item["path"] = p.path
        if p.url:
            item["url"] = p.url
        out.append(item)
    return out


def candidate_passages(candidate: Candidate) -> list[Citation]:
    """The cited passages, or every carried passage when the candidate cites none."""
    cited = candidate.cited_passages()
    return cited if cited else list(candidate.passages.values())[:12]


def candidate_payload(candidate: Candidate) -> dict[str, Any]:
    """A candidate as the judge reads it: id, text, and its structured output's fields."""
    data = candidate.output_dict()
    return {
        "id": candidate.id,
        "text": candidate.content,
        "fields": sorted(data) if data else None,
        "output": data,
    }


async def bounded(limit: int, jobs: Sequence[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Run ``jobs`` with at most ``limit`` at once; results in order."""
    gate = asyncio.Semaphore(max(1, limit))

    async def run(job: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(run(job) for job in jobs)))


async def ask_judge(
    model: Any,
    system: str,
    payload: Mapping[str, Any],
    output_type: type[J],
    *,
    purpose: str,
    question: str | None,
    node: str,
    max_tokens: int = 300,
) -> J | None:
    """The judge's structured answer to ``payload``; None when the model fails (a budget that
    runs out still stops the run)."""
    request = payload_request(
        system,
        payload,
        output_type=output_type,
        purpose=purpose,
        max_tokens=max_tokens,
        metadata={"question": question, "node": node},
    )
    try:
        completion = await call_model(model, request)
    except ModelError:
        return None
    out = completion.parsed
    assert isinstance(out, output_type)
    return out
