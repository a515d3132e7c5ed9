"""``OfflineModel``: a deterministic, network-free model that dispatches on the request's purpose.

Each purpose has its own module here with a ``respond(request) -> Completion`` function. The
model is extractive: every sentence it outputs comes from a tool result or the request itself,
with that source's citation id, so an offline run never invents facts. Structured output is
returned as JSON text and goes through the same validation as a real model's.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from agentloom.budget import Price
from agentloom.errors import ModelError
from agentloom.models.base import ModelBase
from agentloom.models.types import Completion, ModelRequest, Usage
from agentloom.tokens import count_request_tokens, count_tokens

__all__ = ["OfflineModel", "HANDLERS"]

#: purpose -> module holding its ``respond`` function (imported on first use).
HANDLERS: dict[str, str] = {
    "act": "agentloom.models.offline.act",
    "summarize": "agentloom.models.offline.summarize",
    "plan": "agentloom.models.offline.plan",
    "dag": "agentloom.models.offline.dag",
    "join": "agentloom.models.offline.join",
    "verify": "agentloom.models.offline.verify",
    "equivalence": "agentloom.models.offline.verify",
    "merge": "agentloom.models.offline.merge",
    "refine": "agentloom.models.offline.merge",
    "write": "agentloom.models.offline.write",
}


class OfflineModel(ModelBase):
    """Answers every purpose deterministically from the request's content (free: price 0)."""

    name = "offline"

    def __init__(self) -> None:
        super().__init__(max_retries=0, price=Price(0.0, 0.0), default_max_tokens=4096)
        self._cache: dict[str, Callable[[ModelRequest], Completion]] = {}

    def _handler(self, purpose: str) -> Callable[[ModelRequest], Completion]:
        handler = self._cache.get(purpose)
        if handler is None:
            module_name = HANDLERS.get(purpose)
            if module_name is None:
                raise ModelError(
                    f"offline model has no behaviour for purpose '{purpose}'; known: {', '.join(sorted(HANDLERS))}"
                )
            module = importlib.import_module(module_name)
            handler = getattr(module, f"respond_{purpose}", None) or module.respond
            self._cache[purpose] = handler
        return handler

    async def _attempt(self, request: ModelRequest) -> Completion:
        completion = self._handler(request.purpose)(request)
        text = completion.text or ""
        limit = request.max_tokens
        if limit is not None and count_tokens(text) > limit and request.output_type is None:
            text = text[: limit * 4]
            completion.text = text
            completion.finish_reason = "length"
        args_tokens = sum(count_tokens(c.arguments) + count_tokens(c.name) for c in completion.tool_calls)
        completion.usage = Usage(
            input_tokens=count_request_tokens(request),
            output_tokens=count_tokens(completion.text) + args_tokens,
            usd=0.0,
        )
        completion.model = self.name
        return completion
