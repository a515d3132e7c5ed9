"""``ModelBase``: what every model gets for free around its single HTTP (or local) attempt.

Per attempt: a budget reservation *before* the call (worst case: prompt tokens plus
``max_tokens`` at the model's price), settlement after, a ``model_call`` event in the run
store. Around attempts: tenacity retries on 429/5xx/connection errors/timeouts with
exponential backoff and jitter, honouring ``Retry-After``. After: structured output validated
against the request's pydantic type, with one repair request, else ``ModelOutputError``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from agentloom import tracing
from agentloom.budget import Budget, Cost, Price, Reservation
from agentloom.errors import (
    BudgetExceeded,
    ConfigError,
    ModelError,
    ModelHTTPError,
    ModelOutputError,
    TransientModelError,
)
from agentloom.models.call_gate import check_call
from agentloom.models.types import Completion, Message, Model, ModelRequest, Usage

if TYPE_CHECKING:
    from agentloom.rate_limits import RateLimit

__all__ = ["ModelBase", "TransientModelError", "estimate_input_tokens", "json_values", "parse_structured", "strip_fences"]

DEFAULT_MAX_TOKENS = 4096

#: A server asking to be retried later than this (``Retry-After``) gets no retry: the error is
#: raised at once rather than a run sleeping for minutes.
MAX_RETRY_AFTER = 60.0


T = TypeVar("T")


def _seconds_left() -> float | None:
    """Seconds left on the current run's budget (the tightest along its tree), or None."""
    ctx = tracing.current()
    return ctx.budget.remaining().get("seconds") if ctx is not None and ctx.budget is not None else None


async def _within_deadline(call: Awaitable[T], budget: Budget | None, what: str) -> T:
    """Await ``call``, cut off at the budget's time limit: an in-flight call never outlives it."""
    left = budget.remaining().get("seconds") if budget is not None else None
    if left is None:
        return await call
    try:
        return await asyncio.wait_for(call, timeout=max(left, 0.0))
    except TimeoutError:
        raise BudgetExceeded(f"the budget's time ran out during {what}", limit="seconds", budget=budget.name if budget else None) from None


def estimate_input_tokens(request: ModelRequest, model: str | None = None) -> int:
    """The prompt's tokens for ``model``, counted by ``agentloom.tokens`` (a real tokenizer, or a
    labelled conservative estimate), plus the reply's priming: reserved before a call."""
    from agentloom.tokens import count_request_tokens

    return count_request_tokens(request, model) + 8


def strip_fences(text: str) -> str:
    """``text`` without a surrounding Markdown code fence (models often wrap JSON or prose in one)."""
    text = text.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else text[3:]
        if text.rstrip().endswith("```"):
            text = text.rstrip()[:-3]
    return text.strip()


def json_values(text: str) -> list[Any]:
    """Every top-level JSON object or array in ``text``, in order, skipping prose between them
    (models wrap JSON in explanations, or write one indented object after another)."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    at = 0
    while at < len(text):
        if text[at] not in "{[":
            at += 1
            continue
        try:
            value, end = decoder.raw_decode(text, at)
        except ValueError:
            at += 1
            continue
        values.append(value)
        at = end
    return values


def parse_structured(text: str | None, output_type: type[BaseModel]) -> BaseModel:
    """Validate a completion's text as ``output_type``; raises ``ValueError`` with the problems."""
    if not text:
        raise ValueError("the response was empty; expected a JSON object")
    body = strip_fences(text)
    try:
        return output_type.model_validate_json(body)
    except ValidationError as exc:
        embedded = json_values(body) if any(e["type"] == "json_invalid" for e in exc.errors()) else []
        if embedded:
            try:
                return output_type.model_validate(embedded[0])
            except ValidationError as inner:
                exc = inner
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()[:8]
        )
        raise ValueError(problems) from None


