"""Delimited prompt sections: the question, the findings and the citable passages, written by
the framework and read back by any model that wants structure (the offline one does). Models
parse these tags, never the wording around them, so prompts can be reworded freely."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Block", "blocks", "question_block", "question_in_messages", "section"]


@dataclass(frozen=True, slots=True)
class Block:
    """One section read back: its tag name, its ``title`` attribute (may be empty) and its body."""

    name: str
    title: str
    body: str


def section(name: str, body: str, *, title: str = "") -> str:
    """``<name title="...">`` + body + ``</name>``, each on its own line; the title is escaped."""
    attr = f' title="{html.escape(title, quote=True)}"' if title else ""
    return f"<{name}{attr}>\n{body.strip()}\n</{name}>"


def question_block(question: str) -> str:
    """The question section every framework prompt that is about a question carries."""
    return section("question", " ".join(question.split()))


def blocks(text: str, name: str) -> list[Block]:
    """Every ``name`` section in ``text``, in order."""
    pattern = re.compile(rf'^<{re.escape(name)}(?: title="([^"]*)")?>\n(.*?)\n?^</{re.escape(name)}>\s*$', re.M | re.S)
    return [Block(name, html.unescape(m.group(1) or ""), m.group(2).strip()) for m in pattern.finditer(text)]


def question_in_messages(texts: Iterable[str]) -> str:
    """The last question section among ``texts`` (message contents), or ``""`` without one."""
    found = ""
    for text in texts:
        for block in blocks(text, "question"):
            if block.body:
                found = block.body
    return found
