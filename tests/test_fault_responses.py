"""A 200 that carries no answer is a ModelError (retried as transient), never an empty success;
a dead server is "cannot connect"; a stream that dies midway says so."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from agentloom.errors import ModelError
from agentloom.models import LiteLLMModel, Message, ModelRequest, OpenAIModel
from tests.cliutil import run_cli
from tests.fakeserver import FakeOpenAIServer, Reply

BROKEN_BODIES = {
    "no choices": b'{"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": []}',
    "null message": b'{"id": "x", "object": "chat.completion", "created": 1, "model": "m", '
                    b'"choices": [{"index": 0, "message": null, "finish_reason": "stop"}]}',
    "not json": b"<html><body>502 Bad Gateway</body></html>",
}


def _model(kind: str, base_url: str) -> Any:
    if kind == "openai":
        return OpenAIModel("m", base_url=base_url, max_retries=2, retry_initial_wait=0.01, retry_max_wait=0.02)
    return LiteLLMModel("openai/m", api_base=base_url, api_key="none", max_retries=2, retry_initial_wait=0.01,
                        retry_max_wait=0.02)


def _request(text: str = "Say hello", stream: bool = False) -> ModelRequest:
    return ModelRequest(messages=[Message("user", text)], temperature=0.0, max_tokens=16, stream=stream)


@pytest.mark.parametrize("kind", ["openai", "litellm"])
@pytest.mark.parametrize("case", sorted(BROKEN_BODIES))
async def test_a_200_without_an_answer_is_a_retried_model_error(openai_server: FakeOpenAIServer, kind: str,
                                                                 case: str) -> None:
    openai_server.responder = lambda body: Reply(raw_body=BROKEN_BODIES[case])
    with pytest.raises(ModelError) as info:
        await _model(kind, openai_server.base_url).complete(_request())
    assert len(openai_server.requests) == 3, "retried as transient (1 + 2 retries)"
    assert "Traceback" not in info.value.one_line()


@pytest.mark.parametrize("kind", ["openai", "litellm"])
async def test_a_broken_first_answer_then_a_good_one_succeeds(openai_server: FakeOpenAIServer, kind: str) -> None:
    seen: list[int] = []

    def respond(body: dict[str, Any]) -> Reply:
        seen.append(1)
        return Reply(raw_body=BROKEN_BODIES["no choices"]) if len(seen) == 1 else Reply(text="hello")

    openai_server.responder = respond
    completion = await _model(kind, openai_server.base_url).complete(_request())
    assert completion.text == "hello"


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("kind", ["openai", "litellm"])
async def test_a_server_that_is_down_is_cannot_connect(kind: str) -> None:
    base = f"http://127.0.0.1:{_dead_port()}/v1"
    with pytest.raises(ModelError) as info:
        await _model(kind, base).complete(_request())
    line = info.value.one_line()
    assert f"cannot connect to {base}" in line and "HTTP 500" not in line


@pytest.mark.parametrize("kind", ["openai", "litellm"])
async def test_a_stream_that_dies_midway_is_not_cannot_connect(openai_server: FakeOpenAIServer, kind: str) -> None:
    openai_server.responder = lambda body: Reply(text="one two three four five six", break_stream_after=3)
    with pytest.raises(ModelError) as info:
        async for _ in _model(kind, openai_server.base_url).stream(_request(stream=True)):
            pass
    line = info.value.one_line()
    assert "cannot connect" not in line and "stream" in line


def test_loom_ask_with_an_empty_answer_exits_1(openai_server: FakeOpenAIServer,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    openai_server.responder = lambda body: Reply(raw_body=BROKEN_BODIES["no choices"])
    code, out, err = run_cli(["ask", "Why?", "--model", "m", "--base-url", openai_server.base_url, "--quiet"], capsys)
    assert code == 1, (out, err)
    assert "no answer" in err and "Traceback" not in err


def test_every_agentloom_error_is_in_the_one_tree_and_its_diagram() -> None:
    import agentloom.errors as errors
    from agentloom.graph._imports import RefImportError
    from agentloom.models.base import TransientModelError
    from agentloom.tools import ToolArgumentError
    from agentloom.tools.web import FetchRefused, WebError

    for cls in (TransientModelError, ToolArgumentError, RefImportError, WebError, FetchRefused):
        assert issubclass(cls, errors.AgentloomError)
        assert cls is getattr(errors, cls.__name__)
        assert cls.__name__ in (errors.__doc__ or "")
    assert issubclass(errors.TransientModelError, errors.ModelError)
    assert issubclass(errors.FetchRefused, errors.WebError) and issubclass(errors.WebError, errors.ToolError)
