"""A real OpenAI-compatible HTTP server on loopback, for end-to-end model tests and benchmarks.

``FakeOpenAIServer(responder)`` serves ``POST /v1/chat/completions`` (and ``/chat/completions``)
from a thread pool. The answer is ``responder(body)``, a function of the request's JSON body
(never of call order, so parallel requests may arrive in any order): a ``Reply``, a string, or
a dict of ``Reply`` fields. ``Fault`` rules inject 429s (with ``Retry-After``), 5xx errors and
slow responses N times per distinct request key before letting the request through. Streaming
(``"stream": true``) is served as SSE with a final usage chunk. Every request is recorded,
headers included, so tests can assert what was sent.

The pytest fixture ``openai_server`` (load with ``pytest_plugins = ["tests.fakeserver"]``)
is a thin wrapper: it yields a started server with the echo responder; set
``server.responder`` or call ``server.add_fault(...)`` in the test.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = [
    "Fault",
    "FakeOpenAIServer",
    "RecordedRequest",
    "Reply",
    "echo_responder",
    "last_user_text",
    "openai_server",
]


def last_user_text(body: dict[str, Any]) -> str:
    """The content of the last user message of a chat-completions body ('' if none)."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):  # content parts
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


@dataclass
class Reply:
    """What the server answers. ``tool_calls`` items are ``{"name", "arguments", "id"?}``
    (arguments a dict or JSON text). ``usage`` may set ``prompt_tokens``,
    ``completion_tokens``, ``cached_tokens`` and ``reasoning_tokens``; missing counts are
    computed at four characters a token. A ``status`` other than 200 sends an OpenAI-style
    error with ``error`` as its message."""

    text: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int] | None = None
    status: int = 200
    error: str | None = None
    error_code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    finish_reason: str | None = None
    stream_chunks: list[str] | None = None  # explicit text deltas for streaming
    stream_delay: float | None = None  # seconds between streamed chunks
    hold: threading.Event | None = None  # streaming: after the first text delta, wait for it (10 s max)
    raw_body: bytes | None = None  # a 200 with exactly this body (a broken server), instead of a completion
    break_stream_after: int | None = None  # streaming: drop the connection after this many text deltas


@dataclass
class Fault:
    """Fail the first ``times`` requests of each distinct ``key(body)`` among those ``match``
    accepts: wait ``delay`` seconds, then answer ``status`` (with ``Retry-After`` headers when
    given), or, when ``status`` is None, answer normally after the delay (a slow response)."""

    status: int | None = 500
    times: int = 1
    retry_after: float | str | None = None
    retry_after_ms: float | None = None
    delay: float = 0.0
    message: str | None = None
    match: Callable[[dict[str, Any]], bool] | None = None
    key: Callable[[dict[str, Any]], str] = last_user_text


