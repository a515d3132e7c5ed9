"""The agents' side of the lexical helpers: ``payload_request`` builds the deterministic request
that verifiers and crossovers send; the text helpers themselves live in ``agentloom.text.lexical``
(shared with the offline model) and are re-exported here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from agentloom.models.types import Message, ModelRequest
from agentloom.text.lexical import (  # noqa: F401
    STOPWORDS,
    Support,
    claim_support,
    conflicting,
    content_terms,
    jaccard,
    near_duplicate,
    numbers_in,
    read_payload,
    render_payload,
    split_sentences,
    strip_markers,
    term_words,
    with_markers,
)

__all__ = [
    "STOPWORDS",
    "Support",
    "claim_support",
    "conflicting",
    "content_terms",
    "jaccard",
    "near_duplicate",
    "numbers_in",
    "payload_request",
    "read_payload",
    "render_payload",
    "split_sentences",
    "strip_markers",
    "term_words",
    "with_markers",
]


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
