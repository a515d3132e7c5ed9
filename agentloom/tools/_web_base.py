"""What the web tools share: their errors, the passage shape of a web page, URL redaction for
messages and a capped body read."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from agentloom.errors import FetchRefused, WebError

if TYPE_CHECKING:
    import httpx

__all__ = ["FetchRefused", "WebError", "make_page", "passage_id", "read_capped", "redact_url"]


def passage_id(url: str) -> str:
    """The stable citation id of a web page: ``w_`` + the first 10 hex of sha1(url)."""
    return "w_" + hashlib.sha1(url.encode("utf-8")).hexdigest()[:10]


def redact_url(url: str) -> str:
    """``url`` without user:password, for messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def make_page(url: str, title: str, text: str, **extra: Any) -> dict[str, Any]:
    """A web passage dict ``{id, url, title, text, ...}`` as the citation machinery expects."""
    return {"id": passage_id(url), "url": url, "title": title, "text": text, **extra}


async def read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """Read at most ``limit`` bytes of a streamed response; ``(body, truncated)``."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        if size + len(chunk) > limit:
            chunks.append(chunk[: limit - size])
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), False
