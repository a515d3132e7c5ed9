"""The OpenTelemetry SDK side: one tracer provider per process exporting over OTLP/HTTP, and
``write`` turning a ``SpanRecord`` into an SDK span with the record's own ids and times.

Only this module imports ``opentelemetry``; it is imported when a run starts with tracing on.
The provider is agentloom's own (the application's global provider is left alone); it honours
the standard ``OTEL_*`` variables (endpoint, headers, timeout, sampler, service name, batch sizes).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from agentloom.observability._tree import SpanRecord

__all__ = ["Exporter"]

#: Spans a fan-out can queue before the batch exporter drops any (the SDK's default is 2,048).
QUEUE_SIZE = 65_536
_EMPTY = Context()


class _PresetIds(IdGenerator):
    """Hands the SDK the ids ``write`` chose (the events' own), random ones otherwise."""

    def __init__(self) -> None:
        self._next = threading.local()
        self._random = RandomIdGenerator()

    def preset(self, trace_id: int, span_id: int) -> None:
        self._next.ids = (trace_id, span_id)

    def clear(self) -> None:
        self._next.ids = None

    def generate_span_id(self) -> int:
        ids = getattr(self._next, "ids", None)
        return ids[1] if ids else self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        ids = getattr(self._next, "ids", None)
        return ids[0] if ids else self._random.generate_trace_id()


class Exporter:
    """A tracer provider with a batch OTLP/HTTP exporter to ``endpoint`` (a full ``.../v1/traces``
    URL; None: from ``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT``, else the OTLP default)."""

    def __init__(self, endpoint: str | None) -> None:
        from agentloom import __version__

        self.endpoint = endpoint
        self._ids = _PresetIds()
        resource = {"service.version": __version__}
        if not os.environ.get("OTEL_SERVICE_NAME"):
            resource["service.name"] = "agentloom"
        self.provider = TracerProvider(resource=Resource.create(resource), id_generator=self._ids)
        queue = None if os.environ.get("OTEL_BSP_MAX_QUEUE_SIZE") else QUEUE_SIZE
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint), max_queue_size=queue))
        self.tracer = self.provider.get_tracer("agentloom", __version__)

    def write(self, record: SpanRecord) -> None:
        """Export one finished span (queued; the batch processor sends it from its own thread)."""
        if record.parent_id is None:
            context = _EMPTY
        else:
            parent = SpanContext(record.trace_id, record.parent_id, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))
            context = trace.set_span_in_context(NonRecordingSpan(parent), _EMPTY)
        self._ids.preset(record.trace_id, record.span_id)
        try:
            span: Any = self.tracer.start_span(record.name, context=context, attributes=record.attributes,
                                               start_time=record.start_ns,
                                               kind=SpanKind.CLIENT if record.client else SpanKind.INTERNAL)
        finally:
            self._ids.clear()
        for name, at, attrs in record.events:
            span.add_event(name, attrs, timestamp=at)
        if record.error is not None:
            span.set_status(Status(StatusCode.ERROR, record.error))
        span.end(end_time=record.end_ns)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Send every queued span now; False if that did not finish within ``timeout_s``."""
        return bool(self.provider.force_flush(int(timeout_s * 1000)))

    def shutdown(self) -> None:
        self.provider.shutdown()
