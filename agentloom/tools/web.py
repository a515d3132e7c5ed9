"""Web tools: ``web_search`` through a pluggable provider (SearXNG or Tavily) and ``http_fetch``
behind an SSRF guard.

Both return passage dicts ``{"id": "w_<10 hex>", "url", "title", "text"}`` so the citation
machinery (:func:`agentloom.citations.collect_passages`) finds them. Configuration comes from the
environment: ``SEARXNG_URL``; ``TAVILY_API_KEY`` (and optionally ``TAVILY_BASE_URL``);
``AGENTLOOM_WEB_PROVIDER`` (``searxng``, ``tavily`` or ``none``) chooses when both are set (SearXNG
wins otherwise); ``AGENTLOOM_HTTP_ALLOW`` lists hosts, IPs or CIDRs ``http_fetch`` may reach even
though they are not public.

The guard: ``http_fetch`` resolves the host itself, refuses the URL if *any* resolved address is
loopback, private, link-local, multicast, reserved, unspecified or otherwise not global, then
connects to the checked address (pinned: the HTTP client never resolves the name again, so a DNS
rebinding answer cannot swap it), with the original name as ``Host`` header and TLS server name.
Every redirect hop goes through the same check. Proxies from the environment are ignored, since a
proxy would resolve the name on its own.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import os
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import urljoin, urlsplit, urlunsplit

from agentloom.errors import ConfigError, ToolError
from agentloom.tools.base import Tool

if TYPE_CHECKING:
    import httpx

__all__ = [
    "FetchRefused",
    "HostPolicy",
    "SearXNGProvider",
    "TavilyProvider",
    "WebError",
    "WebSearchProvider",
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

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

USER_AGENT = "agentloom-http-fetch/0.1 (+https://github.com/agentloom)"
MAX_SEARCH_RESULTS = 20
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class WebError(ToolError):
    """A web tool could not do its job (provider unreachable, HTTP error, not a text page)."""


class FetchRefused(WebError):
    """``http_fetch`` refused a URL: scheme, or an address that is not public and not allowlisted."""


def passage_id(url: str) -> str:
    """The stable citation id of a web page: ``w_`` + the first 10 hex of sha1(url)."""
    return "w_" + hashlib.sha1(url.encode("utf-8")).hexdigest()[:10]


def _safe_url(url: str) -> str:
    """``url`` without user:password, for messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _page(url: str, title: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"id": passage_id(url), "url": url, "title": title, "text": text, **extra}


# --------------------------------------------------------------------------- HTTP helpers
async def _read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
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


def _json_body(body: bytes, who: str) -> Any:
    import json

    try:
        return json.loads(body.decode("utf-8", errors="replace"))
    except ValueError:
        raise WebError(f"{who} answered with something that is not JSON ({body[:60]!r}...)") from None


def _clamp_k(k: int) -> int:
    return max(1, min(int(k), MAX_SEARCH_RESULTS))


# --------------------------------------------------------------------------- providers
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
        page = _page(url, " ".join(str(title).split()), " ".join(str(text).split()), rank=len(out) + 1, source=provider)
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
        where = _safe_url(self.base_url)
        try:
            async with (
                httpx.AsyncClient(timeout=httpx.Timeout(self.timeout), follow_redirects=True) as client,
                client.stream(method, url, **kwargs) as response,
            ):
                body, _ = await _read_capped(response, self.max_bytes)
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
        return _results_to_passages(results, _clamp_k(k), self.name)

    def __repr__(self) -> str:
        return f"SearXNGProvider({_safe_url(self.base_url)!r})"


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
        body = {"query": query, "max_results": _clamp_k(k), "search_depth": self.search_depth, "include_answer": False}
        headers = {"Authorization": f"Bearer {self._api_key}", "Content-Type": "application/json"}
        data = await self._request("POST", "/search", json=body, headers=headers)
        results = data.get("results", []) if isinstance(data, dict) else []
        return _results_to_passages(results, _clamp_k(k), self.name)

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


def _provider(provider: WebSearchProvider | str | None) -> WebSearchProvider | None:
    if isinstance(provider, str):
        return provider_from_env({**os.environ, "AGENTLOOM_WEB_PROVIDER": provider})
    return provider if provider is not None else provider_from_env()


