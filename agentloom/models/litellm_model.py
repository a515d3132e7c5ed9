"""``LiteLLMModel``: any model litellm can reach (``openai/...``, ``anthropic/...``, ``ollama/...``).

litellm is imported on first use, after ``LITELLM_LOCAL_MODEL_COST_MAP=True`` is set so it never
fetches its price map from the network. Its own retries are off (``num_retries=0`` and the
underlying client's ``max_retries=0``): ``ModelBase`` retries with tenacity, so every attempt
is charged and recorded. Before the first request the model name and the provider's API key
are checked, so a typo or a missing key fails with one clear line and nothing sent.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import time
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

from agentloom.budget import Price
from agentloom.errors import MissingAPIKeyError, ModelNotFoundError
from agentloom.models._errors import error_text, stream_broke_off, translate_sdk_error
from agentloom.models._pricing import lookup_price
from agentloom.models._wire import StreamAccumulator, parse_response, request_kwargs
from agentloom.models.base import DEFAULT_MAX_TOKENS, ModelBase
from agentloom.models.types import Completion, ModelRequest
from agentloom.secrets import register_secret

__all__ = ["LiteLLMModel", "import_litellm"]

#: Sent as the key to a self-hosted OpenAI-compatible ``api_base`` when none is configured.
PLACEHOLDER_KEY = "EMPTY"

_PROVIDER_MISSING = re.compile(r"LLM Provider NOT provided|Unmapped LLM provider|invalid model name", re.I)
_KEY_VAR = re.compile(r"API_KEY|_TOKEN$")


def import_litellm() -> ModuleType:
    """Import litellm offline (bundled price map) and quiet (no banners on stdout)."""
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import litellm

    litellm.suppress_debug_info = True
    return litellm


class LiteLLMModel(ModelBase):
    """A model reached through ``litellm.acompletion``; ``name`` is a litellm model string.

    ``api_base``/``api_key`` point it at a server (for ``openai/<name>`` a self-hosted server
    with no key gets a placeholder key); ``timeout`` is seconds per attempt; ``price``
    overrides litellm's bundled price map; other ``params`` go to every ``acompletion`` call
    (``drop_params`` is on by default so a provider ignores parameters it does not support).
    """

    def __init__(
        self,
        name: str,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float = 300.0,
        max_retries: int = 3,
        retry_initial_wait: float = 0.5,
        retry_max_wait: float = 20.0,
        price: Price | None = None,
        default_max_tokens: int = DEFAULT_MAX_TOKENS,
        stream_usage: bool = True,
        **params: Any,
    ) -> None:
        super().__init__(
            max_retries=max_retries,
            retry_initial_wait=retry_initial_wait,
            retry_max_wait=retry_max_wait,
            price=price,
            default_max_tokens=default_max_tokens,
        )
        self.name = name
        self.api_base = api_base
        self.api_key = api_key
        register_secret(api_key)
        register_secret(api_base)
        self.timeout = timeout
        self.stream_usage = stream_usage
        self.params: dict[str, Any] = {"drop_params": True, **params}
        self.provider: str | None = params.get("custom_llm_provider")
        self._checked_provider = False
        self._checked_key = False
        self._key_env: str | None = None
        self._price_cache: tuple[Price | None] | None = None

    def __repr__(self) -> str:
        return f"LiteLLMModel({self.name!r}" + (f", api_base={self.api_base!r})" if self.api_base else ")")

    # ----------------------------------------------------------------- checks
    def check(self) -> None:
        """Raise ``ModelNotFoundError`` for a name litellm cannot route and
        ``MissingAPIKeyError`` (naming the variable) when the provider's key is not set."""
        litellm = import_litellm()
        if not self._checked_provider:
            try:
                _, provider, _, _ = litellm.get_llm_provider(
                    self.name, custom_llm_provider=self.params.get("custom_llm_provider"), api_base=self.api_base
                )
            except Exception:
                prefix = self.name.split("/", 1)[0] if "/" in self.name else None
                why = f"litellm knows no provider '{prefix}'" if prefix else "litellm cannot tell its provider"
                raise ModelNotFoundError(
                    f"unknown model '{self.name}': {why}; write it as 'provider/model', "
                    "e.g. 'openai/gpt-4o-mini' or 'ollama/llama3', or use 'offline'"
                ) from None
            self.provider = provider
            self._checked_provider = True
        if self._checked_key:
            return
        try:
            env = litellm.validate_environment(self.name, api_key=self.api_key, api_base=self.api_base)
        except Exception:
            return
        missing = [str(k) for k in env.get("missing_keys") or [] if _KEY_VAR.search(str(k))]
        if missing:
            self._key_env = " or ".join(missing)
        if self.api_key is None and self.api_base is None and missing and not env.get("keys_in_environment"):
            raise MissingAPIKeyError(
                f"model '{self.name}' needs an API key: set {self._key_env} (or name another variable with --api-key-env VAR; in Python, api_key=...)"
            )
        self._checked_key = True  # (a server of the user's own, given by api_base, says what it needs)

    def _placeholder_key(self) -> str | None:
        """A self-hosted OpenAI-compatible ``api_base`` without a configured key gets a placeholder."""
        if self.api_key is None and self.api_base and self.provider == "openai" and not os.environ.get("OPENAI_API_KEY"):
            return PLACEHOLDER_KEY
        return None

    def price(self) -> Price | None:
        if self._price_override is not None:
            return self._price_override
        if self._price_cache is None:
            self._price_cache = (lookup_price(self.name, self.params.get("custom_llm_provider")),)
        return self._price_cache[0]

    # ----------------------------------------------------------------- calls
    async def complete(self, request: ModelRequest) -> Completion:
        self.check()  # before any reservation or request
        return await super().complete(request)

    async def stream(self, request: ModelRequest) -> AsyncIterator[str]:
        self.check()
        async for delta in super().stream(request):
            yield delta

    def _kwargs(self, request: ModelRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.name,
            **request_kwargs(request),
            "timeout": self.timeout,
            **self.params,
            "num_retries": 0,
            "max_retries": 0,
        }
        if request.tools and _has_mcp_gateway():
            # our tools are plain functions; litellm's MCP gateway check imports the optional
            # ``mcp`` package whenever tools are passed, and fails without it
            kwargs.setdefault("_skip_mcp_handler", True)
        if self.api_base is not None:
            kwargs["api_base"] = self.api_base
        key = self.api_key or self._placeholder_key()
        if key is not None:
            kwargs["api_key"] = key
        return kwargs

    def _translate(self, exc: BaseException) -> BaseException:
        message = error_text(exc)
        if _PROVIDER_MISSING.search(message):
            return ModelNotFoundError(
                f"unknown model '{self.name}': {message}; write it as 'provider/model', e.g. 'openai/gpt-4o-mini'"
            )
        key_env = self._key_env or (f"{self.provider.upper()}_API_KEY" if self.provider else None)
        where = self.api_base or (self.provider or "the provider")
        return translate_sdk_error(exc, model=self.name, where=where, key_env=key_env)

    async def _attempt(self, request: ModelRequest) -> Completion:
        litellm = import_litellm()
        if request.stream:
            accumulator = StreamAccumulator(self.name)
            async for _ in self._chunks(litellm, request, accumulator):
                pass
            return accumulator.completion()
        try:
            response = await litellm.acompletion(**self._kwargs(request))
            return parse_response(response, self.name)
        except Exception as exc:
            raise self._translate(exc) from exc

    async def _chunks(self, litellm: ModuleType, request: ModelRequest, accumulator: StreamAccumulator) -> AsyncIterator[str]:
        kwargs = self._kwargs(request)
        kwargs["stream"] = True
        if self.stream_usage:
            kwargs["stream_options"] = {"include_usage": True}
        try:
            stream = await litellm.acompletion(**kwargs)
        except Exception as exc:
            raise self._translate(exc) from exc
        iterator = stream.__aiter__()
        while True:
            try:
                chunk = await iterator.__anext__()
            except StopAsyncIteration:
                break
            except Exception as exc:
                broke = stream_broke_off(exc, model=self.name, where=self.api_base or (self.provider or "the provider"),
                                         chunks=accumulator.chunks)
                raise (self._translate(exc) if broke is exc else broke) from exc
            delta = accumulator.add(chunk)
            if delta:
                yield delta

    async def _stream_attempt(self, request: ModelRequest) -> AsyncIterator[str | Completion]:
        litellm = import_litellm()
        accumulator = StreamAccumulator(self.name)
        start = time.perf_counter()
        async for delta in self._chunks(litellm, request, accumulator):
            yield delta
        completion = accumulator.completion()
        completion.usage.latency_s = time.perf_counter() - start
        yield completion


@functools.cache
def _has_mcp_gateway() -> bool:
    """Whether this litellm routes tool calls through its MCP gateway (and so takes ``_skip_mcp_handler``)."""
    try:
        return importlib.util.find_spec("litellm.responses.mcp") is not None
    except (ImportError, ValueError):
        return False
