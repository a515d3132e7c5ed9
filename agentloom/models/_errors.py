"""Provider errors to agentloom errors, shared by the openai-SDK and litellm transports.

An HTTP status and its headers decide: 408, 429 and 5xx (and connection errors and timeouts)
become ``TransientModelError`` with any ``Retry-After`` so ``ModelBase`` retries them; a 404
about the model becomes ``ModelNotFoundError``; every other 4xx is a ``ModelHTTPError`` that is
never retried. The openai SDK's exception classes (which litellm's subclass) are matched by
duck typing, so neither SDK is imported here.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Mapping

from agentloom.errors import MissingAPIKeyError, ModelHTTPError, ModelNotFoundError
from agentloom.models._wire import EmptyResponse
from agentloom.models.base import TransientModelError

__all__ = [
    "classify_status",
    "error_text",
    "headers_of",
    "is_missing_key_message",
    "parse_retry_after",
    "status_of",
    "stream_broke_off",
    "translate_sdk_error",
]

_MAX_MESSAGE = 300
_MODEL_MISSING = re.compile(
    r"model[^.]*\b(not found|does not exist|not exist|unknown|is not available|not available|no such)"
    r"|\b(unknown|invalid|unsupported) model|model_not_found|no model named",
    re.I,
)
_UNREADABLE = re.compile(r"Invalid response object|Expecting value: line \d+ column \d+", re.I)
_NO_CONNECTION = re.compile(r"\bConnection error\b|Connection refused|Cannot connect to host|Name or service not known",
                            re.I)
_KEY_MISSING = re.compile(
    r"api_key client option must be set|missing credentials|api[_ ]?key (is )?(missing|not (set|provided|found))|"
    r"no api[_ ]?key|missing (an )?api[_ ]?key|must provide an? api[_ ]?key|set (the )?\w*_API_KEY",
    re.I,
)


def parse_retry_after(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    if not headers:
        return None
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def headers_of(exc: BaseException) -> dict[str, str]:
    """The response headers an SDK exception carries (openai: ``.response``; litellm also
    ``.litellm_response_headers``), lower-cased."""
    out: dict[str, str] = {}
    for source in (getattr(getattr(exc, "response", None), "headers", None), getattr(exc, "litellm_response_headers", None)):
        if source is None:
            continue
        try:
            items = list(source.items())
        except (AttributeError, TypeError):
            continue
        for key, value in items:
            out.setdefault(str(key).lower(), str(value))
    return out


def status_of(exc: BaseException) -> int | None:
    """The HTTP status an exception reports, if any."""
    for attr in ("status_code", "status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value < 600:
            return value
    return None


def error_text(exc: BaseException | str) -> str:
    """The provider's message on one short line."""
    text = exc if isinstance(exc, str) else (getattr(exc, "message", None) or str(exc) or type(exc).__name__)
    text = " ".join(str(text).split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def is_missing_key_message(text: str) -> bool:
    return bool(_KEY_MISSING.search(text))


def _error_code(exc: BaseException | None) -> str:
    code = getattr(exc, "code", None) if exc is not None else None
    body = getattr(exc, "body", None) if exc is not None else None
    if code is None and isinstance(body, dict):
        inner = body.get("error", body)
        code = inner.get("code") if isinstance(inner, dict) else None
    return str(code or "")


def classify_status(
    status: int,
    message: str,
    *,
    model: str,
    where: str,
    headers: Mapping[str, str] | None = None,
    exc: BaseException | None = None,
) -> Exception:
    """The agentloom exception for an HTTP error ``status`` answered by ``where``."""
    head = f"{model}: HTTP {status} from {where}"
    if status == 429 and (_error_code(exc) == "insufficient_quota" or "insufficient_quota" in message
                          or "exceeded your current quota" in message.lower()):
        return ModelHTTPError(f"{head}: {message} (the account is out of quota; retrying cannot help: "
                              "add credit or use another key)", status=status)
    if status in (408, 429) or status >= 500:
        return TransientModelError(f"{head}: {message}", status=status, retry_after=parse_retry_after(headers))
    if status == 404 and (_error_code(exc) == "model_not_found" or _MODEL_MISSING.search(message)):
        return ModelNotFoundError(
            f"model '{model}' not found at {where} ({message}); check the model name and the server's model list"
        )
    if status in (401, 403):
        return ModelHTTPError(
            f"{head}: {message} (check the API key and its permissions for this model)", status=status
        )
    if status == 404:
        return ModelHTTPError(f"{head}: {message} (check the base URL; it usually ends in /v1)", status=status)
    return ModelHTTPError(f"{head}: {message}", status=status)


def translate_sdk_error(
    exc: BaseException, *, model: str, where: str, key_env: str | None = None
) -> BaseException:
    """The agentloom exception for an openai-SDK (or litellm) exception; unknown ones pass through.

    ``key_env`` names the environment variable to mention when the error says the key is missing.
    """
    name_chain = {cls.__name__ for cls in type(exc).__mro__}
    message = error_text(exc)
    if isinstance(exc, EmptyResponse | json.JSONDecodeError) or "JSONDecodeError" in name_chain:
        why = message if isinstance(exc, EmptyResponse) else "the body is not JSON"
        return TransientModelError(f"{model}: no answer from {where}: {why}", status=None)
    if _UNREADABLE.search(message):  # litellm's wording for a 200 it could not read as a completion
        return TransientModelError(f"{model}: no answer from {where}: the response is not a chat completion",
                                   status=None)
    if status_of(exc) in (None, 500) and _NO_CONNECTION.search(message):  # litellm reports these as HTTP 500
        return TransientModelError(f"{model}: cannot connect to {where}: {message}", status=None)
    if "APITimeoutError" in name_chain or "Timeout" in name_chain or isinstance(exc, TimeoutError):
        return TransientModelError(f"{model}: request to {where} timed out", status=status_of(exc))
    if "APIConnectionError" in name_chain or isinstance(exc, ConnectionError):
        return TransientModelError(f"{model}: cannot connect to {where}: {message}", status=None)
    status = status_of(exc)
    if is_missing_key_message(message) and status in (None, 401, 500):
        env = key_env or "the provider's API key variable"
        return MissingAPIKeyError(f"{model}: no API key; set {env} (or name another variable with --api-key-env VAR; in Python, api_key=...)")
    if "APIResponseValidationError" in name_chain:
        return ModelHTTPError(f"{model}: malformed response from {where}: {message}", status=status)
    if status is not None and status >= 400 and "APIError" in name_chain:
        return classify_status(status, message, model=model, where=where, headers=headers_of(exc), exc=exc)
    return exc


def stream_broke_off(exc: BaseException, *, model: str, where: str, chunks: int) -> BaseException:
    """The error for a stream that failed after ``chunks`` chunks arrived: the server was reached,
    so it is never "cannot connect" (a stream that fails before its first chunk is translated as usual)."""
    if chunks == 0:
        return exc
    return TransientModelError(f"{model}: the stream from {where} broke off after {chunks} chunks: {error_text(exc)}")
