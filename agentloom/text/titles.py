"""A report's title from its question, shared by the Writer and any model drafting reports."""

from __future__ import annotations

__all__ = ["title_for"]


def title_for(question: str) -> str:
    """The report title: the question itself, tidied and bounded to about 100 characters."""
    title = " ".join(question.split()) or "Research report"
    if len(title) > 100:
        cut = title[:100].rsplit(" ", 1)[0]
        title = cut.rstrip(",;:") + "…"
    return title[0].upper() + title[1:]
