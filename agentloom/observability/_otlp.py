"""The OpenTelemetry SDK side: a batch OTLP/HTTP exporter per process, and ``write`` turning a
``SpanRecord`` into a finished SDK span with the record's own ids and times.

The SDK's batch processor and OTLP/HTTP client send the spans; only the encoding is agentloom's
own (``_wire``: the same bytes, about a fifth of the CPU).

Only this module imports ``opentelemetry``; it is imported when a run starts with tracing on.
A record is already a finished span, so ``write`` builds the SDK's ``ReadableSpan`` and hands it
straight to the batch processor (no tracer, no live span to start and end: that costs a span
about a fifth of the time). The exporter is agentloom's own (the application's global tracer
provider is left alone); it honours the standard ``OTEL_*`` variables (endpoint, headers,
timeout, sampler, service name, batch sizes).
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from agentloom.observability._tree import SpanRecord
from agentloom.observability._wire import encode_spans

__all__ = ["Exporter"]

#: Spans a fan-out can queue before the batch exporter drops any (the SDK's default is 2,048).
QUEUE_SIZE = 65_536
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_UNSET = Status(StatusCode.UNSET)


class _WireExporter(OTLPSpanExporter):
    """The SDK's OTLP/HTTP exporter (endpoint, headers, TLS, compression, retries, its own
    metrics), encoding a batch with ``_wire`` rather than a protobuf message per span and value.
    An SDK without the client this relies on gets its own encoder back."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        client, metrics = getattr(self, "_client", None), getattr(self, "_metrics", None)
        if client is None or metrics is None or getattr(self, "_shutdown", True):
            return super().export(spans)
        with metrics.export_operation(len(spans)) as result:
            sent = client.export(encode_spans(spans))
            if not sent.success:
                result.error = sent.error
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS


class Exporter:
    """A batch OTLP/HTTP exporter to ``endpoint`` (a full ``.../v1/traces`` URL; None: from
    ``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT``, else the OTLP default)."""

    def __init__(self, endpoint: str | None) -> None:
        from agentloom import __version__

        self.endpoint = endpoint
        resource = {"service.version": __version__}
        if not os.environ.get("OTEL_SERVICE_NAME"):
            resource["service.name"] = "agentloom"
        self.resource = Resource.create(resource)
        self.scope = InstrumentationScope("agentloom", __version__)
        # the sampler the OTEL_TRACES_SAMPLER* variables choose (a provider reads them; it is not used otherwise)
        self.sampler = TracerProvider(shutdown_on_exit=False).sampler
        self._sampled: dict[int, bool] = {}
        self._lock = threading.Lock()
        queue = None if os.environ.get("OTEL_BSP_MAX_QUEUE_SIZE") else QUEUE_SIZE
        self.processor = BatchSpanProcessor(_WireExporter(endpoint=endpoint), max_queue_size=queue)
        atexit.register(self.shutdown)

    def _keep(self, record: SpanRecord) -> bool:
        """The sampler's decision, once per trace (a run is kept or dropped whole)."""
        keep = self._sampled.get(record.trace_id)
        if keep is None:
            decision = self.sampler.should_sample(None, record.trace_id, record.name)
            keep = decision.decision.is_sampled()
            with self._lock:
                if len(self._sampled) > 10_000:
                    self._sampled.clear()
                self._sampled[record.trace_id] = keep
        return keep

    def write(self, record: SpanRecord) -> None:
        """Export one finished span (queued; the batch processor sends it from its own thread)."""
        if not self._keep(record):
            return
        parent = None
        if record.parent_id is not None:
            parent = SpanContext(record.trace_id, record.parent_id, is_remote=False, trace_flags=_SAMPLED)
        span = ReadableSpan(
            name=record.name,
            context=SpanContext(record.trace_id, record.span_id, is_remote=False, trace_flags=_SAMPLED),
            parent=parent,
            resource=self.resource,
            attributes=record.attributes,
            events=[Event(name, attrs, timestamp=at) for name, at, attrs in record.events],
            kind=SpanKind.CLIENT if record.client else SpanKind.INTERNAL,
            status=_UNSET if record.error is None else Status(StatusCode.ERROR, record.error),
            start_time=record.start_ns,
            end_time=record.end_ns,
            instrumentation_scope=self.scope,
        )
        self.processor.on_end(span)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Send every queued span now; False if that did not finish within ``timeout_s``."""
        return bool(self.processor.force_flush(int(timeout_s * 1000)))

    def shutdown(self) -> None:
        """Send what is queued and stop the exporter's thread (also at the process's exit)."""
        atexit.unregister(self.shutdown)
        self.processor.shutdown()

