"""agentloom's own OTLP encoder (``observability._wire``) against the SDK's: both requests are
decoded with ``opentelemetry-proto`` and must be the same message, for every attribute type, span
kind, status, span event, link, parent and resource the SDK can hand an exporter."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.otel


def _spans() -> list[Any]:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

    sampled = TraceFlags(TraceFlags.SAMPLED)
    resource = Resource.create({"service.name": "wire-test", "deployment.replicas": 3})
    other = Resource.create({"service.name": "other"}, schema_url="https://opentelemetry.io/schemas/1.21.0")
    scope = InstrumentationScope("agentloom", "9.9")
    trace = 0x0123456789ABCDEF0123456789ABCDEF
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 0, "big": 2**62, "negative": -5,
        "min": -(2**63), "usd": 0.00125, "zero.float": 0.0, "flag": True, "off": False, "empty": "",
        "unicode": "Zürich → 東京 ✓", "long": "x" * 300, "list": ["a", "b"],
    }
    spans = []
    for i, (kind, status, parent) in enumerate([
        (SpanKind.INTERNAL, Status(StatusCode.UNSET), None),
        (SpanKind.CLIENT, Status(StatusCode.ERROR, "TimeoutError: model did not answer"), 1),
        (SpanKind.SERVER, Status(StatusCode.OK), 1),
        (SpanKind.PRODUCER, Status(StatusCode.ERROR), 2),
        (SpanKind.CONSUMER, Status(StatusCode.UNSET), 3),
    ]):
        remote = i == 4
        spans.append(ReadableSpan(
            name=f"span {i} ünï",
            context=SpanContext(trace, i + 1, is_remote=False, trace_flags=sampled,
                                trace_state=TraceState([("vendor", "value")]) if i == 2 else None),
            parent=SpanContext(trace, parent, is_remote=remote, trace_flags=sampled) if parent else None,
            resource=other if i == 3 else resource,
            attributes={**attrs, "index": i} if i % 2 == 0 else {"index": i},
            events=[Event("plan", {"agentloom.plan.width": 3, "agentloom.plan.reason": "why"}, timestamp=1_700_000_000_000_000_123),
                    Event("no attributes", {}, timestamp=1)] if i == 1 else [],
            links=[Link(SpanContext(trace, 99, is_remote=True, trace_flags=sampled), {"link.kind": "follows"})] if i == 2 else [],
            kind=kind,
            status=status,
            start_time=1_700_000_000_000_000_000 + i,
            end_time=1_700_000_001_000_000_000 + i,
            instrumentation_scope=scope,
        ))
    return spans


def test_wire_encoding_decodes_to_the_sdks_request() -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk_encode
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from agentloom.observability._wire import encode_spans

    spans = _spans()
    expected = ExportTraceServiceRequest.FromString(sdk_encode(spans).SerializePartialToString())
    for _ in range(2):  # the second time from the attribute and header caches
        got = ExportTraceServiceRequest.FromString(encode_spans(spans))
        assert got == expected
    assert len(got.resource_spans) == 2 and sum(len(s.spans) for r in got.resource_spans for s in r.scope_spans) == 5
    assert encode_spans([]) == b""


def test_wire_attribute_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from agentloom.observability import _wire

    monkeypatch.setattr(_wire, "CACHE_SIZE", 16)
    _wire._attr_cache.clear()
    for i in range(100):
        _wire._attribute(0x4A, "agentloom.input", f"question {i}")
    assert 0 < len(_wire._attr_cache) <= 16
