"""Cutting a file's text into passages of bounded size, and their stable ids.

Blank lines and headings are the preferred cut points; a line is never split unless it alone
exceeds the size bound. An id ``p_<10 hex>`` derives from the folder, relative path, start line
and text, so it survives re-indexing of an unchanged file.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from agentloom.tools._html import TextLine, html_to_lines

__all__ = ["MAX_PASSAGE_CHARS", "MAX_PASSAGE_LINES", "Passage", "passage_id", "split_passages", "text_lines"]

#: Passage size bounds: characters and lines of passage text.
MAX_PASSAGE_CHARS = 800
MAX_PASSAGE_LINES = 25
_PIECE_CHARS = MAX_PASSAGE_CHARS - 100  # pieces of an over-long line leave room for a heading
_MD_HEADING = re.compile(r"^ {0,3}#{1,6}(\s|$)")


@dataclass(slots=True)
class Passage:
    line_start: int
    line_end: int
    text: str
    heading: str


# --------------------------------------------------------------------------- text -> passages
def text_lines(kind: str, text: str) -> tuple[str, list[TextLine]]:
    """A document's title (HTML only) and its lines with source line numbers and heading flags."""
    if kind == "html":
        return html_to_lines(text)
    raw_lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if raw_lines and raw_lines[-1] == "":
        raw_lines.pop()
    out: list[TextLine] = []
    fence: str | None = None
    for number, raw in enumerate(raw_lines, 1):
        line = raw.rstrip()
        heading = False
        if kind == "md":
            stripped = line.lstrip()
            if stripped.startswith(("```", "~~~")):
                marker = stripped[:3]
                if fence is None:
                    fence = marker
                elif marker == fence:
                    fence = None
            elif fence is None and _MD_HEADING.match(line):
                heading = True
        out.append(TextLine(number, line, heading))
    return "", out


def _pieces(line: TextLine) -> list[TextLine]:
    """A line that alone exceeds the passage bound, cut at spaces into bounded pieces (with
    room left for a heading before the first piece)."""
    if len(line.text) <= MAX_PASSAGE_CHARS:
        return [line]
    size = _PIECE_CHARS
    pieces: list[TextLine] = []
    text, start, end = line.text, 0, len(line.text)
    while end - start > size:  # walk an offset, never re-slice the rest: linear in the line's length
        cut = text.rfind(" ", start + size // 2, start + size + 1)
        if cut <= start:
            cut = start + size
        pieces.append(TextLine(line.line, text[start:cut].rstrip(), line.heading))
        start = cut
        while start < end and text[start] == " ":
            start += 1
    if start < end:
        pieces.append(TextLine(line.line, text[start:], line.heading))
    return pieces


def _blocks(lines: list[TextLine]) -> Iterator[list[TextLine]]:
    """Paragraphs: runs of non-blank lines; a heading line is a block of its own."""
    block: list[TextLine] = []
    for line in lines:
        if not line.text.strip():
            if block:
                yield block
                block = []
            continue
        if line.heading:
            if block:
                yield block
            yield [line]
            block = []
            continue
        block.append(line)
    if block:
        yield block


def split_passages(lines: list[TextLine], *, verbatim: bool = True) -> list[Passage]:
    """Pack paragraphs into passages of at most ``MAX_PASSAGE_CHARS`` characters and
    ``MAX_PASSAGE_LINES`` lines; a heading starts a new passage and stays with what follows it.

    ``verbatim`` (Markdown, text): a passage is the file's own lines from its first to its last
    line, blank lines included. Otherwise (HTML) paragraphs are joined by one blank line.
    """
    passages: list[Passage] = []
    parts: list[str] = []
    first = last = chars = nlines = 0
    only_headings = True
    heading = passage_heading = ""

    def gap(prev: int, line: TextLine, new_block: bool) -> str:
        if line.line == prev:
            return " "  # the next piece of an over-long line (never actually joined, see below)
        if verbatim:
            return "\n" * (line.line - prev)
        return "\n\n" if new_block else "\n"

    def fits(extra_chars: int, extra_lines: int) -> bool:
        return chars + extra_chars <= MAX_PASSAGE_CHARS and nlines + extra_lines <= MAX_PASSAGE_LINES

    def flush() -> None:
        nonlocal parts, chars, nlines, only_headings
        if parts:
            passages.append(Passage(first, last, "".join(parts), passage_heading))
        parts, chars, nlines, only_headings = [], 0, 0, True

    def add(line: TextLine, new_block: bool) -> None:
        nonlocal first, last, chars, nlines, passage_heading, only_headings
        if parts:
            sep = gap(last, line, new_block)
            nlines += sep.count("\n")
        else:
            sep, first, nlines, passage_heading = "", line.line, 1, heading
        last = line.line
        parts.append(sep + line.text)
        chars += len(sep) + len(line.text)
        only_headings = only_headings and line.heading

    for block in _blocks(lines):
        if block[0].heading:
            flush()
            heading = block[0].text.lstrip("# ").strip()
        expanded = [piece for line in block for piece in _pieces(line)]
        if parts:
            extra_chars = extra_lines = 0
            prev = last
            for i, line in enumerate(expanded):
                sep = gap(prev, line, i == 0)
                extra_chars += len(sep) + len(line.text)
                extra_lines += sep.count("\n")
                prev = line.line
            if fits(extra_chars, extra_lines):
                for i, line in enumerate(expanded):
                    add(line, i == 0)
                continue
            if not only_headings:
                flush()
        for i, line in enumerate(expanded):
            if parts:
                sep = gap(last, line, i == 0)
                # pieces of one over-long line never share a passage: no separator is invented
                if line.line == last or not fits(len(sep) + len(line.text), sep.count("\n")):
                    flush()
            add(line, i == 0)
    flush()
    return passages


def passage_id(root: str, rel: str, line_start: int, text: str, salt: int = 0) -> str:
    text_hash = hashlib.sha1(text.encode("utf-8")).hexdigest()
    seed = f"{root}\x00{rel}\x00{line_start}\x00{text_hash}" + (f"\x00{salt}" if salt else "")
    return "p_" + hashlib.sha1(seed.encode("utf-8")).hexdigest()[:10]
