"""Test-wide guards: no network but loopback, a fresh agentloom home per test."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["tests.fakeserver", "tests.realmodel", "tests.postgres", "tests.rayruntime", "tests.otlpreceiver"]

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ.pop("AGENTLOOM_MODEL", None)
for _key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "TAVILY_API_KEY", "SEARXNG_URL",
             "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED"):
    os.environ.pop(_key, None)

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


class NetworkRefused(OSError):
    """A test tried to reach something other than loopback."""


def _is_loopback(host: object) -> bool:
    if not isinstance(host, str):
        return True  # unix sockets and the like
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: object) -> None:
    if isinstance(address, tuple) and not _is_loopback(address[0]):
        raise NetworkRefused(f"test tried to connect to non-loopback address {address!r}")
    return _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if isinstance(address, tuple) and not _is_loopback(address[0]):
        raise NetworkRefused(f"test tried to connect to non-loopback address {address!r}")
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


def _guarded_getaddrinfo(host: object, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
    if isinstance(host, str) and not _is_loopback(host) and not _looks_like_ip(host):
        raise NetworkRefused(f"test tried to resolve non-loopback host {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]


def _looks_like_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
socket.getaddrinfo = _guarded_getaddrinfo  # type: ignore[assignment]


@pytest.fixture(autouse=True)
def loom_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own agentloom home (run store, memory, indexes)."""
    home = tmp_path / ".loom"
    monkeypatch.setenv("AGENTLOOM_HOME", str(home))
    from agentloom._paths import set_home

    set_home(None)
    yield home
    set_home(None)
