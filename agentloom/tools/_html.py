"""HTML to text lines that keep their source line numbers, with the stdlib ``html.parser``.

Scripts, styles and other non-content elements are dropped; block elements become paragraph
breaks (blank lines); headings are flagged so the corpus chunker starts passages at them.
Each output line carries the 1-based line of the HTML source it came from, so a passage of
extracted text still maps back to a line range of the original file.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import NamedTuple

__all__ = ["TextLine", "html_to_lines"]


class TextLine(NamedTuple):
    """One line of extracted text: source line number (1-based), text, whether it is a heading."""

    line: int
    text: str
    heading: bool = False


_SKIP = frozenset({"script", "style", "noscript", "template", "svg", "math", "iframe", "object", "canvas"})
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "dialog", "div",
        "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "header", "hr", "html", "li",
        "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th",
        "thead", "tr", "ul", "title",
    }
    | _HEADINGS
)


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[TextLine] = []
        self.title = ""
        self._buf: list[str] = []
        self._buf_line = 1
        self._skip = 0
        self._heading = 0
        self._pre = 0
        self._in_title = False

    # -- output helpers
    def _flush(self) -> None:
        raw = "".join(self._buf)
        self._buf = []
        text = raw.rstrip() if self._pre else " ".join(raw.split())
        if text.strip():
            self.lines.append(TextLine(self._buf_line, text, self._heading > 0))

    def _break(self) -> None:
        self._flush()
        if self.lines and self.lines[-1].text:
            self.lines.append(TextLine(self.getpos()[0], ""))

    # -- parser callbacks
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
            return
        if tag == "body":
            self._skip = 0  # an unclosed <script>/<style> in the head must not hide the page
        if tag in _SKIP:
            self._skip += 1
            return
        if tag == "br":
            self._flush()
            return
        if tag in _BLOCKS:
            self._break()
        if tag in _HEADINGS:
            self._heading += 1
        elif tag == "pre":
            self._pre += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
            return
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
            return
        if tag in _HEADINGS:
            self._flush()
            self._heading = max(0, self._heading - 1)
        elif tag == "pre":
            self._flush()
            self._pre = max(0, self._pre - 1)
        if tag in _BLOCKS:
            self._break()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title = " ".join((self.title + " " + data).split())
            return
        if self._skip:
            return
        line = self.getpos()[0]
        for i, piece in enumerate(data.split("\n")):
            if i:
                self._flush()
                line += 1
            if not piece:
                continue
            if not self._buf:
                if not piece.strip() and not self._pre:
                    continue
                self._buf_line = line
            self._buf.append(piece)

    def close(self) -> None:
        super().close()
        self._flush()
        while self.lines and not self.lines[-1].text:
            self.lines.pop()


def html_to_lines(html: str) -> tuple[str, list[TextLine]]:
    """The page title and its visible text as lines mapped to source line numbers.

    Paragraph breaks are empty-text lines; malformed markup never raises (best effort).
    """
    parser = _Extractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is lenient; anything left is kept as far as it got
        parser._flush()
    return parser.title, parser.lines