class ModelBase:
    """Base class for models: subclasses implement ``_attempt`` (one try, no retries).

    ``max_retries`` counts retries after the first attempt. ``price`` overrides the per-token
    price (USD); without it, the model's known price is used, and an unknown price gives a
    cost of ``None`` rather than a guess.
    """

    name: str = "model"
    rate_limit: RateLimit | None = None
    """Requests and tokens per minute shared by every process calling this model (see
    ``agentloom.rate_limits``); each attempt takes a slot before it is sent."""
    tool_mode: str = "auto"
    """How this model is asked for tool calls: ``native``, ``json``, ``text`` or ``auto`` (see
    ``agentloom.agents.tool_protocol``)."""

    def __init__(
        self,
        *,
        max_retries: int = 3,
        retry_initial_wait: float = 0.5,
        retry_max_wait: float = 20.0,
        price: Price | None = None,
        default_max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> None:
        if max_retries < 0:
            raise ConfigError(f"max_retries={max_retries} must be 0 or more")
        self.max_retries = max_retries
        self.retry_initial_wait = retry_initial_wait
        self.retry_max_wait = retry_max_wait
        self._price_override = price
        self.default_max_tokens = default_max_tokens

    # ----------------------------------------------------------------- hooks
    async def _attempt(self, request: ModelRequest) -> Completion:
        """One attempt. Raise ``TransientModelError`` to be retried, ``ModelError`` otherwise."""
        raise NotImplementedError

    async def _stream_attempt(self, request: ModelRequest) -> AsyncIterator[str | Completion]:
        """Stream one attempt: text deltas, then the finished ``Completion`` (for its usage).
        The default yields the whole text at once."""
        completion = await self._attempt(request)
        yield completion.text or ""
        yield completion

    def price(self) -> Price | None:
        """USD per token, or None when unknown (cost is then reported as None)."""
        return self._price_override

    # ----------------------------------------------------------------- accounting
    def estimate(self, request: ModelRequest) -> Cost:
        """The worst-case cost of one attempt, reserved before it is sent."""
        input_tokens = estimate_input_tokens(request, getattr(self, "name", None))
        output_tokens = request.max_tokens or self.default_max_tokens
        price = self.price()
        usd = price.cost(input_tokens, output_tokens) if price else 0.0
        return Cost(usd=usd, input_tokens=input_tokens, output_tokens=output_tokens, llm_calls=1)

    def _failed_attempt_cost(self, reserved: Cost) -> Cost:
        """A failed or timed-out attempt still sent its prompt: charge the call, its input
        estimate and that input's price, never zero."""
        price = self.price()
        usd = price.cost(reserved.input_tokens, 0) if price else 0.0
        return Cost(usd=usd, input_tokens=reserved.input_tokens, llm_calls=1)

    def usd_for(self, usage: Usage) -> float | None:
        price = self.price()
        if price is None:
            return None
        return price.cost(usage.input_tokens, usage.output_tokens, usage.cached_tokens)

    # ----------------------------------------------------------------- the call
    async def complete(self, request: ModelRequest) -> Completion:
        """Complete ``request`` with budget, retries, recording and structured output."""
        await check_call(request)
        completion = await self._with_retries(request)
        if request.output_type is None:
            return completion
        try:
            completion.parsed = parse_structured(completion.text, request.output_type)
            return completion
        except ValueError as first:
            repair = request.with_messages(
                [
                    *request.messages,
                    Message("assistant", completion.text or ""),
                    Message(
                        "user",
                        f"That output does not match the required schema ({first}). "
                        "Reply with only a JSON object that matches the schema.",
                    ),
                ]
            )
            repair.metadata = dict(request.metadata, repair=str(first))
            try:
                second = await self._with_retries(repair)
            except ModelError as exc:
                exc.usage = completion.usage + exc.usage if isinstance(exc.usage, Usage) else completion.usage
                raise
            total = completion.usage + second.usage
            try:
                second.parsed = parse_structured(second.text, request.output_type)
            except ValueError as again:
                error = ModelOutputError(
                    f"{self.name}: output for '{request.purpose}' did not match "
                    f"{request.output_type.__name__} after one repair: {again}",
                    attempts=total.attempts,
                    usage=total,
                )
                error.text = second.text
                raise error from None
            second.usage = total
            return second

    def _retrying(self) -> Any:
        """The one retry policy for calls and streams (tenacity): up to ``max_retries`` more
        attempts on a ``TransientModelError``, waiting ``Retry-After`` when the server gave one
        (at most 120 s), else exponential backoff with jitter."""
        from tenacity import (
            AsyncRetrying,
            retry_if_exception,
            stop_after_attempt,
            wait_exponential_jitter,
        )

        backoff = wait_exponential_jitter(multiplier=self.retry_initial_wait, max=self.retry_max_wait, jitter=self.retry_initial_wait)

        def wait(state: Any) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, TransientModelError) and exc.retry_after is not None:
                pause = max(exc.retry_after, 0.0)
            else:
                pause = float(backoff(state))
            left = _seconds_left()
            # never wait past the budget's deadline: the next attempt's reservation then says so
            return pause if left is None else max(0.0, min(pause, left))

        def worth_retrying(exc: BaseException) -> bool:
            if not isinstance(exc, TransientModelError):
                return False
            return exc.retry_after is None or exc.retry_after <= MAX_RETRY_AFTER

        return AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=wait,
            retry=retry_if_exception(worth_retrying),
            reraise=True,
        )

    async def _with_retries(self, request: ModelRequest) -> Completion:
        spent = Usage(usd=0.0 if self.price() is not None else None, attempts=0)
        attempt_no = 0
        try:
            async for attempt in self._retrying():
                with attempt:
                    attempt_no += 1
                    completion = await self._charged_attempt(request, attempt_no, spent)
                    spent = spent + completion.usage
                    spent.attempts = attempt_no
                    completion.usage = Usage(**{**spent.to_dict(), "latency_s": spent.latency_s})
                    return completion
        except TransientModelError as exc:
            spent.attempts = attempt_no
            raise ModelHTTPError(
                f"{self.name}: gave up after {attempt_no} attempts: {exc}",
                attempts=attempt_no,
                usage=spent,
                status=exc.status,
            ) from None
        except ModelError as exc:
            spent.attempts = attempt_no
            exc.attempts = attempt_no
            exc.usage = spent
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _check_priced(self, budget: Budget | None) -> None:
        """A USD limit cannot be enforced for a model whose price is unknown: refuse up front."""
        if budget is None or self.price() is not None:
            return
        node: Budget | None = budget
        while node is not None:
            if node.limits.get("usd") is not None:
                raise ConfigError(
                    f"model '{self.name}' has no known price, so a USD budget cannot be enforced; "
                    "pass price=Price(input=..., output=...) or use a token limit instead"
                )
            node = node.parent

    async def _rate_slot(self, request: ModelRequest) -> str | None:
        """A slot in the model's shared rate-limit window (waiting for one), or None without a limit."""
        if self.rate_limit is None:
            return None
        return await self.rate_limit.acquire(self.name, self.estimate(request).tokens, seconds_left=_seconds_left())

    def _reserve(self, budget: Budget | None, request: ModelRequest, slot: str | None, what: str) -> Reservation | None:
        """The attempt's budget reservation; a refused one gives its rate-limit slot back."""
        if budget is None:
            return None
        try:
            return budget.reserve(self.estimate(request), what=what)
        except BaseException:
            if slot is not None and self.rate_limit is not None:
                self.rate_limit.release(slot)
            raise

    async def _charged_attempt(self, request: ModelRequest, attempt_no: int, spent: Usage) -> Completion:
        ctx = tracing.current()
        budget: Budget | None = ctx.budget if ctx else None
        self._check_priced(budget)
        slot = await self._rate_slot(request)
        reservation = self._reserve(budget, request, slot, f"model {self.name} ({request.purpose})")
        start_wall, start = time.time(), time.perf_counter()
        try:
            completion = await _within_deadline(self._attempt(request), budget, f"model {self.name}")
        except asyncio.CancelledError:
            if reservation is not None:
                reservation.release()
            tracing.emit("model_call", self.name, start=start_wall, status="cancelled", data={"purpose": request.purpose})
            raise
        except BaseException as exc:
            if reservation is not None:
                reservation.settle(self._failed_attempt_cost(reservation.amount))
            tracing.emit(
                "model_call",
                self.name,
                start=start_wall,
                status="error",
                data={"purpose": request.purpose, "attempt": attempt_no, "status": getattr(exc, "status", None)},
                error=str(exc),
            )
            raise
        usage = completion.usage
        usage.latency_s = time.perf_counter() - start
        usage.attempts = 1
        if usage.usd == 0.0 or usage.usd is None:
            usage.usd = self.usd_for(usage)
        if slot is not None and self.rate_limit is not None:
            self.rate_limit.settle(slot, usage.input_tokens + usage.output_tokens)
        settled = Cost(usd=usage.usd or 0.0, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens, llm_calls=1)
        if reservation is not None:
            reservation.settle(settled)
        completion.model = completion.model or self.name
        tracing.emit(
            "model_call",
            self.name,
            start=start_wall,
            data={
                "purpose": request.purpose,
                "attempt": attempt_no,
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "cached_tokens": usage.cached_tokens,
                "usd": usage.usd,
                "latency_s": round(usage.latency_s, 6),
                "tool_calls": [c.name for c in completion.tool_calls],
                **(reservation.figures(settled) if reservation is not None else {}),
            },
        )
        return completion

    async def stream(self, request: ModelRequest) -> AsyncIterator[str]:
        """Stream text deltas, charged like ``complete``. A transient failure before the first
        delta is retried like any attempt; after text has been yielded a stream cannot be
        replayed, so a failure then ends it with ``ModelHTTPError``. The finished stream's
        usage is left on ``self.last_stream_usage``."""
        await check_call(request)
        attempt_no = 0
        deltas: AsyncIterator[str] | None = None
        first: str | None = None
        try:
            async for attempt in self._retrying():  # retried until the first delta arrives
                with attempt:
                    attempt_no += 1
                    deltas = self._stream_once(request, attempt_no)
                    try:
                        first = await anext(deltas)
                    except StopAsyncIteration:
                        first = None
        except TransientModelError as exc:
            raise ModelHTTPError(
                f"{self.name}: stream failed after {attempt_no} attempt(s): {exc}", attempts=attempt_no, status=exc.status
            ) from None
        if deltas is None or first is None:
            return
        try:
            yield first
            async for delta in deltas:
                yield delta
        except TransientModelError as exc:  # text was already yielded: a stream cannot be replayed
            raise ModelHTTPError(
                f"{self.name}: stream failed after {attempt_no} attempt(s): {exc}", attempts=attempt_no, status=exc.status
            ) from None
        finally:
            await deltas.aclose()  # type: ignore[attr-defined]

    async def _stream_once(self, request: ModelRequest, attempt_no: int) -> AsyncIterator[str]:
        """One charged, recorded streaming attempt."""
        ctx = tracing.current()
        budget = ctx.budget if ctx else None
        self._check_priced(budget)
        slot = await self._rate_slot(request)
        reservation = self._reserve(budget, request, slot, f"model {self.name} ({request.purpose}, stream)")
        start_wall = time.time()
        usage = Usage()
        try:
            async for item in self._stream_attempt(request):
                if isinstance(item, Completion):
                    usage = item.usage
                else:
                    if ctx is not None and ctx.listeners:
                        tracing.emit("token", self.name, data={"text": item, "purpose": request.purpose})
                    yield item
        except asyncio.CancelledError:
            if reservation is not None:
                reservation.release()
            raise
        except BaseException as exc:
            if reservation is not None:
                reservation.settle(self._failed_attempt_cost(reservation.amount))
            tracing.emit("model_call", self.name, start=start_wall, status="error",
                         data={"purpose": request.purpose, "stream": True, "attempt": attempt_no}, error=str(exc))
            raise
        usage.usd = self.usd_for(usage) if not usage.usd else usage.usd
        self.last_stream_usage = usage
        if slot is not None and self.rate_limit is not None:
            self.rate_limit.settle(slot, usage.input_tokens + usage.output_tokens)
        settled = Cost(usd=usage.usd or 0.0, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens, llm_calls=1)
        if reservation is not None:
            reservation.settle(settled)
        tracing.emit(
            "model_call",
            self.name,
            start=start_wall,
            data={"purpose": request.purpose, "stream": True, "attempt": attempt_no, "input_tokens": usage.input_tokens,
                  "output_tokens": usage.output_tokens, "usd": usage.usd,
                  **(reservation.figures(settled) if reservation is not None else {})},
        )