async def search(query: str, k: int = 5, *, provider: WebSearchProvider | str | None = None) -> dict[str, Any]:
    """Search the web through ``provider`` (default: from the environment)."""
    chosen = _provider(provider)
    if chosen is None:
        raise WebError("web_search has no provider; set SEARXNG_URL or TAVILY_API_KEY")
    query = " ".join(query.split())
    if not query:
        raise WebError("web_search needs a non-empty query")
    results = await chosen.search(query, _clamp_k(k))
    return {"query": query, "provider": chosen.name, "results": results}


# --------------------------------------------------------------------------- SSRF guard
def _resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (monkeypatch this, or ``socket.getaddrinfo``, in tests)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for info in infos:
        seen.setdefault(str(info[4][0]).split("%")[0], None)
    return list(seen)


def _blocked_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address (None when it is)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            inner = _blocked_reason(embedded)
            if inner:
                return inner
    for attr, label in (
        ("is_loopback", "loopback"),
        ("is_unspecified", "unspecified"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_reserved", "reserved"),
        ("is_private", "private"),
        ("is_site_local", "site-local"),
    ):
        if getattr(ip, attr, False):
            return label
    if not ip.is_global:
        return "non-public"
    return None


@dataclass(frozen=True)
class HostPolicy:
    """Hosts, IPs and networks ``http_fetch`` may reach although they are not public.

    Entries: ``intranet.example`` (that host), ``.example`` or ``*.example`` (its subdomains and
    itself), ``10.1.2.3`` / ``::1`` (that address), ``10.0.0.0/8`` (a network)."""

    names: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: str | Iterable[str] | None) -> HostPolicy:
        if entries is None:
            return cls()
        items = entries.split(",") if isinstance(entries, str) else list(entries)
        names: set[str] = set()
        suffixes: list[str] = []
        networks: list[IPNetwork] = []
        for raw in items:
            entry = raw.strip().lower().strip("[]")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            if entry.startswith("*."):
                entry = entry[1:]
            if entry.startswith("."):
                suffixes.append(entry)
            elif re.fullmatch(r"[a-z0-9_\-.]+", entry.rstrip(".")):
                names.add(entry.rstrip("."))
            else:
                raise ConfigError(f"allowlist entry {raw.strip()!r} is not a host name, IP address or CIDR (AGENTLOOM_HTTP_ALLOW)")
        return cls(frozenset(names), tuple(suffixes), tuple(networks))

    @classmethod
    def from_env(cls, extra: str | Iterable[str] | None = None) -> HostPolicy:
        """``extra`` plus whatever ``AGENTLOOM_HTTP_ALLOW`` lists."""
        return cls.parse(extra) | cls.parse(os.environ.get("AGENTLOOM_HTTP_ALLOW", ""))

    def __or__(self, other: HostPolicy) -> HostPolicy:
        return HostPolicy(self.names | other.names, self.suffixes + other.suffixes, self.networks + other.networks)

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return host in self.names or any(host.endswith(s) or host == s[1:] for s in self.suffixes)

    def ip_allowed(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.networks)


@dataclass(frozen=True)
class _Target:
    url: str  # the URL as the user (or redirect) gave it
    pinned: str  # the same URL with the checked IP as host
    host_header: str
    sni: str | None


