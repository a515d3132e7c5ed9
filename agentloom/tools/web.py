"""Web tools: ``web_search`` through a pluggable provider (SearXNG or Tavily) and ``http_fetch``
behind an SSRF guard.

Both return passage dicts ``{"id": "w_<10 hex>", "url", "title", "text"}`` so the citation
machinery (:func:`agentloom.citations.collect_passages`) finds them. Configuration comes from the
environment: ``SEARXNG_URL``; ``TAVILY_API_KEY`` (and optionally ``TAVILY_BASE_URL``);
``AGENTLOOM_WEB_PROVIDER`` (``searxng``, ``tavily`` or ``none``) chooses when both are set (SearXNG
wins otherwise); ``AGENTLOOM_HTTP_ALLOW`` lists hosts, IPs or CIDRs ``http_fetch`` may reach even
though they are not public.

The parts live in private modules: providers in ``_web_providers``, the guard (address checks,
pinned connections, redirects) in ``_safe_fetch``, page text in ``_web_page``. This module is
the public face: :func:`configured_provider`, :func:`search`, :func:`fetch` and the tools.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from agentloom.tools._safe_fetch import HostPolicy, get_guarded, resolve_host
from agentloom.tools._web_base import FetchRefused, WebError, make_page, passage_id, redact_url
from agentloom.tools._web_page import page_text, readable_text
from agentloom.tools._web_providers import (
    SearXNGProvider,
    TavilyProvider,
    WebSearchProvider,
    clamp_k,
    provider_from_env,
)
from agentloom.tools.base import CachePolicy, Tool

#: Web results change: they are shared through the memory bank for an hour at most.
WEB_CACHE_TTL = 3600.0

__all__ = [
    "FetchRefused",
    "HostPolicy",
    "SearXNGProvider",
    "TavilyProvider",
    "WebError",
    "WebSearchProvider",
    "configured_provider",
    "fetch",
    "http_fetch",
    "make_http_fetch",
    "make_web_search",
    "page_text",
    "passage_id",
    "provider_from_env",
    "search",
    "web_search",
    "web_tools",
]

#: The resolver :func:`fetch` uses, looked up at each call: monkeypatch ``web._resolve`` (or
#: ``socket.getaddrinfo``) in tests to fake DNS.
_resolve = resolve_host


def configured_provider(provider: WebSearchProvider | str | None = None) -> WebSearchProvider | None:
    """The search provider to use, or None when none is configured: an instance is returned as
    is, a name (``searxng``, ``tavily``, ``none``) picks that one from the environment, None
    takes whatever the environment configures. Raises ConfigError for a name the environment
    cannot satisfy."""
    if isinstance(provider, str):
        return provider_from_env({**os.environ, "AGENTLOOM_WEB_PROVIDER": provider})
    return provider if provider is not None else provider_from_env()


async def search(query: str, k: int = 5, *, provider: WebSearchProvider | str | None = None) -> dict[str, Any]:
    """Search the web through ``provider`` (default: from the environment)."""
    chosen = configured_provider(provider)
    if chosen is None:
        raise WebError("web_search has no provider; set SEARXNG_URL or TAVILY_API_KEY")
    query = " ".join(query.split())
    if not query:
        raise WebError("web_search needs a non-empty query")
    results = await chosen.search(query, clamp_k(k))
    return {"query": query, "provider": chosen.name, "results": results}


async def fetch(
    url: str,
    max_chars: int = 20000,
    *,
    allow_hosts: str | Iterable[str] | None = None,
    timeout: float = 20.0,
    max_bytes: int = 2_000_000,
    max_redirects: int = 5,
) -> dict[str, Any]:
    """Fetch ``url`` behind the SSRF guard and return it as a passage with readable text.

    ``timeout`` bounds the whole fetch (all hops); ``max_bytes`` the body read per response."""
    policy = HostPolicy.from_env(allow_hosts)
    url = url.strip()
    max_chars = max(200, int(max_chars))
    got = await get_guarded(
        url, policy, resolve=_resolve, timeout=timeout, max_bytes=max_bytes, max_redirects=max_redirects
    )
    if got.status >= 400:
        raise WebError(f"http_fetch: {redact_url(got.url)} answered HTTP {got.status}")
    title, text = readable_text(got.body, got.content_type, got.url)
    page = make_page(
        url,
        title or got.url,
        text[:max_chars],
        status=got.status,
        content_type=got.content_type.split(";")[0].strip(),
        truncated=got.truncated or len(text) > max_chars,
        chars=len(text),
    )
    if got.url != url:
        page["final_url"] = got.url
    return page


# --------------------------------------------------------------------------- tools
def make_web_search(provider: WebSearchProvider | str | None = None, *, timeout: float = 30.0) -> Tool:
    """A ``web_search`` tool bound to ``provider`` (None: the environment's, looked up per call)."""

    async def web_search(query: str, k: int = 5) -> dict[str, Any]:
        """Search the web. Returns {query, provider, results: [{id, url, title, text}]}; cite a
        result as [id].

        Args:
            query: what to search for, in a few keywords
            k: how many results to return (1-20)
        """
        return await search(query, k, provider=provider)

    return Tool(web_search, timeout=timeout, max_concurrency=8, cache=CachePolicy(ttl=WEB_CACHE_TTL))


def make_http_fetch(allow_hosts: str | Iterable[str] | None = None, *, timeout: float = 20.0,
                    max_bytes: int = 2_000_000) -> Tool:
    """An ``http_fetch`` tool; ``allow_hosts`` adds to ``AGENTLOOM_HTTP_ALLOW``."""
    allowed = allow_hosts if allow_hosts is None or isinstance(allow_hosts, str) else tuple(allow_hosts)

    async def http_fetch(url: str, max_chars: int = 20000) -> dict[str, Any]:
        """Fetch a public web page and return its readable text as {id, url, title, text};
        cite it as [id]. Private and local addresses are refused.

        Args:
            url: the http(s) URL to fetch
            max_chars: at most this many characters of text
        """
        return await fetch(url, max_chars, allow_hosts=allowed, timeout=timeout, max_bytes=max_bytes)

    return Tool(http_fetch, timeout=timeout + 5, max_concurrency=8, cache=CachePolicy(ttl=WEB_CACHE_TTL))


def web_tools(
    provider: WebSearchProvider | str | None = None, *, allow_hosts: str | Iterable[str] | None = None
) -> list[Tool]:
    """``[web_search, http_fetch]`` when a provider is given or configured, else ``[]``."""
    chosen = configured_provider(provider)
    if chosen is None:
        return []
    return [make_web_search(chosen), make_http_fetch(allow_hosts)]


#: Ready-made tools using the environment's provider and allowlist at call time.
web_search = make_web_search()
http_fetch = make_http_fetch()
