"""The SSRF guard behind ``http_fetch``: address checks, an allowlist, pinned connections and
redirects that go through the same check.

The host is resolved here, and the URL refused if *any* resolved address is loopback, private,
link-local, multicast, reserved, unspecified or otherwise not global (unless allowlisted). The
connection then goes to the checked address (pinned: the HTTP client never resolves the name
again, so a DNS rebinding answer cannot swap it), with the original name as ``Host`` header and
TLS server name. Every redirect hop goes through the same check. Proxies from the environment are
ignored, since a proxy would resolve the name on its own.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from agentloom.errors import ConfigError
from agentloom.tools._web_base import FetchRefused, WebError, read_capped, redact_url

if TYPE_CHECKING:
    import httpx

__all__ = ["Fetched", "HostPolicy", "Resolver", "USER_AGENT", "get_guarded", "resolve_host"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: ``resolve(host, port)`` -> every address the host has, as strings.
Resolver = Callable[[str, int], list[str]]

USER_AGENT = "agentloom-http-fetch/0.1 (+https://github.com/agentloom)"
REDIRECTS = frozenset({301, 302, 303, 307, 308})


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, deduplicated, without IPv6 zone ids."""
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
    """Where one hop connects: the checked address, with the name kept for Host and TLS."""

    url: str  # the URL as the user (or redirect) gave it
    pinned: str  # the same URL with the checked IP as host
    host_header: str
    sni: str | None




async def _check_url(url: str, policy: HostPolicy, resolve: Resolver) -> _Target:
    """Validate scheme and host, resolve, check every address; the pinned target to connect to."""
    import httpx

    try:
        parsed = httpx.URL(url)
    except Exception as exc:
        raise FetchRefused(f"http_fetch: {url!r} is not a valid URL ({exc})") from None
    if parsed.scheme not in ("http", "https"):
        raise FetchRefused(f"http_fetch refused {redact_url(url)}: only http and https URLs can be fetched")
    host = parsed.raw_host.decode("ascii").lower()
    if not host:
        raise FetchRefused(f"http_fetch refused {redact_url(url)}: the URL has no host")
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
            addresses = await asyncio.to_thread(resolve, host, port)
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
                f"http_fetch refused {redact_url(url)}: {ip} is a {reason} address{via}; "
                "allowlist it with AGENTLOOM_HTTP_ALLOW or allow_hosts if this is intended"
            )
        checked.append(ip)
    pinned = parsed.copy_with(host=str(checked[0]))
    return _Target(url=url, pinned=str(pinned), host_header=parsed.netloc.decode("ascii"),
                   sni=host if parsed.scheme == "https" else None)



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
            if response.status_code in REDIRECTS:
                return response, b"", False
            body, truncated = await read_capped(response, max_bytes)
        finally:
            await response.aclose()
    return response, body, truncated


@dataclass(frozen=True)
class Fetched:
    """The final response of a guarded GET: where it ended up, its status and its (capped) body."""

    url: str  # the last hop's URL (the original unless redirected)
    status: int
    content_type: str
    body: bytes
    truncated: bool


async def get_guarded(
    url: str, policy: HostPolicy, *, resolve: Resolver, timeout: float, max_bytes: int, max_redirects: int
) -> Fetched:
    """GET ``url``, checking and pinning every hop (redirects included) against ``policy``.

    ``timeout`` bounds the whole fetch (all hops); ``max_bytes`` the body read per response."""
    import httpx

    current = url
    try:
        async with asyncio.timeout(timeout):
            for _hop in range(max_redirects + 1):
                target = await _check_url(current, policy, resolve)
                response, body, truncated_bytes = await _get_pinned(target, timeout, max_bytes)
                location = response.headers.get("location")
                if response.status_code in REDIRECTS and location:
                    current = urljoin(current, location.strip())
                    continue
                break
            else:
                raise FetchRefused(f"http_fetch: {redact_url(url)} redirected more than {max_redirects} times")
    except TimeoutError:
        raise WebError(f"http_fetch: {redact_url(url)} timed out after {timeout:g}s") from None
    except httpx.HTTPError as exc:
        raise WebError(f"http_fetch: cannot fetch {redact_url(current)}: {type(exc).__name__}: {exc}") from None
    return Fetched(current, response.status_code, response.headers.get("content-type", ""), body, truncated_bytes)
