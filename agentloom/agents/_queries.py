"""The framework's first search queries for a task: the task itself, plus one query per named
entity when it names several (a comparison or a multi-entity question needs each entity's
passages, and one query for all of them tends to find only the most frequent one)."""

from __future__ import annotations

import re

__all__ = ["first_queries"]

_NAME = re.compile(r"\b[A-Z][\w'’-]*(?:\s+(?:of\s+|the\s+)?(?:[A-Z][\w'’-]*|\d+[A-Za-z]?))*")
_LEAD = frozenset(
    """what which who whom whose when where why how did does do is are was were has have had can could
    would should will the a an in on at of for and or but compare between according if list name give
    tell since after before during by from""".split()
)


def _entities(task: str) -> list[str]:
    found: list[str] = []
    for match in _NAME.finditer(task):
        words = match.group(0).split()
        while words and words[0].lower() in _LEAD:
            words = words[1:]
        name = " ".join(words)
        if name and len(name) > 2 and name.lower() not in {f.lower() for f in found}:
            found.append(name)
    return found


def first_queries(task: str, *, most: int = 3) -> list[str]:
    """``[task]``, then, when the task names two or more entities, one query per entity (up to
    ``most``): the task with the other entities left out."""
    text = " ".join(task.split())[:500]
    entities = _entities(text)
    if len(entities) < 2:
        return [text]
    queries = [text]
    for entity in entities[:most]:
        query = text
        for other in entities:
            if other != entity:
                query = query.replace(other, " ")
        queries.append(" ".join(query.split()))
    return queries
