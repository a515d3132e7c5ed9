"""``payload_request``: the deterministic request that verifiers and crossovers send, its data as
a fenced JSON block (``agentloom.text.lexical`` renders and reads it, shared with the offline model)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from agentloom.models.types import Message, ModelRequest
from agentloom.text.lexical import render_payload

__all__ = ["payload_request"]


def payload_request(
    system: str,
    payload: Mapping[str, Any],
    *,
    purpose: str,
    max_tokens: int,
    metadata: dict[str, Any],
    output_type: type[BaseModel] | None = None,
    instruction: str | None = None,
) -> ModelRequest:
    """A deterministic (temperature 0) request: the ``system`` message, then a user message with
    the optional ``instruction`` and ``payload`` as a fenced JSON block."""
    body = render_payload(payload)
    return ModelRequest(
        messages=[Message.system(system), Message.user(f"{instruction}\n\n{body}" if instruction else body)],
        output_type=output_type,
        temperature=0.0,
        max_tokens=max_tokens,
        purpose=purpose,
        metadata=metadata,
    )