async def call_model(model: Model, request: ModelRequest) -> Completion:
    """Call any model: ``ModelBase`` subclasses do their own accounting; a bare ``Model``
    implementation is charged here as one call."""
    if isinstance(model, ModelBase):
        return await model.complete(request)
    await check_call(request)
    ctx = tracing.current()
    budget = ctx.budget if ctx else None
    estimate = Cost(input_tokens=estimate_input_tokens(request, getattr(model, "name", None)), output_tokens=request.max_tokens or DEFAULT_MAX_TOKENS, llm_calls=1)
    reservation = budget.reserve(estimate, what=f"model {getattr(model, 'name', 'model')}") if budget else None
    start = time.time()
    try:
        completion: Completion = await model.complete(request)
    except BaseException:
        if reservation is not None:
            reservation.release()
        raise
    if reservation is not None:
        u = completion.usage
        reservation.settle(Cost(usd=u.usd or 0.0, input_tokens=u.input_tokens, output_tokens=u.output_tokens, llm_calls=1))
    tracing.emit("model_call", getattr(model, "name", "model"), start=start, data={"purpose": request.purpose})
    if request.output_type is not None and completion.parsed is None:
        try:
            completion.parsed = parse_structured(completion.text, request.output_type)
        except ValueError as exc:
            error = ModelOutputError(f"output for '{request.purpose}' did not match {request.output_type.__name__}: {exc}")
            error.text = completion.text
            raise error from None
    return completion
