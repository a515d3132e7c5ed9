"""OpenTelemetry traces of agentloom runs, sent over OTLP/HTTP to any backend.

Tracing is on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is
set, or after ``enable()`` (the CLI's ``--otel``); ``OTEL_SDK_DISABLED=true`` turns it off. The
exporter is one more consumer of the typed event stream, attached to every top-level run: runs,
graph nodes, branches, model calls and tool calls become spans with the GenAI semantic
conventions' attributes and agentloom's own. The SDK comes with the ``[otel]`` extra and is
imported only when a run starts with tracing on.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentloom.tracing import Listener

__all__ = ["MISSING_EXTRA", "RUN_END_FLUSH_S", "disable", "enable", "enabled", "flush", "run_listener"]

MISSING_EXTRA = ("OpenTelemetry tracing needs the optional extra: pip install 'agentloom[otel]' "
                 "(opentelemetry-sdk and the OTLP/HTTP exporter are not installed)")

#: How long a top-level run's end waits for its spans to be sent (an unreachable collector
#: costs at most this, then the spans stay queued for the exporter's next try and exit).
RUN_END_FLUSH_S = 5.0

_lock = threading.Lock()
_switched_on = False
_endpoint: str | None = None
_exporter: Any = None
_exporter_key: tuple[str | None, ...] | None = None
_warned = False


def enabled() -> bool:
    """Whether runs started now are traced."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return _switched_on or bool(_env_endpoint())


def _env_endpoint() -> str | None:
    return os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None


def enable(endpoint: str | None = None) -> None:
    """Trace every run from now on, to ``endpoint`` (an OTLP/HTTP base URL such as
    ``http://127.0.0.1:4318``; default: the ``OTEL_EXPORTER_OTLP_*`` variables, else that one).
    Raises ``ConfigError`` when the ``[otel]`` extra is not installed."""
    global _switched_on, _endpoint
    try:
        import agentloom.observability._otlp  # noqa: F401
    except ImportError:
        from agentloom.errors import ConfigError

        raise ConfigError(MISSING_EXTRA) from None
    with _lock:
        _switched_on, _endpoint = True, endpoint


def disable() -> None:
    """Stop tracing runs started from now on (the ``OTEL_*`` variables still switch it on)."""
    global _switched_on, _endpoint
    with _lock:
        _switched_on, _endpoint = False, None


def flush(timeout_s: float = 10.0) -> bool:
    """Send every finished span now (the batch exporter otherwise sends them every few seconds
    and at exit); False if that did not finish in time."""
    exporter = _exporter
    return True if exporter is None else bool(exporter.flush(timeout_s))


def run_listener() -> Listener | None:
    """The span builder for a new top-level run, or None when tracing is off (or the extra is
    missing: said once on stderr, and the run goes on untraced)."""
    if not enabled():
        return None
    exporter = _current_exporter()
    if exporter is None:
        return None
    from agentloom.observability._tree import RunSpans

    return RunSpans(exporter.write, on_error=_listener_failed)


def _current_exporter() -> Any:
    """The process's exporter for the endpoint configured now (a new one when it changed)."""
    global _exporter, _exporter_key
    key = (_endpoint, os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
    with _lock:
        if _exporter is not None and _exporter_key == key:
            return _exporter
        try:
            from agentloom.observability._otlp import Exporter
        except ImportError:
            _say_once(f"agentloom: warning: {MISSING_EXTRA}; this run is not traced")
            return None
        old, _exporter_key = _exporter, key
        _exporter = Exporter(_endpoint.rstrip("/") + "/v1/traces" if _endpoint else None)
    if old is not None:
        old.shutdown()
    return _exporter


def _listener_failed(exc: BaseException) -> None:
    _say_once(f"agentloom: warning: tracing stopped for this run: {type(exc).__name__}: {exc}")


def _say_once(line: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        from agentloom.secrets import redact_text

        print(redact_text(line), file=sys.stderr)
