"""Readable text of a fetched body: decode by charset, keep an HTML page's main content as lines,
refuse binary content."""

from __future__ import annotations

import re

from agentloom.tools._web_base import WebError, redact_url

__all__ = ["page_text", "readable_text"]


def _decode(body: bytes, content_type: str) -> str:
    """Body bytes -> text, by the header's charset, else a ``<meta charset>``, else UTF-8."""
    encoding = "utf-8"
    header = re.search(r"charset=[\"']?([\w\-]+)", content_type, re.I)
    meta = re.search(rb"<meta[^>]+charset=[\"']?([\w\-]+)", body[:4096], re.I)
    if header:
        encoding = header.group(1)
    elif meta:
        encoding = meta.group(1).decode("ascii", "ignore")
    try:
        return body.decode(encoding, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


_MAIN = (re.compile(r"<main\b[^>]*>.*</main\s*>", re.I | re.S), re.compile(r"<article\b[^>]*>.*</article\s*>", re.I | re.S))
_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.I | re.S)


def page_text(markup: str) -> tuple[str, str]:
    """``(title, text)`` of an HTML page: the ``<main>`` (else ``<article>``) content when the page
    marks one, so navigation and footers stay out; blocks become lines, paragraphs blank lines."""
    import html as htmllib

    from agentloom.tools._html import html_to_lines

    found = _TITLE.search(markup)
    title = " ".join(htmllib.unescape(found.group(1)).split()) if found else ""
    main = _MAIN[0].search(markup) or _MAIN[1].search(markup)
    _, lines = html_to_lines(main.group(0) if main else markup)
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(line.text for line in lines)).strip()
    if not title:
        title = next((line.text for line in lines if line.heading), "")[:200]
    return title, text


def readable_text(body: bytes, content_type: str, url: str) -> tuple[str, str]:
    """``(title, text)`` of a response body, or WebError for binary content."""
    ctype = content_type.split(";")[0].strip().lower()
    text = _decode(body, content_type)
    head = text.lstrip()[:512].lower()
    is_html = ctype in ("text/html", "application/xhtml+xml") or (
        not ctype and (head.startswith("<!doctype html") or "<html" in head)
    )
    if is_html:
        return page_text(text)
    textual = ctype.startswith("text/") or ctype.endswith(("json", "xml", "+xml")) or ctype in ("application/javascript", "")
    if not textual or "\x00" in text[:2048]:
        raise WebError(f"http_fetch: {redact_url(url)} is {ctype or 'binary'}, not a text page; only HTML and text can be read")
    return "", text.strip()

