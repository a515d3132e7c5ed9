"""A real OTLP/HTTP trace receiver on loopback: it accepts ``POST /v1/traces`` (protobuf, plain
or gzip), decodes each request with ``opentelemetry-proto`` and keeps the spans and the raw bytes.
Used by the OpenTelemetry tests and ``bench/bench_otel.py``."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = ["OTLPReceiver", "ReceivedSpan", "otlp_receiver"]


@dataclass
class ReceivedSpan:
    """One decoded span: hex ids, attributes as plain Python values, span events by name."""

    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    status_code: int = 0
    status_message: str = ""
    service: str = ""


def _value(any_value: Any) -> Any:
    which = any_value.WhichOneof("value")
    return None if which is None else getattr(any_value, which)


def _attrs(pairs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in pairs}


class OTLPReceiver:
    """Start with ``with OTLPReceiver() as r:``; ``r.endpoint`` is the base URL for
    ``OTEL_EXPORTER_OTLP_ENDPOINT``; ``r.spans()`` the spans received so far."""

    def __init__(self) -> None:
        self._spans: list[ReceivedSpan] = []
        self.bodies: list[bytes] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server API)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                receiver._receive(body)
                from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
                    ExportTraceServiceResponse,
                )

                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _receive(self, body: bytes) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        decoded = []
        for resource_spans in request.resource_spans:
            service = str(_attrs(resource_spans.resource.attributes).get("service.name", ""))
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    decoded.append(ReceivedSpan(
                        name=span.name, trace_id=span.trace_id.hex(), span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex(), kind=span.kind, start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano, attributes=_attrs(span.attributes),
                        events=[(e.name, _attrs(e.attributes)) for e in span.events],
                        status_code=span.status.code, status_message=span.status.message, service=service,
                    ))
        with self._lock:
            self.bodies.append(body)
            self._spans.extend(decoded)

    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self._spans)

    def raw(self) -> bytes:
        """Every request body received, concatenated (to look for what must never be sent)."""
        with self._lock:
            return b"".join(self.bodies)

    def __enter__(self) -> OTLPReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def otlp_receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[OTLPReceiver]:
    """A running receiver, with ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at it for the test."""
    with OTLPReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        yield receiver
