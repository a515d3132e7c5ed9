"""``OpenAIModel``: chat completions through the openai SDK, for OpenAI or any compatible server.

vLLM, llama.cpp's server, Ollama and LM Studio all speak this API: give their ``base_url``
(usually ending in ``/v1``). The SDK's own retries are off; ``ModelBase`` retries with tenacity
so every attempt is charged and recorded. Streaming is real: deltas are yielded as they arrive.
"""

from __future__ import annotations

import asyncio
import os
import time
import weakref
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from agentloom.budget import Price
from agentloom.errors import MissingAPIKeyError
from agentloom.models._errors import stream_broke_off, translate_sdk_error
from agentloom.models._pricing import lookup_price
from agentloom.models._wire import StreamAccumulator, parse_response, request_kwargs
from agentloom.models.base import DEFAULT_MAX_TOKENS, ModelBase
from agentloom.models.types import Completion, ModelRequest
from agentloom.secrets import register_secret

if TYPE_CHECKING:
    from openai import AsyncOpenAI

__all__ = ["OpenAIModel"]

#: Sent as the key to a self-hosted server when none is configured (vLLM's convention).
PLACEHOLDER_KEY = "EMPTY"


class OpenAIModel(ModelBase):
    """A model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    ``base_url=None`` means OpenAI itself (or ``$OPENAI_BASE_URL``), which needs
    ``api_key`` or ``$OPENAI_API_KEY``; a self-hosted server without a key gets a placeholder.
    ``timeout`` is seconds per attempt (connect, and between bytes). Extra ``params``
    (e.g. ``reasoning_effort``, ``extra_body``) go to every request. USD comes from ``price``,
    else from litellm's bundled price map when the server is OpenAI's, else it is None.
    """

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 300.0,
        max_retries: int = 3,
        retry_initial_wait: float = 0.5,
        retry_max_wait: float = 20.0,
        price: Price | None = None,
        default_max_tokens: int = DEFAULT_MAX_TOKENS,
        default_headers: dict[str, str] | None = None,
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
        self.model = model
        self.name = model
        self.base_url = base_url
        self.api_key = api_key
        register_secret(api_key)
        register_secret(base_url)
        self.timeout = timeout
        self.default_headers = dict(default_headers or {})
        self.stream_usage = stream_usage
        self.params = params
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncOpenAI] = weakref.WeakKeyDictionary()
        self._price_cache: tuple[Price | None] | None = None

    def __repr__(self) -> str:
        return f"OpenAIModel({self.model!r}, base_url={self._base_url()!r})"

    # ----------------------------------------------------------------- configuration
    def _base_url(self) -> str | None:
        return self.base_url or os.environ.get("OPENAI_BASE_URL") or None

    def _is_openai(self) -> bool:
        base = self._base_url()
        return base is None or (urlparse(base).hostname or "").endswith("api.openai.com")

    def _where(self) -> str:
        return self._base_url() or "api.openai.com"

    def _resolved_key(self) -> str:
        key = self.api_key or os.environ.get("OPENAI_API_KEY")
        if key:
            return key
        if self._is_openai():
            raise MissingAPIKeyError(
                f"model '{self.model}' at api.openai.com needs an API key: set OPENAI_API_KEY (or name another variable with --api-key-env VAR; in Python, api_key=...)"
            )
        return PLACEHOLDER_KEY

    def check(self) -> None:
        """Raise ``MissingAPIKeyError`` now if a request could not be authenticated."""
        self._resolved_key()

    def _client(self) -> AsyncOpenAI:
        """One SDK client per event loop (its connection pool is bound to the loop)."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            from openai import AsyncOpenAI

            client = AsyncOpenAI(
                api_key=self._resolved_key(),
                base_url=self._base_url(),
                timeout=self.timeout,
                max_retries=0,
                default_headers=self.default_headers or None,
            )
            self._clients[loop] = client
        return client

    async def aclose(self) -> None:
        """Close the HTTP client of the running loop (others close when their loop goes)."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    def price(self) -> Price | None:
        if self._price_override is not None:
            return self._price_override
        if self._price_cache is None:
            self._price_cache = (lookup_price(self.model, "openai") if self._is_openai() else None,)
        return self._price_cache[0]

    # ----------------------------------------------------------------- calls
    async def complete(self, request: ModelRequest) -> Completion:
        self._client()  # a missing key fails before any reservation or request
        return await super().complete(request)

    async def stream(self, request: ModelRequest) -> AsyncIterator[str]:
        self._client()
        async for delta in super().stream(request):
            yield delta

    def _translate(self, exc: BaseException) -> BaseException:
        return translate_sdk_error(exc, model=self.model, where=self._where(), key_env="OPENAI_API_KEY")

    def _kwargs(self, request: ModelRequest) -> dict[str, Any]:
        return {"model": self.model, **request_kwargs(request), **self.params}

    async def _attempt(self, request: ModelRequest) -> Completion:
        if request.stream:
            accumulator = StreamAccumulator(self.model)
            async for _ in self._chunks(request, accumulator):
                pass
            return accumulator.completion()
        try:
            response = await self._client().chat.completions.create(**self._kwargs(request))
            return parse_response(response, self.model)
        except Exception as exc:
            raise self._translate(exc) from exc

    async def _chunks(self, request: ModelRequest, accumulator: StreamAccumulator) -> AsyncIterator[str]:
        kwargs = self._kwargs(request)
        kwargs["stream"] = True
        if self.stream_usage:
            kwargs["stream_options"] = {"include_usage": True}
        try:
            stream = await self._client().chat.completions.create(**kwargs)
        except Exception as exc:
            raise self._translate(exc) from exc
        try:
            while True:
                try:
                    chunk = await stream.__anext__()
                except StopAsyncIteration:
                    break
                except Exception as exc:
                    broke = stream_broke_off(exc, model=self.model, where=self._where(), chunks=accumulator.chunks)
                    raise (self._translate(exc) if broke is exc else broke) from exc
                delta = accumulator.add(chunk)
                if delta:
                    yield delta
        finally:
            await stream.close()

    async def _stream_attempt(self, request: ModelRequest) -> AsyncIterator[str | Completion]:
        accumulator = StreamAccumulator(self.model)
        start = time.perf_counter()
        async for delta in self._chunks(request, accumulator):
            yield delta
        completion = accumulator.completion()
        completion.usage.latency_s = time.perf_counter() - start
        yield completion
