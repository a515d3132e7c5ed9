"""The fake OpenAI server itself: concurrency, per-key faults, validation, SSE framing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from tests.fakeserver import FakeOpenAIServer, Fault, Reply, last_user_text


def body(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": text}], **extra}


async def test_200_concurrent_requests_each_get_their_own_answer(openai_server: FakeOpenAIServer) -> None:
    openai_server.latency = 0.02
    async with httpx.AsyncClient(base_url=openai_server.base_url, timeout=30) as client:
        responses = await asyncio.gather(*(client.post("/chat/completions", json=body(f"n{i}")) for i in range(200)))
    assert all(r.status_code == 200 for r in responses)
    assert [r.json()["choices"][0]["message"]["content"] for r in responses] == [f"echo: n{i}" for i in range(200)]
    assert len(openai_server.requests) == 200


async def test_faults_count_per_request_key_whatever_the_order(openai_server: FakeOpenAIServer) -> None:
    openai_server.add_fault(Fault(status=429, times=2, retry_after=3))
    async with httpx.AsyncClient(base_url=openai_server.base_url, timeout=30) as client:
        first = await asyncio.gather(*(client.post("/chat/completions", json=body(k)) for k in "abcabc"))
        third = await asyncio.gather(*(client.post("/chat/completions", json=body(k)) for k in "cba"))
    assert [r.status_code for r in first] == [429] * 6
    assert first[0].headers["retry-after"] == "3"
    assert first[0].json()["error"]["type"] == "rate_limit_exceeded"
    assert [r.status_code for r in third] == [200] * 3
    for key in "abc":
        assert [r.status for r in openai_server.requests_for(key)] == [429, 429, 200]


async def test_fault_match_and_slow_pass_through(openai_server: FakeOpenAIServer) -> None:
    openai_server.add_fault(status=None, delay=0.2, times=1, match=lambda b: last_user_text(b) == "slow")
    async with httpx.AsyncClient(base_url=openai_server.base_url, timeout=30) as client:
        fast = await client.post("/chat/completions", json=body("fast"))
        slow = await client.post("/chat/completions", json=body("slow"))
    assert fast.status_code == slow.status_code == 200
    assert [r.fault for r in openai_server.requests] == [False, True]
    assert slow.elapsed.total_seconds() >= 0.2  # delayed, then answered normally
    assert slow.json()["choices"][0]["message"]["content"] == "echo: slow"


@pytest.mark.parametrize(
    "payload, status, fragment",
    [
        (b"not json", 400, "JSON"),
        (json.dumps({"model": "m", "messages": []}).encode(), 400, "messages"),
        (json.dumps({"messages": [{"role": "user", "content": "x"}]}).encode(), 400, "model"),
        (json.dumps(body("x", tools=[{"type": "nope"}])).encode(), 400, "tools[0]"),
        (json.dumps({"model": "m", "messages": [{"role": "tool", "content": "x"}]}).encode(), 400, "tool_call_id"),
    ],
)
def test_malformed_requests_are_rejected(openai_server: FakeOpenAIServer, payload: bytes, status: int, fragment: str) -> None:
    response = httpx.post(openai_server.base_url + "/chat/completions", content=payload, timeout=5)
    assert response.status_code == status
    assert fragment in response.json()["error"]["message"]


def test_routes_auth_and_broken_responders(openai_server: FakeOpenAIServer) -> None:
    assert httpx.post(openai_server.url + "/v2/other", json=body("x"), timeout=5).status_code == 404
    openai_server.api_key = "sk-right"
    denied = httpx.post(openai_server.base_url + "/chat/completions", json=body("x"), timeout=5)
    assert denied.status_code == 401 and denied.json()["error"]["code"] == "invalid_api_key"
    allowed = httpx.post(
        openai_server.base_url + "/chat/completions", json=body("x"), headers={"Authorization": "Bearer sk-right"}, timeout=5
    )
    assert allowed.status_code == 200
    openai_server.responder = lambda b: 1 / 0  # type: ignore[assignment, return-value]
    broken = httpx.post(
        openai_server.base_url + "/chat/completions", json=body("x"), headers={"Authorization": "Bearer sk-right"}, timeout=5
    )
    assert broken.status_code == 500 and "ZeroDivisionError" in broken.json()["error"]["message"]


def test_sse_stream_framing(openai_server: FakeOpenAIServer) -> None:
    openai_server.responder = lambda b: Reply(text="a b", tool_calls=[{"name": "f", "arguments": {"x": 1}}])
    with httpx.stream(
        "POST", openai_server.base_url + "/chat/completions", json=body("s", stream=True, stream_options={"include_usage": True}), timeout=5
    ) as response:
        assert response.headers["content-type"] == "text/event-stream"
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    events = [json.loads(line[6:]) for line in lines[:-1]]
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    assert text == "a b"
    args = "".join(
        c["function"].get("arguments", "") for e in events if e["choices"] for c in e["choices"][0]["delta"].get("tool_calls", [])
    )
    assert json.loads(args) == {"x": 1}
    assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] > 0
    assert events[-2]["choices"][0]["finish_reason"] == "tool_calls"
    without_usage = httpx.post(openai_server.base_url + "/chat/completions", json=body("s", stream=True), timeout=5)
    assert '"usage"' not in without_usage.text


def test_reply_usage_and_dict_replies(openai_server: FakeOpenAIServer) -> None:
    openai_server.responder = lambda b: {"text": "hi", "usage": {"prompt_tokens": 9, "cached_tokens": 4, "reasoning_tokens": 2}}
    data = httpx.post(openai_server.base_url + "/chat/completions", json=body("x"), timeout=5).json()
    usage = data["usage"]
    assert usage["prompt_tokens"] == 9 and usage["prompt_tokens_details"]["cached_tokens"] == 4
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 2
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_start_stop_and_reset() -> None:
    server = FakeOpenAIServer()
    with pytest.raises(RuntimeError, match="start"):
        _ = server.url
    with server:
        assert server.start() is server  # idempotent
        httpx.post(server.base_url + "/chat/completions", json=body("x"), timeout=5)
        server.add_fault(status=500)
        server.reset()
        assert server.requests == [] and server.faults == []
    server.stop()  # idempotent
