"""A small, safe Markdown-to-HTML converter (headings, paragraphs, lists, quotes, code, tables,
rules, emphasis and safe links) for the run report in the HTML export; raw HTML is escaped."""

from __future__ import annotations

import html
import re

__all__ = ["markdown_to_html"]

_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})\s*([\w+\-.#]*)")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_HR = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_LIST = re.compile(r"^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$")
_QUOTE = re.compile(r"^\s{0,3}>\s?(.*)$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_SAFE_SCHEMES = frozenset({"http", "https", "mailto"})


def _safe_href(url: str) -> str | None:
    """The URL if it is http(s), mailto or relative; None for javascript:, data: and the like."""
    cleaned = re.sub(r"[\x00-\x20\x7f]", "", html.unescape(url))
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):", cleaned)
    if match and match.group(1).lower() not in _SAFE_SCHEMES:
        return None
    if cleaned.startswith("//"):
        return None  # protocol-relative: would point at whatever host, keep it text
    return cleaned


def _inline(text: str) -> str:
    """Inline Markdown (code, links, bold, italic) to HTML; everything else escaped."""
    stash: list[str] = []

    def keep(fragment: str) -> str:
        stash.append(fragment)
        return f"\x00{len(stash) - 1}\x00"

    text = text.replace("\x00", "")
    text = re.sub(r"(`+)(.+?)\1", lambda m: keep(f"<code>{html.escape(m.group(2).strip())}</code>"), text)

    def link(m: re.Match[str]) -> str:
        is_image, label, url = m.group(1) == "!", m.group(2), m.group(3)
        href = _safe_href(url)
        shown = _inline(("image: " if is_image else "") + label)
        if href is None:
            return keep(html.escape(m.group(0)))
        return keep(f'<a href="{html.escape(href, quote=True)}">{shown}</a>')

    text = re.sub(r"(!?)\[([^\]\n]+)\]\(\s*<?([^\s)>]+)>?(?:\s+\"[^\"]*\")?\s*\)", link, text)
    text = re.sub(
        r"<((?:https?|mailto):[^\s<>]+)>",
        lambda m: keep(f'<a href="{html.escape(m.group(1), quote=True)}">{html.escape(m.group(1))}</a>'),
        text,
    )
    out = html.escape(text, quote=True)
    out = re.sub(r"\*\*(?=\S)(.+?)(?<=\S)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"(?<!\w)__(?=\S)(.+?)(?<=\S)__(?!\w)", r"<strong>\1</strong>", out)
    out = re.sub(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])", r"<em>\1</em>", out)
    out = re.sub(r"(?<!\w)_(?=[^\s_])(.+?)(?<=[^\s_])_(?!\w)", r"<em>\1</em>", out)
    out = re.sub(r"~~(?=\S)(.+?)(?<=\S)~~", r"<del>\1</del>", out)
    return re.sub(r"\x00(\d+)\x00", lambda m: stash[int(m.group(1))], out)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _starts_block(line: str) -> bool:
    return bool(_FENCE.match(line) or _HEADING.match(line) or _HR.match(line) or _LIST.match(line) or _QUOTE.match(line))


def _cells(line: str) -> list[str]:
    line = line.strip()
    line = line[1:] if line.startswith("|") else line
    line = line[:-1] if line.endswith("|") and not line.endswith("\\|") else line
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)]


def _dedent(lines: list[str]) -> list[str]:
    widths = [_indent(x) for x in lines if x.strip()]
    cut = min(widths, default=0)
    return [x[cut:] for x in lines]