@dataclass
class RecordedRequest:
    """One request as the server saw it (header names lower-cased), and what it answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float
    status: int = 0
    fault: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return last_user_text(self.body)


Responder = Callable[[dict[str, Any]], "Reply | str | dict[str, Any]"]


def echo_responder(body: dict[str, Any]) -> Reply:
    """Answer with the last user message, prefixed by ``echo: ``."""
    return Reply(text=f"echo: {last_user_text(body)}")


def _tokens(text: str) -> int:
    return (len(text) + 3) // 4


def _prompt_tokens(body: dict[str, Any]) -> int:
    total = 0
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            total += _tokens(json.dumps(message.get("content") or "")) + 4
            for call in message.get("tool_calls") or []:
                total += _tokens(json.dumps(call))
    return total + (_tokens(json.dumps(body["tools"])) if body.get("tools") else 0)


class FakeOpenAIServer:
    """A scripted OpenAI-compatible server on ``127.0.0.1`` (a random free port).

    ``latency`` (seconds, or a function of the body) is slept before every answer. Use it as a
    context manager or call ``start()``/``stop()``; ``url`` is the origin, ``base_url`` the
    ``/v1`` root to give clients. ``api_key``, when set, is required as a Bearer token (401
    otherwise).
    """

    def __init__(
        self,
        responder: Responder = echo_responder,
        *,
        latency: float | Callable[[dict[str, Any]], float] = 0.0,
        api_key: str | None = None,
        model: str = "fake-model",
        record: bool = True,
    ) -> None:
        self.responder = responder
        self.latency = latency
        self.api_key = api_key
        self.model = model
        self.record = record
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._hits: dict[tuple[int, str], int] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> FakeOpenAIServer:
        if self._server is not None:
            return self
        handler = type("Handler", (_Handler,), {"fake": self})
        server = _Server(("127.0.0.1", 0), handler)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake server is not running; call start()")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    # ----------------------------------------------------------------- scripting
    def add_fault(self, fault: Fault | None = None, **fields: Any) -> Fault:
        """Add a fault rule (a ``Fault`` or its fields); rules are tried in order."""
        rule = fault or Fault(**fields)
        with self._lock:
            self.faults.append(rule)
        return rule

    def reset(self) -> None:
        """Forget recorded requests, fault counters and fault rules."""
        with self._lock:
            self.requests.clear()
            self._hits.clear()
            self.faults.clear()

    def requests_for(self, key: str) -> list[RecordedRequest]:
        """Recorded chat requests whose last user message is ``key``."""
        with self._lock:
            return [r for r in self.requests if r.key == key]

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.rstrip("/").endswith("chat/completions")]

    def _fault_for(self, body: dict[str, Any]) -> Fault | None:
        with self._lock:
            for index, rule in enumerate(self.faults):
                if rule.match is not None and not rule.match(body):
                    continue
                slot = (index, rule.key(body))
                seen = self._hits.get(slot, 0)
                if seen < rule.times:
                    self._hits[slot] = seen + 1
                    return rule
        return None

    def _record(self, item: RecordedRequest) -> None:
        if self.record:
            with self._lock:
                self.requests.append(item)

    def _answer(self, body: dict[str, Any]) -> Reply:
        result = self.responder(body)
        if isinstance(result, Reply):
            return result
        if isinstance(result, str):
            return Reply(text=result)
        if isinstance(result, dict):
            return Reply(**result)
        raise TypeError(f"responder returned {type(result).__name__}; expected Reply, str or dict")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up mid-answer (timeouts, cancellations) is expected in tests


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # idle keep-alive connections are dropped after this
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stalls
    fake: FakeOpenAIServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # ----------------------------------------------------------------- plumbing
    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_error(self, status: int, message: str, *, code: str | None = None, headers: dict[str, str] | None = None) -> None:
        kind = {
            400: "invalid_request_error",
            401: "invalid_request_error",
            404: "invalid_request_error",
            429: "rate_limit_exceeded",
        }.get(status, "server_error")
        error = {"message": message, "type": kind, "param": None, "code": code}
        self._send_json(status, {"error": error}, headers)

    def _read_body(self) -> dict[str, Any] | None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            value = json.loads(raw or b"{}")
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    # ----------------------------------------------------------------- routes
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path in ("/v1/models", "/models"):
            self._send_json(200, {"object": "list", "data": [{"id": self.fake.model, "object": "model", "owned_by": "fake"}]})
        else:
            self._send_error(404, f"no route GET {self.path}")

    def do_POST(self) -> None:
        fake = self.fake
        body = self._read_body()
        path = self.path.split("?", 1)[0].rstrip("/")
        record = RecordedRequest("POST", path, {k.lower(): v for k, v in self.headers.items()}, body or {}, time.time())
        fake._record(record)
        if body is None:
            record.status = 400
            self._send_error(400, "request body is not a JSON object")
            return
        if path not in ("/v1/chat/completions", "/chat/completions"):
            record.status = 404
            self._send_error(404, f"no route POST {self.path}")
            return
        problem = _validate(body)
        if problem:
            record.status = 400
            self._send_error(400, problem)
            return
        if fake.api_key is not None and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
            record.status = 401
            self._send_error(401, "Incorrect API key provided.", code="invalid_api_key")
            return
        latency = fake.latency(body) if callable(fake.latency) else fake.latency
        self._sleep(latency)
        rule = fake._fault_for(body)
        if rule is not None:
            record.fault = True
            self._sleep(rule.delay)
            if rule.status is not None:
                headers: dict[str, str] = {}
                if rule.retry_after is not None:
                    headers["Retry-After"] = str(rule.retry_after)
                if rule.retry_after_ms is not None:
                    headers["retry-after-ms"] = str(rule.retry_after_ms)
                record.status = rule.status
                self._send_error(rule.status, rule.message or f"injected fault {rule.status}", headers=headers)
                return
        try:
            reply = fake._answer(body)
        except Exception as exc:  # a broken responder is a 500 the test can see
            record.status = 500
            self._send_error(500, f"responder failed: {exc!r}")
            return
        self._sleep(reply.delay)
        record.status = reply.status
        if reply.status != 200:
            self._send_error(reply.status, reply.error or f"error {reply.status}", code=reply.error_code, headers=reply.headers)
            return
        if reply.raw_body is not None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply.raw_body)))
            self.end_headers()
            self.wfile.write(reply.raw_body)
            return
        if body.get("stream"):
            self._stream(body, reply, record)
        else:
            self._send_json(200, _completion(body, reply, fake.model), reply.headers)

    def _stream(self, body: dict[str, Any], reply: Reply, record: RecordedRequest) -> None:
        fake = self.fake
        model = str(body.get("model") or fake.model)
        ident = "chatcmpl-" + uuid.uuid4().hex[:16]
        created = int(time.time())

        def chunk(choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> dict[str, Any]:
            out: dict[str, Any] = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model, "choices": choices}
            if usage is not None:
                out["usage"] = usage
            return out

        events: list[dict[str, Any]] = [chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
        hold_after = 1 if reply.hold is not None else -1  # index of the first text delta event
        pieces = reply.stream_chunks if reply.stream_chunks is not None else _split_words(reply.text or "")
        for piece in pieces:
            events.append(chunk([{"index": 0, "delta": {"content": piece}, "finish_reason": None}]))
        for i, call in enumerate(_openai_calls(reply.tool_calls)):
            args = call["function"]["arguments"]
            half = len(args) // 2
            events.append(chunk([{"index": 0, "delta": {"tool_calls": [{"index": i, "id": call["id"], "type": "function", "function": {"name": call["function"]["name"], "arguments": args[:half]}}]}, "finish_reason": None}]))
            events.append(chunk([{"index": 0, "delta": {"tool_calls": [{"index": i, "function": {"arguments": args[half:]}}]}, "finish_reason": None}]))
        finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        events.append(chunk([{"index": 0, "delta": {}, "finish_reason": finish}]))
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append(chunk([], _usage(body, reply)))
        delay = reply.stream_delay if reply.stream_delay is not None else 0.0
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        try:
            for n, event in enumerate(events):
                if n and delay:
                    time.sleep(delay)
                self._write_chunk(f"data: {json.dumps(event)}\n\n".encode())
                if reply.break_stream_after is not None and n >= reply.break_stream_after:
                    self.close_connection = True  # the stream dies midway: no terminating chunk
                    self.connection.shutdown(2)
                    return
                if n == hold_after and reply.hold is not None and not reply.hold.wait(10):
                    record.notes.append("hold timed out")
            self._write_chunk(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _validate(body: dict[str, Any]) -> str | None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "'model' is required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty list"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant", "tool", "developer"):
            return f"messages[{i}] has no valid role"
        if message.get("role") == "tool" and not message.get("tool_call_id"):
            return f"messages[{i}] is a tool message without tool_call_id"
    for i, item in enumerate(body.get("tools") or []):
        if not isinstance(item, dict) or item.get("type") != "function" or "name" not in (item.get("function") or {}):
            return f"tools[{i}] is not a function tool"
    return None


def _split_words(text: str) -> list[str]:
    if not text:
        return []
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


def _openai_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i, call in enumerate(calls):
        args = call.get("arguments", {})
        out.append(
            {
                "id": call.get("id") or f"call_{i}_{uuid.uuid4().hex[:8]}",
                "type": "function",
                "function": {"name": call["name"], "arguments": args if isinstance(args, str) else json.dumps(args)},
            }
        )
    return out


def _usage(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    given = reply.usage or {}
    completion_text = (reply.text or "") + "".join(json.dumps(c.get("arguments", {})) for c in reply.tool_calls)
    prompt = int(given.get("prompt_tokens", _prompt_tokens(body)))
    completion = int(given.get("completion_tokens", max(1, _tokens(completion_text))))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": int(given.get("cached_tokens", 0))},
        "completion_tokens_details": {"reasoning_tokens": int(given.get("reasoning_tokens", 0))},
    }


def _completion(body: dict[str, Any], reply: Reply, default_model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    calls = _openai_calls(reply.tool_calls)
    if calls:
        message["tool_calls"] = calls
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex[:16],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(body.get("model") or default_model),
        "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason or ("tool_calls" if calls else "stop")}],
        "usage": _usage(body, reply),
    }


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAIServer]:
    """A started ``FakeOpenAIServer`` (echo responder) for one test."""
    with FakeOpenAIServer() as server:
        yield server
