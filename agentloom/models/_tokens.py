"""Approximate token counts for local models (offline, function): about four characters a token."""

from __future__ import annotations

from agentloom.models.types import ModelRequest

__all__ = ["count_tokens", "count_request_tokens"]


def count_tokens(text: str | None) -> int:
    """Tokens in ``text`` at roughly four characters each (0 for empty text)."""
    return (len(text) + 3) // 4 if text else 0


def count_request_tokens(request: ModelRequest) -> int:
    """Prompt tokens of a request: message contents, tool-call arguments and a small overhead each."""
    total = 0
    for message in request.messages:
        total += count_tokens(message.content) + 4
        for call in message.tool_calls:
            total += count_tokens(call.arguments) + count_tokens(call.name)
    return total
