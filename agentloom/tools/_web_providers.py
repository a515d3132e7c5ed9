"""Web search providers (SearXNG, Tavily) behind one protocol, and choosing one from the
environment (``SEARXNG_URL``, ``TAVILY_API_KEY``, ``TAVILY_BASE_URL``, ``AGENTLOOM_WEB_PROVIDER``)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from agentloom.errors import ConfigError
from agentloom.tools._web_base import WebError, make_page, read_capped, redact_url

__all__ = [
    "MAX_SEARCH_RESULTS",
    "SearXNGProvider",
    "TavilyProvider",
    "WebSearchProvider",
    "clamp_k",
    "provider_from_env",
]

MAX_SEARCH_RESULTS = 20


def _json_body(body: bytes, who: str) -> Any:
    """A response body parsed as JSON, or a WebError naming ``who`` answered."""
    import json

    try:
        return json.loads(body.decode("utf-8", errors="replace"))
    except ValueError:
        raise WebError(f"{who} answered with something that is not JSON ({body[:60]!r}...)") from None


def clamp_k(k: int) -> int:
    """``k`` within 1..MAX_SEARCH_RESULTS."""
    return max(1, min(int(k), MAX_SEARCH_RESULTS))


@runtime_checkable
class WebSearchProvider(Protocol):
    """A search backend: ``await provider.search(query, k)`` returns passage dicts."""

    name: str

    async def search(self, query: str, k: int) -> list[dict[str, Any]]: ...


def _results_to_passages(items: Iterable[Any], k: int, provider: str) -> list[dict[str, Any]]:
    """Provider hits -> passage dicts (deduplicated by url, at most ``k``)."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, Mapping):
            continue
        url = item.get("url")
        if not isinstance(url, str) or not url or url in seen:
            continue
        seen.add(url)
        text = item.get("content") or item.get("snippet") or item.get("raw_content") or ""
        title = item.get("title") or url
        page = make_page(url, " ".join(str(title).split()), " ".join(str(text).split()), rank=len(out) + 1, source=provider)
        score = item.get("score")
        if isinstance(score, int | float):
            page["score"] = round(float(score), 4)
        out.append(page)
        if len(out) >= k:
            break
    return out


class _HTTPProvider:
    name = "web"
    base_url: str
    timeout: float
    max_bytes = 5_000_000

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        url = self.base_url.rstrip("/") + path
        where = redact_url(self.base_url)
        try:
            async with (
                httpx.AsyncClient(timeout=httpx.Timeout(self.timeout), follow_redirects=True) as client,
                client.stream(method, url, **kwargs) as response,
            ):
                body, _ = await read_capped(response, self.max_bytes)
        except httpx.TimeoutException:
            raise WebError(f"{self.name} search timed out after {self.timeout:g}s at {where}") from None
        except httpx.HTTPError as exc:
            raise WebError(f"cannot reach {self.name} at {where}: {type(exc).__name__}: {exc}; {self._hint()}") from None
        self._check_status(response.status_code, where)
        return _json_body(body, f"{self.name} at {where}")

    def _hint(self) -> str:
        return "check the provider settings"

    def _check_status(self, status: int, where: str) -> None:
        if status >= 400:
            raise WebError(f"{self.name} search failed with HTTP {status} at {where}; {self._hint()}")


class SearXNGProvider(_HTTPProvider):
    """A self-hosted SearXNG instance through its JSON API (``GET {base}/search?q=..&format=json``;
    ``json`` must be listed under ``search.formats`` in its settings.yml)."""

    name = "searxng"

    def __init__(self, base_url: str, *, timeout: float = 15.0, language: str | None = None,
                 categories: str | None = None) -> None:
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"SearXNG url {base_url!r} must start with http:// or https:// (set SEARXNG_URL)")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.language = language
        self.categories = categories

    def _hint(self) -> str:
        return "check SEARXNG_URL"

    def _check_status(self, status: int, where: str) -> None:
        if status == 403:
            raise WebError(f"SearXNG at {where} refused format=json (HTTP 403); add `json` under search.formats in its settings.yml")
        super()._check_status(status, where)

    async def search(self, query: str, k: int) -> list[dict[str, Any]]:
        params = {"q": query, "format": "json", "pageno": "1"}
        if self.language:
            params["language"] = self.language
        if self.categories:
            params["categories"] = self.categories
        data = await self._request("GET", "/search", params=params)
        results = data.get("results", []) if isinstance(data, dict) else []
        return _results_to_passages(results, clamp_k(k), self.name)

    def __repr__(self) -> str:
        return f"SearXNGProvider({redact_url(self.base_url)!r})"


class TavilyProvider(_HTTPProvider):
    """Tavily's search API (``POST {base}/search``); the key travels in the ``Authorization``
    header only and never appears in reprs, errors or the run store."""

    name = "tavily"

    def __init__(self, api_key: str, base_url: str = "https://api.tavily.com", *, timeout: float = 20.0,
                 search_depth: str = "basic") -> None:
        if not api_key:
            raise ConfigError("Tavily needs an API key; set TAVILY_API_KEY")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"Tavily url {base_url!r} must start with http:// or https:// (TAVILY_BASE_URL)")
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.search_depth = search_depth

    def _hint(self) -> str:
        return "check TAVILY_API_KEY and TAVILY_BASE_URL"

    def _check_status(self, status: int, where: str) -> None:
        if status in (401, 403):
            raise WebError(f"Tavily rejected the API key (HTTP {status}) at {where}; check TAVILY_API_KEY")
        if status == 429:
            raise WebError(f"Tavily rate limit or plan quota reached (HTTP 429) at {where}; retry later")
        super()._check_status(status, where)

    async def search(self, query: str, k: int) -> list[dict[str, Any]]:
        body = {"query": query, "max_results": clamp_k(k), "search_depth": self.search_depth, "include_answer": False}
        headers = {"Authorization": f"Bearer {self._api_key}", "Content-Type": "application/json"}
        data = await self._request("POST", "/search", json=body, headers=headers)
        results = data.get("results", []) if isinstance(data, dict) else []
        return _results_to_passages(results, clamp_k(k), self.name)

    def __repr__(self) -> str:
        return f"TavilyProvider(api_key='[redacted]', base_url={self.base_url!r})"


def provider_from_env(environ: Mapping[str, str] | None = None) -> WebSearchProvider | None:
    """The provider the environment configures, or None (then research runs without the web)."""
    env = os.environ if environ is None else environ
    searx = env.get("SEARXNG_URL", "").strip()
    tavily_key = env.get("TAVILY_API_KEY", "").strip()
    choice = env.get("AGENTLOOM_WEB_PROVIDER", "").strip().lower()
    tavily_base = env.get("TAVILY_BASE_URL", "").strip() or "https://api.tavily.com"
    if choice in ("none", "off", "0", "false"):
        return None
    if choice == "searxng":
        if not searx:
            raise ConfigError("AGENTLOOM_WEB_PROVIDER=searxng but SEARXNG_URL is not set; set it to your instance's url")
        return SearXNGProvider(searx)
    if choice == "tavily":
        if not tavily_key:
            raise ConfigError("AGENTLOOM_WEB_PROVIDER=tavily but TAVILY_API_KEY is not set")
        return TavilyProvider(tavily_key, tavily_base)
    if choice:
        raise ConfigError(f"AGENTLOOM_WEB_PROVIDER={choice!r} is unknown; use searxng, tavily or none")
    if searx:
        return SearXNGProvider(searx)
    if tavily_key:
        return TavilyProvider(tavily_key, tavily_base)
    return None

