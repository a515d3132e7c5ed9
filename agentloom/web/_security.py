"""Who may talk to ``loom ui``: loopback by default; any other host needs a token on every request."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

__all__ = ["TokenGate", "check_host", "is_loopback"]

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "::1", "localhost") or host.startswith("127.")


def check_host(host: str, token: str | None) -> str | None:
    """The one-line refusal for a host/token pair, or None when it is allowed."""
    if not is_loopback(host) and not token:
        return f"--host {host} is reachable from other machines; give --token SECRET as well (or bind 127.0.0.1)"
    return None


class TokenGate:
    """ASGI middleware: with a token set, a request must carry it as ``Authorization: Bearer T``,
    a ``loom_token`` cookie or ``?token=T`` (which also sets the cookie); others get 401."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]) -> None:
        if self.token is None or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
        cookie = ""
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "loom_token":
                cookie = value
        bearer = headers.get("authorization", "").removeprefix("Bearer ").strip()
        given = [t for t in (bearer, cookie, query) if t]
        if not any(hmac.compare_digest(t.encode(), self.token.encode()) for t in given):
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
            await send({"type": "http.response.body", "body": b"loom ui: this server needs its token (?token=...)\n"})
            return
        if query:
            async def with_cookie(message: Any) -> None:
                if message["type"] == "http.response.start":
                    message = dict(message)
                    message["headers"] = [*message.get("headers", []),
                                          (b"set-cookie", f"loom_token={query}; HttpOnly; SameSite=Strict; Path=/".encode())]
                await send(message)
            await self.app(scope, receive, with_cookie)
            return
        await self.app(scope, receive, send)
