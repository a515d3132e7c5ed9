"""Web tools against loopback fakes: SearXNG and Tavily JSON APIs, and http_fetch's SSRF guard
(literal addresses, DNS answers, rebinding, redirects), size and time limits."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from agentloom import tracing
from agentloom.citations import collect_passages
from agentloom.errors import ConfigError
from agentloom.runstore import RunStore
from agentloom.tools.executor import ToolExecutor
from agentloom.tools.web import (
    FetchRefused,
    HostPolicy,
    SearXNGProvider,
    TavilyProvider,
    WebError,
    configured_provider,
    fetch,
    provider_from_env,
    search,
    web_tools,
)

TAVILY_KEY = "tvly-TESTKEY0123456789abcdef"

PAGE = """<!doctype html><html><head><title>Sheep &amp; Quantum</title>
<script>var secret = "do not show";</script><style>body { color: red }</style></head>
<body><nav>Home | About | Login</nav>
<main><h1>Quantum sheep</h1><p>Sheep graze in <b>superposition</b> on Tuesdays.</p>
<ul><li>first fact</li><li>second fact</li></ul></main>
<footer>copyright footer</footer></body></html>"""


class _Handler(BaseHTTPRequestHandler):
    server: _FakeServer

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return

    def _send(self, status: int, body: bytes | str, ctype: str = "application/json", headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        self.server.log.append({"method": "GET", "path": parts.path, "host": self.headers.get("Host"), "query": parts.query})
        query = parse_qs(parts.query)
        if parts.path == "/search":
            if query.get("format") != ["json"]:
                self._send(400, "format=json expected", "text/plain")
                return
            q = query.get("q", [""])[0]
            results = [
                {"url": f"https://example.org/{i}", "title": f"Result {i} for {q}", "content": f"Snippet {i} about {q}.", "engine": "fake"}
                for i in range(1, 8)
            ]
            results.insert(2, {"url": "https://example.org/1", "title": "duplicate", "content": "dup"})
            self._send(200, json.dumps({"query": q, "results": results}))
        elif parts.path == "/nojson/search":
            self._send(403, "Forbidden", "text/html")
        elif parts.path == "/page":
            self._send(200, PAGE, "text/html; charset=utf-8")
        elif parts.path == "/text":
            self._send(200, "plain words here", "text/plain")
        elif parts.path == "/big":
            self._send(200, "word " * 600_000, "text/plain")
        elif parts.path == "/binary":
            self._send(200, b"\x89PNG\r\n\x1a\n\x00\x00\x00", "image/png")
        elif parts.path == "/missing":
            self._send(404, "not here", "text/plain")
        elif parts.path == "/slow":
            time.sleep(1.5)
            self._send(200, "late", "text/plain")
        elif parts.path == "/redirect-ok":
            self._send(302, "", "text/plain", {"Location": "/page"})
        elif parts.path == "/redirect-private":
            self._send(302, "", "text/plain", {"Location": "http://10.0.0.1/secret"})
        elif parts.path == "/redirect-metadata":
            self._send(301, "", "text/plain", {"Location": "http://metadata.test/latest/meta-data/"})
        elif parts.path == "/redirect-loopback-v6":
            self._send(307, "", "text/plain", {"Location": f"http://[::1]:{self.server.server_port}/page"})
        elif parts.path == "/loop":
            self._send(302, "", "text/plain", {"Location": "/loop"})
        else:
            self._send(404, "{}")

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        self.server.log.append({"method": "POST", "path": parts.path, "auth": self.headers.get("Authorization"), "body": body})
        if parts.path != "/search":
            self._send(404, "{}")
            return
        if self.headers.get("Authorization") != f"Bearer {TAVILY_KEY}":
            self._send(401, json.dumps({"detail": {"error": "Unauthorized: missing or invalid API key."}}))
            return
        n = int(body.get("max_results", 5))
        results = [
            {"title": f"Tavily {i}", "url": f"https://tavily.example/{i}", "content": f"Tavily content {i} on {body['query']}", "score": 0.9 - i / 10}
            for i in range(n)
        ]
        self._send(200, json.dumps({"query": body["query"], "results": results, "response_time": 0.1}))


class _FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    log: list[dict[str, Any]]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that stop reading early (size and time limits) are expected here."""


