"""Citations: passages that tools return, the ``[id]`` markers that cite them in text, and the
mapping from one to the other."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Citation", "CITE_ID", "CITE_MARKER", "cited_ids", "collect_passages", "citations_for"]

#: The pattern of a citation id: ``p_3f9a0c12de`` (corpus passage) or ``w_...`` (web page); longer
#: patterns (a sentence end with its markers, a grouped ``[a, b]``) are built from it.
CITE_ID = r"[a-z]_[0-9a-f]{6,16}"
#: A citation marker in model text: ``[p_3f9a0c12de]``; group 1 is the id.
CITE_MARKER = re.compile(rf"\[({CITE_ID})\]")


@dataclass(frozen=True, slots=True)
class Citation:
    """A cited source: a corpus passage (path and line range) or a web page (url)."""

    id: str
    """The id text cites it by, in square brackets: ``p_...`` (passage) or ``w_...`` (web page)."""
    text: str
    """The passage's text, as the tool returned it."""
    path: str | None = None
    """The corpus file, for a passage."""
    line_start: int | None = None
    """The passage's first line in ``path``."""
    line_end: int | None = None
    """The passage's last line in ``path``."""
    url: str | None = None
    """The page's address, for a web source."""
    title: str | None = None
    """The page's or document's title, when known."""

    def where(self) -> str:
        """``path:L12-L20`` or the url."""
        if self.url:
            return self.url
        if self.path is not None and self.line_start is not None:
            return f"{self.path}:L{self.line_start}-L{self.line_end}"
        return self.path or self.id

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Citation:
        """A citation from its ``to_dict`` form (or any passage dict with an ``id``)."""
        return cls(
            id=str(data["id"]),
            text=str(data.get("text", "")),
            path=data.get("path"),
            line_start=data.get("line_start"),
            line_end=data.get("line_end"),
            url=data.get("url"),
            title=data.get("title"),
        )


def cited_ids(text: str | None) -> list[str]:
    """Ids cited in ``text``, in first-seen order, without repeats."""
    seen: dict[str, None] = {}
    for match in CITE_MARKER.finditer(text or ""):
        seen.setdefault(match.group(1), None)
    return list(seen)


def collect_passages(value: Any, into: dict[str, Citation] | None = None) -> dict[str, Citation]:
    """Find every passage-shaped dict (with ``id`` and ``text``, plus ``path`` or ``url``) in a
    tool result, however nested, keyed by id."""
    found = into if into is not None else {}
    if isinstance(value, dict):
        pid = value.get("id")
        is_passage = (
            isinstance(pid, str)
            and CITE_MARKER.fullmatch(f"[{pid}]") is not None
            and isinstance(value.get("text"), str)
            and ("path" in value or "url" in value)
        )
        if is_passage and isinstance(pid, str) and (pid not in found or len(value["text"]) > len(found[pid].text)):
            found[pid] = Citation.from_dict(value)
        for v in value.values():
            if isinstance(v, dict | list):
                collect_passages(v, found)
    elif isinstance(value, list):
        for v in value:
            collect_passages(v, found)
    return found


def citations_for(text: str | None, passages: dict[str, Citation]) -> list[Citation]:
    """The passages that ``text`` cites, in citation order; unknown ids are dropped."""
    return [passages[i] for i in cited_ids(text) if i in passages]