def _list_block(lines: list[str], i: int) -> tuple[str, int]:
    first = _LIST.match(lines[i])
    assert first is not None
    indent, ordered = len(first.group(1)), first.group(2)[0].isdigit()
    start_no = int(first.group(2)[:-1]) if ordered else 1
    items: list[str] = []
    n = len(lines)
    while i < n:
        m = _LIST.match(lines[i])
        if not m or len(m.group(1)) != indent or m.group(2)[0].isdigit() != ordered:
            break
        body = [m.group(3)]
        i += 1
        while i < n:
            line = lines[i]
            if not line.strip():
                j = i
                while j < n and not lines[j].strip():
                    j += 1
                if j < n and _indent(lines[j]) > indent:
                    body.append("")
                    i += 1
                    continue
                break
            sub = _LIST.match(line)
            if sub and len(sub.group(1)) <= indent:
                break
            if not sub and _indent(line) <= indent and _starts_block(line):
                break
            body.append(line)
            i += 1
        head: list[str] = []
        k = 0
        while k < len(body) and body[k].strip() and not (k and (_LIST.match(body[k]) or _FENCE.match(body[k]))):
            head.append(body[k].strip())
            k += 1
        rest = _dedent(body[k:])
        inner = _inline(" ".join(head))
        if any(x.strip() for x in rest):
            inner += "\n" + markdown_to_html("\n".join(rest))
        items.append(f"<li>{inner}</li>")
    tag = "ol" if ordered else "ul"
    start_attr = f' start="{start_no}"' if ordered and start_no != 1 else ""
    return f"<{tag}{start_attr}>\n" + "\n".join(items) + f"\n</{tag}>", i


def markdown_to_html(markdown: str) -> str:
    """A small, safe Markdown subset to HTML: headings, paragraphs, lists, block quotes, code
    (fenced and inline), tables, rules, bold/italic and http(s)/mailto/relative links. Raw HTML
    and any other input is escaped, never passed through."""
    lines = markdown.replace("\r\n", "\n").replace("\r", "\n").expandtabs(4).split("\n")
    out: list[str] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            marker, lang = fence.group(1), fence.group(2)
            code: list[str] = []
            i += 1
            while i < n and not lines[i].strip().startswith(marker):
                code.append(lines[i])
                i += 1
            i += 1
            cls = f' class="language-{html.escape(lang, quote=True)}"' if lang else ""
            out.append(f"<pre><code{cls}>{html.escape(chr(10).join(code))}</code></pre>")
            continue
        if not line.strip():
            i += 1
            continue
        heading = _HEADING.match(line)
        if heading:
            level = len(heading.group(1))
            slug = re.sub(r"[^a-z0-9]+", "-", heading.group(2).lower()).strip("-")
            ident = f' id="{slug}"' if slug else ""
            out.append(f"<h{level}{ident}>{_inline(heading.group(2))}</h{level}>")
            i += 1
            continue
        if _HR.match(line):
            out.append("<hr>")
            i += 1
            continue
        if _QUOTE.match(line):
            quoted: list[str] = []
            while i < n and lines[i].strip():
                q = _QUOTE.match(lines[i])
                quoted.append(q.group(1) if q else lines[i])
                i += 1
            out.append(f"<blockquote>\n{markdown_to_html(chr(10).join(quoted))}\n</blockquote>")
            continue
        if _LIST.match(line):
            block, i = _list_block(lines, i)
            out.append(block)
            continue
        if "|" in line and i + 1 < n and _TABLE_SEP.match(lines[i + 1]) and "|" in lines[i + 1]:
            header = _cells(line)
            i += 2
            body_rows: list[list[str]] = []
            while i < n and lines[i].strip() and "|" in lines[i]:
                body_rows.append(_cells(lines[i]))
                i += 1
            head_html = "".join(f"<th>{_inline(c)}</th>" for c in header)
            rows_html = "\n".join(
                "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in (r + [""] * len(header))[: len(header)]) + "</tr>"
                for r in body_rows
            )
            out.append(f"<table>\n<thead><tr>{head_html}</tr></thead>\n<tbody>\n{rows_html}\n</tbody>\n</table>")
            continue
        para: list[str] = []
        while i < n and lines[i].strip() and not (para and _starts_block(lines[i])):
            para.append(lines[i].strip())
            i += 1
        text = "<br>\n".join(_inline(p[:-2].rstrip()) if p.endswith("  ") else _inline(p) for p in para)
        out.append(f"<p>{text}</p>")
    return "\n".join(out)

