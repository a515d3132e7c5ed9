"""Moved to ``agentloom.text.lexical`` (shared with the offline model); re-exported here for existing imports."""

from agentloom.text.lexical import (  # noqa: F401
    STOPWORDS,
    Support,
    claim_support,
    conflicting,
    content_terms,
    jaccard,
    near_duplicate,
    numbers_in,
    payload_request,
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