@pytest.fixture(scope="module")
def server() -> Iterator[_FakeServer]:
    srv = _FakeServer(("127.0.0.1", 0), _Handler)
    srv.log = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def base(server: _FakeServer) -> str:
    server.log.clear()
    return f"http://127.0.0.1:{server.server_port}"


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Map names to addresses in ``socket.getaddrinfo`` (the resolver http_fetch uses)."""
    table: dict[str, list[str]] = {}
    calls: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host in table:
            calls.append(host)
            answers = table[host]
            if len(answers) > 1 and host.startswith("rebind"):
                answers = answers[:1] if calls.count(host) == 1 else answers[1:]
            out = []
            for ip in answers:
                if ":" in ip:
                    out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port or 0, 0, 0)))
                else:
                    out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port or 0)))
            return out
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    table["__calls__"] = calls  # exposed for assertions
    return table


def _wid(url: str) -> str:
    return "w_" + hashlib.sha1(url.encode()).hexdigest()[:10]


# --------------------------------------------------------------------------- providers
async def test_searxng_returns_citable_passages(base: str, server: _FakeServer) -> None:
    out = await search("quantum   sheep", k=3, provider=SearXNGProvider(base))
    assert out["provider"] == "searxng" and out["query"] == "quantum sheep"
    urls = [r["url"] for r in out["results"]]
    assert urls == ["https://example.org/1", "https://example.org/2", "https://example.org/3"]  # deduplicated, k=3
    first = out["results"][0]
    assert first["id"] == _wid("https://example.org/1")
    assert first["title"] == "Result 1 for quantum sheep" and "Snippet 1 about quantum sheep" in first["text"]
    found = collect_passages(out)
    assert set(found) == {_wid(u) for u in urls}
    assert found[first["id"]].url == "https://example.org/1"
    request = server.log[-1]
    assert request["path"] == "/search" and "format=json" in request["query"] and "q=quantum+sheep" in request["query"]


async def test_searxng_without_json_format_says_how_to_fix(base: str) -> None:
    with pytest.raises(WebError, match=r"search\.formats"):
        await search("x", provider=SearXNGProvider(base + "/nojson"))


async def test_searxng_unreachable_is_a_clear_error() -> None:
    with socket.socket() as s:  # a loopback port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(WebError, match=r"cannot reach searxng at http://127\.0\.0\.1:\d+.*SEARXNG_URL"):
        await search("x", provider=SearXNGProvider(f"http://127.0.0.1:{port}"))


async def test_tavily_sends_key_in_header_only(base: str, server: _FakeServer) -> None:
    provider = TavilyProvider(TAVILY_KEY, base_url=base)
    out = await search("sheep facts", k=2, provider=provider)
    assert [r["title"] for r in out["results"]] == ["Tavily 0", "Tavily 1"]
    assert out["results"][0]["score"] == 0.9 and out["results"][0]["id"] == _wid("https://tavily.example/0")
    request = server.log[-1]
    assert request["auth"] == f"Bearer {TAVILY_KEY}"
    assert request["body"]["query"] == "sheep facts" and request["body"]["max_results"] == 2
    assert TAVILY_KEY not in json.dumps(request["body"])
    assert TAVILY_KEY not in repr(provider)


async def test_tavily_bad_key_error_names_env_var_not_key(base: str) -> None:
    with pytest.raises(WebError) as info:
        await search("x", provider=TavilyProvider("tvly-WRONGKEY99999999", base_url=base))
    assert "TAVILY_API_KEY" in str(info.value) and "WRONGKEY" not in str(info.value)


def test_provider_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("SEARXNG_URL", "TAVILY_API_KEY", "TAVILY_BASE_URL", "AGENTLOOM_WEB_PROVIDER"):
        monkeypatch.delenv(key, raising=False)
    assert provider_from_env() is None
    assert web_tools() == []

    monkeypatch.setenv("TAVILY_API_KEY", TAVILY_KEY)
    monkeypatch.setenv("TAVILY_BASE_URL", "http://127.0.0.1:9/")
    tavily = provider_from_env()
    assert isinstance(tavily, TavilyProvider) and tavily.base_url == "http://127.0.0.1:9"

    monkeypatch.setenv("SEARXNG_URL", "http://127.0.0.1:8888")
    assert isinstance(provider_from_env(), SearXNGProvider)  # both set: SearXNG unless chosen
    monkeypatch.setenv("AGENTLOOM_WEB_PROVIDER", "tavily")
    assert isinstance(provider_from_env(), TavilyProvider)
    monkeypatch.setenv("AGENTLOOM_WEB_PROVIDER", "none")
    assert provider_from_env() is None and web_tools() == []
    monkeypatch.setenv("AGENTLOOM_WEB_PROVIDER", "bing")
    with pytest.raises(ConfigError, match="searxng, tavily or none"):
        provider_from_env()
    monkeypatch.delenv("TAVILY_API_KEY")
    monkeypatch.setenv("AGENTLOOM_WEB_PROVIDER", "tavily")
    with pytest.raises(ConfigError, match="TAVILY_API_KEY"):
        provider_from_env()
    with pytest.raises(ConfigError, match="SEARXNG_URL"):
        SearXNGProvider("localhost:8888")


def test_configured_provider_by_instance_name_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("SEARXNG_URL", "TAVILY_API_KEY", "TAVILY_BASE_URL", "AGENTLOOM_WEB_PROVIDER"):
        monkeypatch.delenv(key, raising=False)
    assert configured_provider() is None and configured_provider("none") is None
    given = SearXNGProvider("http://127.0.0.1:7777")
    assert configured_provider(given) is given
    with pytest.raises(ConfigError, match="TAVILY_API_KEY"):
        configured_provider("tavily")

    monkeypatch.setenv("SEARXNG_URL", "http://127.0.0.1:8888")
    monkeypatch.setenv("TAVILY_API_KEY", TAVILY_KEY)
    from_env = configured_provider()
    assert isinstance(from_env, SearXNGProvider) and from_env.base_url == "http://127.0.0.1:8888"
    assert isinstance(configured_provider("tavily"), TavilyProvider)  # the name overrides the default
    monkeypatch.setenv("AGENTLOOM_WEB_PROVIDER", "none")
    assert configured_provider() is None
    assert isinstance(configured_provider("searxng"), SearXNGProvider)


async def test_web_tools_run_through_the_executor(base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEARXNG_URL", base)
    tools = web_tools(allow_hosts=["127.0.0.1"])
    assert [t.name for t in tools] == ["web_search", "http_fetch"]
    assert set(tools[0].schema()["function"]["parameters"]["properties"]) == {"query", "k"}
    executor = ToolExecutor(tools)
    search_result = await executor.run("web_search", {"query": "wool", "k": 2})
    assert search_result.ok and len(search_result.value["results"]) == 2
    fetched = await executor.run("http_fetch", {"url": base + "/page"})
    assert fetched.ok and "superposition" in fetched.value["text"]
    refused = await executor.run("http_fetch", {"url": "http://169.254.169.254/latest/meta-data/"})
    assert not refused.ok and refused.error_type == "FetchRefused" and "link-local" in (refused.error or "")


async def test_tavily_key_never_reaches_the_run_store(base: str, loom_home: Any) -> None:
    store = RunStore()
    run_id = store.create_run("test", input={"api_key": TAVILY_KEY, "note": f"key is {TAVILY_KEY}"})
    good = web_tools(TavilyProvider(TAVILY_KEY, base_url=base))[0]
    bad = web_tools(TavilyProvider("tvly-WRONGKEY99999999", base_url=base))[0]
    with tracing.use(tracing.RunContext(run_id=run_id, store=store)):
        ok = await ToolExecutor([good]).run("web_search", {"query": "sheep"})
        failed = await ToolExecutor([bad]).run("web_search", {"query": "sheep"})
    assert ok.ok and not failed.ok
    store.finish_run(run_id, "done", output=ok.value)
    store.close()
    raw = (loom_home / "runs.db").read_bytes()
    assert TAVILY_KEY.encode() not in raw and b"WRONGKEY99999999" not in raw
    assert b"Tavily content" in raw  # the results themselves were recorded


# --------------------------------------------------------------------------- http_fetch: SSRF guard
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:{port}/page", "loopback"),
        ("http://10.0.0.1/", "private"),
        ("http://192.168.1.1/admin", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::1]:{port}/page", "loopback"),
        ("http://[::ffff:127.0.0.1]:{port}/page", "loopback"),
        ("http://0.0.0.0:{port}/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://100.64.0.1/", "non-public"),
    ],
)
async def test_fetch_refuses_non_public_addresses(url: str, reason: str, server: _FakeServer) -> None:
    n = len(server.log)
    with pytest.raises(FetchRefused, match=rf"is a {reason} address.*AGENTLOOM_HTTP_ALLOW"):
        await fetch(url.format(port=server.server_port))
    assert len(server.log) == n  # refused before any connection


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://example.org/"])
async def test_fetch_refuses_other_schemes(url: str) -> None:
    with pytest.raises(FetchRefused, match="only http and https"):
        await fetch(url)


async def test_fetch_refuses_public_name_resolving_to_loopback(fake_dns: dict[str, Any], server: _FakeServer) -> None:
    fake_dns["public-looking.example"] = ["127.0.0.1"]
    with pytest.raises(FetchRefused, match=r"public-looking\.example resolves to 127\.0\.0\.1"):
        await fetch(f"http://public-looking.example:{server.server_port}/page")
    fake_dns["mixed.example"] = ["93.184.216.34", "10.1.2.3"]  # one bad answer is enough
    with pytest.raises(FetchRefused, match=r"10\.1\.2\.3 is a private address"):
        await fetch("http://mixed.example/")
    fake_dns["v6.example"] = ["fe80::1"]
    with pytest.raises(FetchRefused, match="link-local"):
        await fetch("https://v6.example/")


async def test_fetch_via_monkeypatched_module_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    import agentloom.tools.web as web

    monkeypatch.setattr(web, "_resolve", lambda host, port: ["172.16.5.4"])
    with pytest.raises(FetchRefused, match=r"resolves to 172\.16\.5\.4"):
        await fetch("http://anything.example/")


async def test_allowlisted_loopback_is_fetched_as_readable_text(base: str, server: _FakeServer) -> None:
    page = await fetch(base + "/page", allow_hosts=["127.0.0.1"])
    assert page["id"] == _wid(base + "/page") and page["url"] == base + "/page"
    assert page["title"] == "Sheep & Quantum"
    assert "Sheep graze in superposition on Tuesdays." in page["text"]
    assert "\nfirst fact\n" in page["text"] and "\nsecond fact" in page["text"]
    for hidden in ("do not show", "color: red", "Login", "copyright footer"):
        assert hidden not in page["text"]
    assert page["status"] == 200 and page["content_type"] == "text/html" and page["truncated"] is False
    assert server.log[-1]["host"] == f"127.0.0.1:{server.server_port}"
    assert set(collect_passages(page)) == {page["id"]}


async def test_allowlist_from_env_cidr_and_names(base: str, monkeypatch: pytest.MonkeyPatch, fake_dns: dict[str, Any]) -> None:
    monkeypatch.setenv("AGENTLOOM_HTTP_ALLOW", "10.0.0.0/8, 127.0.0.0/8")
    assert (await fetch(base + "/text"))["text"] == "plain words here"
    monkeypatch.setenv("AGENTLOOM_HTTP_ALLOW", "intranet.test")
    fake_dns["intranet.test"] = ["127.0.0.1"]
    port = base.rsplit(":", 1)[1]
    assert (await fetch(f"http://intranet.test:{port}/text"))["text"] == "plain words here"
    policy = HostPolicy.parse("*.corp.test,::1")
    assert policy.host_allowed("wiki.corp.test") and policy.host_allowed("corp.test") and not policy.host_allowed("evilcorp.test")
    with pytest.raises(ConfigError, match="not a host name"):
        HostPolicy.parse("http://bad/entry")


async def test_fetch_pins_the_checked_address(fake_dns: dict[str, Any], server: _FakeServer) -> None:
    # First answer is the allowlisted loopback; any later lookup would answer a private address
    # (DNS rebinding). The fetch must connect to the address it checked, never look again.
    fake_dns["rebind.example"] = ["127.0.0.1", "10.9.9.9"]
    port = server.server_port
    page = await fetch(f"http://rebind.example:{port}/page", allow_hosts="127.0.0.1")
    assert "superposition" in page["text"]
    assert fake_dns["__calls__"].count("rebind.example") == 1
    assert server.log[-1]["host"] == f"rebind.example:{port}"  # the name travels as Host header


async def test_redirects_are_checked_on_every_hop(base: str, fake_dns: dict[str, Any], server: _FakeServer) -> None:
    allow = ["127.0.0.1"]
    ok = await fetch(base + "/redirect-ok", allow_hosts=allow)
    assert ok["final_url"] == base + "/page" and ok["id"] == _wid(base + "/redirect-ok")
    with pytest.raises(FetchRefused, match=r"http://10\.0\.0\.1/secret: 10\.0\.0\.1 is a private address"):
        await fetch(base + "/redirect-private", allow_hosts=allow)
    fake_dns["metadata.test"] = ["169.254.169.254"]
    with pytest.raises(FetchRefused, match=r"metadata\.test resolves to 169\.254\.169\.254"):
        await fetch(base + "/redirect-metadata", allow_hosts=allow)
    n = len(server.log)
    with pytest.raises(FetchRefused, match=r"::1 is a loopback address"):
        await fetch(base + "/redirect-loopback-v6", allow_hosts=allow)  # 127.0.0.1 allowed, ::1 not
    assert len(server.log) == n + 1
    with pytest.raises(FetchRefused, match="redirected more than 3 times"):
        await fetch(base + "/loop", allow_hosts=allow, max_redirects=3)


async def test_fetch_limits_size_and_time(base: str) -> None:
    allow = ["127.0.0.1"]
    big = await fetch(base + "/big", max_chars=500, allow_hosts=allow, max_bytes=10_000)
    assert big["truncated"] is True and len(big["text"]) == 500 and big["chars"] <= 10_000
    with pytest.raises(WebError, match=r"timed out after 0\.3s"):  # the server answers after 1.5 s
        await fetch(base + "/slow", allow_hosts=allow, timeout=0.3)
    with pytest.raises(WebError, match="image/png, not a text page"):
        await fetch(base + "/binary", allow_hosts=allow)
    with pytest.raises(WebError, match="HTTP 404"):
        await fetch(base + "/missing", allow_hosts=allow)


def test_page_text_prefers_main_content() -> None:
    from agentloom.tools.web import page_text

    title, text = page_text("<html><body><nav>Menu</nav><h2>Head</h2><p>one&nbsp;two</p><script>x()</script></body></html>")
    assert title == "Head" and "Head" in text.splitlines() and re.search(r"one\s+two", text) and "x()" not in text
    assert text.startswith("Menu")  # no <main>: the whole body is the content
    title, text = page_text("<title>T &amp; U</title><nav>Menu</nav><article><p>Body</p></article><footer>F</footer>")
    assert (title, text) == ("T & U", "Body")
    _, text = page_text("<nav><article>teaser</article></nav><main><p>Real</p><article>inner</article></main><footer>F</footer>")
    assert text == "Real\n\ninner"


async def test_web_results_are_shared_for_an_hour_then_fetched_again(
    base: str, server: _FakeServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from agentloom.memory import AdmitAll, MemoryBank
    from agentloom.tools.web import WEB_CACHE_TTL, make_web_search

    web_search = make_web_search(SearXNGProvider(base))
    assert web_search.cache is not None and web_search.cache.ttl == WEB_CACHE_TTL
    executor = ToolExecutor([web_search], cache=MemoryBank(tmp_path / "m.db", policy=AdmitAll()))

    async def ask(team: str) -> Any:
        with tracing.use(tracing.RunContext(run_id="r", team=team)):
            return await executor.run("web_search", {"query": "tide tables", "k": 2})

    def searches() -> int:
        return sum(1 for r in server.log if r["path"] == "/search")

    first = await ask("a")
    assert first.ok and not first.cached and searches() == 1
    assert (await ask("b")).cached and searches() == 1
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + WEB_CACHE_TTL + 1)
    stale = await ask("c")
    assert stale.ok and not stale.cached and searches() == 2
