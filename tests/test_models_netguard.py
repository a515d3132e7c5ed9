"""The conftest guard itself: a test that reaches past loopback fails loudly."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.conftest import NetworkRefused
from tests.fakeserver import FakeOpenAIServer


def test_non_loopback_connect_is_refused() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, pytest.raises(NetworkRefused, match="192.0.2.1"):
        sock.connect(("192.0.2.1", 443))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, pytest.raises(NetworkRefused):
        sock.connect_ex(("8.8.8.8", 53))


def test_non_loopback_name_resolution_is_refused() -> None:
    with pytest.raises(NetworkRefused, match="api.openai.com"):
        socket.getaddrinfo("api.openai.com", 443)


def test_http_clients_are_refused_too() -> None:
    with pytest.raises(httpx.ConnectError) as info:
        httpx.get("http://192.0.2.1/v1/models", timeout=2)
    chain: list[BaseException] = []
    exc: BaseException | None = info.value
    while exc is not None:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    assert any(isinstance(e, NetworkRefused) for e in chain)


def test_loopback_is_allowed(openai_server: FakeOpenAIServer) -> None:
    response = httpx.get(openai_server.url + "/v1/models", timeout=5)
    assert response.status_code == 200
    assert response.json()["data"][0]["id"] == "fake-model"
    assert socket.getaddrinfo("localhost", openai_server.port)
