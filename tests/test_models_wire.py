"""The pieces the transports share: error classification, Retry-After parsing, the wire shape."""

from __future__ import annotations

import email.utils
import time

import httpx
import openai
import pytest
from pydantic import BaseModel

from agentloom.errors import MissingAPIKeyError, ModelHTTPError, ModelNotFoundError
from agentloom.models._errors import classify_status, parse_retry_after, translate_sdk_error
from agentloom.models._wire import (
    EmptyResponse,
    StreamAccumulator,
    parse_response,
    read_usage,
    request_kwargs,
    response_format,
)
from agentloom.models.base import TransientModelError
from agentloom.models.types import Message, ModelRequest

REQUEST = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")


def status_error(cls: type[openai.APIStatusError], status: int, message: str, headers: dict[str, str] | None = None, code: str | None = None) -> openai.APIStatusError:
    response = httpx.Response(status, headers=headers or {}, request=REQUEST)
    return cls(message, response=response, body={"message": message, "code": code})


# ----------------------------------------------------------------------------- Retry-After
def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"Retry-After": "2"}) == 2.0
    assert parse_retry_after({"retry-after": "0.5"}) == 0.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now=now) == pytest.approx(30, abs=1.01)
    assert parse_retry_after({"Retry-After": email.utils.formatdate(now - 60, usegmt=True)}, now=now) == 0.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({"Retry-After": "-3"}) == 0.0
    assert parse_retry_after({}) is None and parse_retry_after(None) is None


# ----------------------------------------------------------------------------- classification
@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 529])
def test_retryable_statuses(status: int) -> None:
    err = classify_status(status, "busy", model="m", where="srv", headers={"retry-after": "3"})
    assert isinstance(err, TransientModelError)
    assert err.status == status and err.retry_after == 3.0


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 409, 422])
def test_permanent_statuses(status: int) -> None:
    err = classify_status(status, "nope", model="m", where="http://srv/v1")
    assert isinstance(err, ModelHTTPError) and err.status == status
    assert "HTTP" in str(err) and "http://srv/v1" in str(err)


def test_404_about_the_model_is_model_not_found() -> None:
    err = classify_status(404, "The model `gpt-9` does not exist", model="gpt-9", where="srv")
    assert isinstance(err, ModelNotFoundError) and "gpt-9" in str(err)
    plain = classify_status(404, "Not Found", model="m", where="srv")
    assert isinstance(plain, ModelHTTPError) and "base URL" in str(plain)


def test_translate_openai_sdk_errors() -> None:
    limited = translate_sdk_error(status_error(openai.RateLimitError, 429, "slow down", {"retry-after-ms": "1500"}), model="m", where="w")
    assert isinstance(limited, TransientModelError) and limited.retry_after == 1.5 and limited.status == 429
    server = translate_sdk_error(status_error(openai.InternalServerError, 500, "oops"), model="m", where="w")
    assert isinstance(server, TransientModelError) and server.status == 500
    timeout = translate_sdk_error(openai.APITimeoutError(request=REQUEST), model="m", where="w")
    assert isinstance(timeout, TransientModelError) and "timed out" in str(timeout)
    connection = translate_sdk_error(openai.APIConnectionError(request=REQUEST), model="m", where="w")
    assert isinstance(connection, TransientModelError) and "cannot connect" in str(connection)
    bad = translate_sdk_error(status_error(openai.BadRequestError, 400, "bad"), model="m", where="w")
    assert isinstance(bad, ModelHTTPError) and bad.status == 400
    auth = translate_sdk_error(status_error(openai.AuthenticationError, 401, "Incorrect API key provided"), model="m", where="w")
    assert isinstance(auth, ModelHTTPError) and "API key" in str(auth)
    missing = translate_sdk_error(
        openai.OpenAIError("The api_key client option must be set either by passing api_key to the client or by setting the OPENAI_API_KEY environment variable"),
        model="m",
        where="w",
        key_env="OPENAI_API_KEY",
    )
    assert isinstance(missing, MissingAPIKeyError) and "OPENAI_API_KEY" in str(missing)
    gone = translate_sdk_error(status_error(openai.NotFoundError, 404, "no such model", code="model_not_found"), model="m", where="w")
    assert isinstance(gone, ModelNotFoundError)
    other = ValueError("not an SDK error")
    assert translate_sdk_error(other, model="m", where="w") is other


# ----------------------------------------------------------------------------- wire shape
class Out(BaseModel):
    value: int


def test_request_kwargs_only_carry_what_is_set() -> None:
    request = ModelRequest([Message.user("hi")], metadata={"question": "secret hint"}, purpose="plan")
    kwargs = request_kwargs(request)
    assert kwargs == {"messages": [{"role": "user", "content": "hi"}]}  # no purpose, no metadata
    full = request_kwargs(ModelRequest([Message.user("hi")], temperature=0.0, seed=0, output_type=Out))
    assert full["temperature"] == 0.0 and full["seed"] == 0
    assert full["response_format"]["json_schema"]["name"] == "Out"


def test_response_format_name_is_sanitised() -> None:
    generic = type("Answer[list of str]", (Out,), {})
    name = response_format(generic)["json_schema"]["name"]
    assert name == "Answer_list_of_str_" and len(name) <= 64


def test_parse_response_from_plain_dicts() -> None:
    raw = {
        "model": "served-name",
        "choices": [
            {
                "finish_reason": "tool_calls",
                "message": {
                    "content": None,
                    "tool_calls": [
                        {"id": "a", "function": {"name": "f", "arguments": {"x": 1}}},
                        {"function": {"name": "g", "arguments": ""}},
                        {"function": {"arguments": "{}"}},
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 4, "prompt_tokens_details": None},
    }
    completion = parse_response(raw, "m")
    assert [(c.id, c.name, c.arguments) for c in completion.tool_calls][0] == ("a", "f", '{"x": 1}')
    assert completion.tool_calls[1].name == "g" and completion.tool_calls[1].arguments == "{}"
    assert len(completion.tool_calls) == 2  # a call without a name is dropped
    assert completion.model == "served-name" and completion.finish_reason == "tool_calls"
    assert (completion.usage.input_tokens, completion.usage.cached_tokens) == (9, 0)
    with pytest.raises(EmptyResponse, match="no choices"):  # never an empty success
        parse_response({"choices": []}, "m")


def test_read_usage_variants() -> None:
    usage = read_usage({"prompt_tokens": 10, "completion_tokens": 5, "cache_read_input_tokens": 6})
    assert usage.cached_tokens == 6
    assert read_usage(None).input_tokens == 0


def test_stream_accumulator_folds_fragments() -> None:
    acc = StreamAccumulator("m")
    chunks = [
        {"choices": [{"delta": {"role": "assistant", "content": ""}}]},
        {"choices": [{"delta": {"content": "Hel"}}]},
        {"choices": [{"delta": {"content": "lo"}}]},
        {"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": '{"a":'}}]}}]},
        {"choices": [{"delta": {"tool_calls": [{"index": 1, "id": "c2", "function": {"name": "g", "arguments": "{}"}}]}}]},
        {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": " 1}"}}]}}]},
        {"choices": [{"delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 7}},
    ]
    deltas = [acc.add(c) for c in chunks]
    assert [d for d in deltas if d] == ["Hel", "lo"]
    completion = acc.completion()
    assert completion.text == "Hello"
    assert [(c.id, c.name, c.args()) for c in completion.tool_calls] == [("c1", "f", {"a": 1}), ("c2", "g", {})]
    assert completion.finish_reason == "tool_calls"
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (3, 7)
