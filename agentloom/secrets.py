"""One redaction path for everything agentloom writes or prints: run records, events, checkpoints,
exports, JSON output and error lines.

Three things are redacted: the literal values of every key a run was given (registered with
``register_secret`` by the models, ``--api-key-env`` and YAML ``${env:...}`` under secret-named
keys), well-known key shapes (``sk-``, ``Bearer``, ``tvly-``, ``AIza``, ``gsk_``, ``hf_``, ``ghp_``,
``xai-``), and the password of a URL's userinfo (``http://user:PASS@host``). Mapping keys that name
a secret (``api_key``, ``authorization``, ``password``...) have their whole value redacted.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

__all__ = ["REDACTED", "redact", "redact_text", "register_secret", "register_secrets_in", "is_secret_key"]

REDACTED = "[redacted]"
#: Shorter literals would redact ordinary words; no real key is this short.
MIN_SECRET_LENGTH = 6

_SECRET_KEYS = re.compile(r"(api[_-]?key|authorization|secret|password|passwd|token_value|x-api-key|access[_-]?token)",
                          re.I)
_KEY_SHAPES = re.compile(
    r"(?:\bsk-[A-Za-z0-9_\-]{8,}|\bBearer\s+[A-Za-z0-9._~+/\-]{8,}=*|\btvly-[A-Za-z0-9_\-]{8,}|\bAIza[0-9A-Za-z_\-]{20,}"
    r"|\bgsk_[A-Za-z0-9]{12,}|\bhf_[A-Za-z0-9]{12,}|\bgh[pousr]_[A-Za-z0-9]{20,}|\bxai-[A-Za-z0-9_\-]{12,})"
)
#: ``scheme://user:password@`` (the password part only; the user stays readable).
_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s/:@]*:)(?P<password>[^\s/@]+)(?=@)")

_lock = threading.Lock()
_literals: set[str] = set()
_literal_pattern: re.Pattern[str] | None = None


def register_secret(value: str | None) -> None:
    """Redact ``value`` wherever it appears from now on (process-wide; short values are ignored).
    A URL registers the password of its userinfo."""
    global _literal_pattern
    if not value or not isinstance(value, str):
        return
    values = {value}
    if "://" in value:  # a URL is no secret, but the password in its userinfo is
        try:
            password = urlsplit(value).password
        except ValueError:
            password = None
        values = {password} if password else set()
    fresh = {v for v in values if len(v) >= MIN_SECRET_LENGTH and v not in _literals}
    if not fresh:
        return
    with _lock:
        _literals.update(fresh)
        ordered = sorted(_literals, key=len, reverse=True)  # longest first, so no partial leftovers
        _literal_pattern = re.compile("|".join(re.escape(v) for v in ordered))


def is_secret_key(name: object) -> bool:
    """Whether a mapping key names a secret (``api_key``, ``Authorization``, ``password``...)."""
    return isinstance(name, str) and bool(_SECRET_KEYS.search(name))


def register_secrets_in(value: Any, key: object = None) -> None:
    """Register every string held under a secret-named key anywhere inside ``value``."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            register_secrets_in(v, k)
    elif isinstance(value, list | tuple):
        for v in value:
            register_secrets_in(v, key)
    elif isinstance(value, str) and is_secret_key(key):
        register_secret(value)


def redact_text(text: str) -> str:
    """``text`` with registered secrets, key shapes and URL passwords replaced by ``[redacted]``."""
    pattern = _literal_pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    text = _USERINFO.sub(lambda m: m.group("head") + REDACTED, text)
    return _KEY_SHAPES.sub(REDACTED, text)


def redact(value: Any) -> Any:
    """``value`` (text, or JSON-like data) with every secret replaced by ``[redacted]``."""
    if isinstance(value, Mapping):
        return {k: (REDACTED if is_secret_key(k) and v else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