async def _check_url(url: str, policy: HostPolicy) -> _Target:
    """Validate scheme and host, resolve, check every address; the pinned target to connect to."""
    import httpx

    try:
        parsed = httpx.URL(url)
    except Exception as exc:
        raise FetchRefused(f"http_fetch: {url!r} is not a valid URL ({exc})") from None
    if parsed.scheme not in ("http", "https"):
        raise FetchRefused(f"http_fetch refused {_safe_url(url)}: only http and https URLs can be fetched")
    host = parsed.raw_host.decode("ascii").lower()
    if not host:
        raise FetchRefused(f"http_fetch refused {_safe_url(url)}: the URL has no host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    name_allowed = policy.host_allowed(host)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = await asyncio.to_thread(_resolve, host, port)
        except OSError as exc:
            raise WebError(f"http_fetch: cannot resolve {host}: {exc}") from None
        if not addresses:
            raise WebError(f"http_fetch: {host} has no address")
    checked: list[IPAddress] = []
    for text in addresses:
        ip = ipaddress.ip_address(text)
        reason = _blocked_reason(ip)
        if reason and not name_allowed and not policy.ip_allowed(ip):
            via = "" if literal is not None else f" ({host} resolves to {ip})"
            raise FetchRefused(
                f"http_fetch refused {_safe_url(url)}: {ip} is a {reason} address{via}; "
                "allowlist it with AGENTLOOM_HTTP_ALLOW or allow_hosts if this is intended"
            )
        checked.append(ip)
    pinned = parsed.copy_with(host=str(checked[0]))
    return _Target(url=url, pinned=str(pinned), host_header=parsed.netloc.decode("ascii"),
                   sni=host if parsed.scheme == "https" else None)


# --------------------------------------------------------------------------- http_fetch
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


def _readable(body: bytes, content_type: str, url: str) -> tuple[str, str]:
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
        raise WebError(f"http_fetch: {_safe_url(url)} is {ctype or 'binary'}, not a text page; only HTML and text can be read")
    return "", text.strip()


async def _get_pinned(target: _Target, timeout: float, max_bytes: int) -> tuple[httpx.Response, bytes, bool]:
    """One GET to the checked address. A fresh client per hop, so a connection opened (and TLS
    verified) for one host name is never reused for another name on the same address."""
    import httpx

    headers = {
        "Host": target.host_header,
        "User-Agent": USER_AGENT,
        "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,application/json;q=0.8,*/*;q=0.1",
    }
    async with httpx.AsyncClient(trust_env=False, follow_redirects=False, timeout=httpx.Timeout(timeout)) as client:
        request = client.build_request(
            "GET", target.pinned, headers=headers, extensions={"sni_hostname": target.sni} if target.sni else {}
        )
        response = await client.send(request, stream=True)
        try:
            if response.status_code in _REDIRECTS:
                return response, b"", False
            body, truncated = await _read_capped(response, max_bytes)
        finally:
            await response.aclose()
    return response, body, truncated


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
    import httpx

    policy = HostPolicy.from_env(allow_hosts)
    url = url.strip()
    current = url
    max_chars = max(200, int(max_chars))
    try:
        async with asyncio.timeout(timeout):
            for _hop in range(max_redirects + 1):
                target = await _check_url(current, policy)
                response, body, truncated_bytes = await _get_pinned(target, timeout, max_bytes)
                location = response.headers.get("location")
                if response.status_code in _REDIRECTS and location:
                    current = urljoin(current, location.strip())
                    continue
                break
            else:
                raise FetchRefused(f"http_fetch: {_safe_url(url)} redirected more than {max_redirects} times")
    except TimeoutError:
        raise WebError(f"http_fetch: {_safe_url(url)} timed out after {timeout:g}s") from None
    except httpx.HTTPError as exc:
        raise WebError(f"http_fetch: cannot fetch {_safe_url(current)}: {type(exc).__name__}: {exc}") from None
    if response.status_code >= 400:
        raise WebError(f"http_fetch: {_safe_url(current)} answered HTTP {response.status_code}")
    content_type = response.headers.get("content-type", "")
    title, text = _readable(body, content_type, current)
    page = _page(
        url,
        title or current,
        text[:max_chars],
        status=response.status_code,
        content_type=content_type.split(";")[0].strip(),
        truncated=truncated_bytes or len(text) > max_chars,
        chars=len(text),
    )
    if current != url:
        page["final_url"] = current
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

    return Tool(web_search, timeout=timeout, max_concurrency=8)


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

    return Tool(http_fetch, timeout=timeout + 5, max_concurrency=8)


def web_tools(
    provider: WebSearchProvider | str | None = None, *, allow_hosts: str | Iterable[str] | None = None
) -> list[Tool]:
    """``[web_search, http_fetch]`` when a provider is given or configured, else ``[]``."""
    chosen = _provider(provider)
    if chosen is None:
        return []
    return [make_web_search(chosen), make_http_fetch(allow_hosts)]


#: Ready-made tools using the environment's provider and allowlist at call time.
web_search = make_web_search()
http_fetch = make_http_fetch()
