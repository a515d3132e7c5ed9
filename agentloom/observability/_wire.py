"""The OTLP trace request, written straight to protobuf wire bytes: what
``opentelemetry-exporter-otlp-proto-common`` produces, without building a message object per span,
attribute and value (that cost a span about 55 µs, most of tracing's CPU on a big fan-out).

A fan-out repeats the same attributes on thousands of spans (operation names, models, tools,
teams), so each attribute's encoded bytes are kept in a bounded cache. Resource and scope are
encoded once each with the generated ``opentelemetry-proto`` classes. Field numbers follow
``opentelemetry/proto/trace/v1/trace.proto`` and ``common/v1/common.proto``.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["encode_spans"]

#: Attribute encodings kept (a bound: long tails of one-off values must not grow it forever).
CACHE_SIZE = 8192
_INT64 = 1 << 63
_MASK64 = (1 << 64) - 1
_pack_double = struct.Struct("<d").pack
_pack_fixed64 = struct.Struct("<Q").pack
#: Span.flags (fixed32, field 16): "the parent's is_remote is known" (SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK).
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200

_attr_cache: dict[tuple[int, str, type, Any], bytes] = {}
#: The encoded resource and scope of the exporter's (resource, scope) pair, with the pair itself.
_header_cache: dict[tuple[int, int], tuple[Any, Any, bytes, bytes]] = {}


def _varint(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field (``tag`` is the field number shifted with wire type 2)."""
    return bytes((tag,)) + _varint(len(payload)) + payload if tag < 0x80 else _varint(tag) + _varint(len(payload)) + payload


def _any_value(value: Any) -> bytes:
    """An ``AnyValue`` message's bytes: string 1, bool 2, int 3, double 4 (as the SDK encodes)."""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        if -_INT64 <= value < _INT64:
            return b"\x18" + _varint(value & _MASK64)
        return _field(0x0A, str(value).encode())  # beyond int64: sent as its text, not dropped
    if isinstance(value, float):
        return b"\x21" + _pack_double(value)
    if isinstance(value, list | tuple):  # ArrayValue (5) of values (1)
        return _field(0x2A, b"".join([_field(0x0A, _any_value(v)) for v in value]))
    return _field(0x0A, str(value).encode("utf-8", "replace"))


def _attribute(tag: int, key: str, value: Any) -> bytes:
    """One ``KeyValue`` as the repeated field ``tag`` of its message (cached)."""
    cache_key = (tag, key, type(value), tuple(value) if isinstance(value, list) else value)
    encoded = _attr_cache.get(cache_key)
    if encoded is None:
        kv = _field(0x0A, key.encode("utf-8", "replace")) + _field(0x12, _any_value(value))
        encoded = _field(tag, kv)
        if len(_attr_cache) >= CACHE_SIZE:
            _attr_cache.clear()
        _attr_cache[cache_key] = encoded
    return encoded


def _attributes(tag: int, attributes: Mapping[str, Any] | None) -> bytes:
    if not attributes:
        return b""
    return b"".join([_attribute(tag, k, v) for k, v in attributes.items()])


def _event(event: Any) -> bytes:
    """A ``Span.Event``: time 1 (fixed64), name 2, attributes 3."""
    body = b"\x09" + _pack_fixed64(event.timestamp) + _field(0x12, event.name.encode("utf-8", "replace"))
    body += _attributes(0x1A, event.attributes)
    return _field(0x5A, body)


def _span(span: Any) -> bytes:
    """A ``Span`` message's bytes from an SDK ``ReadableSpan`` (links are not made by agentloom;
    any are still encoded)."""
    context = span.context
    parent = span.parent
    parts = [b"\x0A\x10", context.trace_id.to_bytes(16, "big"), b"\x12\x08", context.span_id.to_bytes(8, "big")]
    state = context.trace_state
    if state:
        parts.append(_field(0x1A, ",".join(f"{k}={v}" for k, v in state.items()).encode()))
    if parent is not None:
        parts += (b"\x22\x08", parent.span_id.to_bytes(8, "big"))
    parts.append(_field(0x2A, span.name.encode("utf-8", "replace")))
    parts += (b"\x30", _varint(span.kind.value + 1))  # SpanKind INTERNAL=0 is OTLP's SPAN_KIND_INTERNAL=1
    parts += (b"\x39", _pack_fixed64(span.start_time), b"\x41", _pack_fixed64(span.end_time))
    parts.append(_attributes(0x4A, span.attributes))
    for event in span.events:
        parts.append(_event(event))
    for link in span.links:
        body = (b"\x0A\x10" + link.context.trace_id.to_bytes(16, "big") + b"\x12\x08" + link.context.span_id.to_bytes(8, "big")
                + _attributes(0x22, link.attributes))
        flags = _HAS_IS_REMOTE | (_IS_REMOTE if link.context.is_remote else 0)
        parts.append(_field(0x6A, body + b"\x35" + flags.to_bytes(4, "little")))
    status = span.status
    if status is not None:
        code = status.status_code.value
        body = (_field(0x12, status.description.encode("utf-8", "replace")) if status.description else b"") + (
            b"\x18" + _varint(code) if code else b"")
        parts.append(_field(0x7A, body))
    flags = _HAS_IS_REMOTE | (_IS_REMOTE if parent is not None and parent.is_remote else 0)
    parts += (b"\x85\x01", flags.to_bytes(4, "little"))
    return _field(0x12, b"".join(parts))


def _headers(resource: Any, scope: Any) -> tuple[bytes, bytes]:
    """The encoded ``Resource`` (field 1 of ResourceSpans) and ``InstrumentationScope`` (field 1
    of ScopeSpans), once per pair: they are the same for every batch of a process."""
    key = (id(resource), id(scope))
    cached = _header_cache.get(key)
    if cached is None or cached[0] is not resource or cached[1] is not scope:
        from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
        from opentelemetry.proto.resource.v1.resource_pb2 import Resource

        pb_resource = Resource()
        pb_resource.MergeFromString(_attributes(0x0A, resource.attributes))
        pb_scope = InstrumentationScope(name=scope.name, version=scope.version or "")
        pb_scope.MergeFromString(_attributes(0x1A, scope.attributes))
        cached = (resource, scope, _field(0x0A, pb_resource.SerializeToString()) + (_field(0x1A, resource.schema_url.encode()) if resource.schema_url else b""),
                  _field(0x0A, pb_scope.SerializeToString()) + (_field(0x1A, scope.schema_url.encode()) if scope.schema_url else b""))
        _header_cache[key] = cached
    return cached[2], cached[3]


def encode_spans(spans: Sequence[Any]) -> bytes:
    """A serialized ``ExportTraceServiceRequest`` of SDK ``ReadableSpan``s, grouped by resource
    and instrumentation scope as the SDK groups them."""
    groups: dict[tuple[int, int], tuple[Any, Any, list[bytes]]] = {}
    for span in spans:
        key = (id(span.resource), id(span.instrumentation_scope))
        group = groups.get(key)
        if group is None:
            group = groups[key] = (span.resource, span.instrumentation_scope, [])
        group[2].append(_span(span))
    out = []
    for resource, scope, encoded in groups.values():
        resource_bytes, scope_bytes = _headers(resource, scope)
        scope_spans = _field(0x12, scope_bytes + b"".join(encoded))
        # ScopeSpans' fields are scope (1), spans (2), schema_url (3): the header already holds 1 and 3
        out.append(_field(0x0A, resource_bytes + scope_spans))
    return b"".join(out)
