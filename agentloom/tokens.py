"""The one token counter: model-aware through a real tokenizer, with a labelled fallback.

Budgets reserve a call's input tokens before it is made, so the count must not run low on JSON,
ids or digits (characters/3 is 2-3x too low there). Text is counted with tiktoken, using the
model's own encoding for OpenAI models and ``cl100k_base`` as the stated approximation for
others; the encodings are read from the copy litellm ships, so nothing is downloaded. Without
tiktoken, a conservative estimate (pieces of words, digits and symbols) is used and labelled so.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from agentloom.models.types import ModelRequest

__all__ = ["TokenCounter", "count_request_tokens", "count_tokens", "counter_for"]

#: Encodings that are available offline (shipped with litellm).
_OFFLINE_ENCODINGS = ("o200k_base", "cl100k_base", "p50k_base")
_DEFAULT_ENCODING = "cl100k_base"
#: Per-message framing tokens (role, separators) a chat template adds.
MESSAGE_OVERHEAD = 4
_DIGIT_RUNS = re.compile(r"\d+")
_PIECES = re.compile(r"[A-Za-z]+|\d|\s+|[^\sA-Za-z\d]")
_lock = threading.Lock()


class _Encoding(Protocol):
    def encode(self, text: str, *, disallowed_special: Any = ...) -> list[int]: ...


@dataclass(frozen=True)
class TokenCounter:
    """Counts tokens for one model. ``method`` says how: ``tiktoken:<encoding>`` (exact for
    that encoding's models), ``tiktoken:<encoding>~`` (an approximation for another model's
    tokenizer) or ``estimate`` (no tokenizer installed: a conservative estimate)."""

    method: str
    encoding: _Encoding | None = None

    def count(self, text: str | None) -> int:
        """Tokens in ``text`` (0 for empty text)."""
        if not text:
            return 0
        if self.encoding is None:
            return _estimate(text)
        count = len(self.encoding.encode(text, disallowed_special=()))
        if self.method.endswith("~"):
            # other tokenizers (Qwen's among them) split numbers digit by digit, where this
            # encoding groups them in threes: count them the way that costs more
            digits = _DIGIT_RUNS.findall(text)
            count += sum(len(run) - math.ceil(len(run) / 3) for run in digits)
        return count


def _estimate(text: str) -> int:
    """A tokenizer-free count that errs high: a word is a token per four letters, every digit,
    symbol and run of whitespace is one (byte-level BPE merges digits in threes at best)."""
    total = 0
    for piece in _PIECES.findall(text):
        total += math.ceil(len(piece) / 4) if piece[0].isalpha() else 1
    return total


def _tiktoken_dir() -> str | None:
    """The folder of tokenizer files litellm ships, found without importing litellm (slow)."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = os.path.join(next(iter(spec.submodule_search_locations)), "litellm_core_utils", "tokenizers")
    return folder if os.path.isdir(folder) else None


@functools.cache
def _encoding(name: str) -> _Encoding | None:
    try:
        import tiktoken
    except ImportError:
        return None
    with _lock:
        if not os.environ.get("TIKTOKEN_CACHE_DIR"):
            folder = _tiktoken_dir()
            if folder is None:
                return None
            os.environ["TIKTOKEN_CACHE_DIR"] = folder  # what litellm sets on import, too
        try:
            encoding: _Encoding = tiktoken.get_encoding(name)
            return encoding
        except Exception:  # a missing file would mean a download: never here
            return None


def _encoding_name(model: str | None) -> tuple[str, bool]:
    """The encoding for ``model`` and whether it is that model's own."""
    if model:
        bare = model.rsplit("/", 1)[-1]
        try:
            from tiktoken.model import encoding_name_for_model

            name = encoding_name_for_model(bare)
            if name in _OFFLINE_ENCODINGS:
                return name, True
        except (ImportError, KeyError):
            pass
    return _DEFAULT_ENCODING, False


@functools.cache
def counter_for(model: str | None = None) -> TokenCounter:
    """The counter for ``model`` (a model name, with or without a provider prefix)."""
    name, exact = _encoding_name(model)
    encoding = _encoding(name)
    if encoding is None:
        return TokenCounter("estimate")
    return TokenCounter(f"tiktoken:{name}" + ("" if exact else "~"), encoding)


def count_tokens(text: str | None, model: str | None = None) -> int:
    """Tokens in ``text`` for ``model`` (see :class:`TokenCounter` for how they are counted)."""
    return counter_for(model).count(text)


def count_request_tokens(request: ModelRequest, model: str | None = None) -> int:
    """Prompt tokens of a request: every message's content and tool calls with their framing,
    the tool schemas and the output schema, as a provider would bill them."""
    import json

    counter = counter_for(model)
    total = 0
    for message in request.messages:
        total += counter.count(message.content) + MESSAGE_OVERHEAD
        for call in message.tool_calls:
            total += counter.count(call.name) + counter.count(call.arguments) + MESSAGE_OVERHEAD
    if request.tools:
        total += counter.count(json.dumps(request.tools))
    if request.output_type is not None:
        total += counter.count(json.dumps(request.output_type.model_json_schema()))
    return total
