"""``FunctionVerifier``: user code or a test suite as a verifier, sync or async, with
whatever it returns (bool, score, pair, dict or ``Verdict``) turned into a verdict."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial
from typing import Any

from agentloom.agents.candidates import Candidate, Verdict
from agentloom.agents.verifiers._base import VerifierBase
from agentloom.agents.verifiers._calls import bounded
from agentloom.errors import BudgetExceeded, ConfigError

__all__ = ["FunctionVerifier"]


def _question_mode(fn: Callable[..., Any]) -> str:
    """How ``fn`` takes the question: ``"keyword"``, ``"positional"`` (second argument) or ``"none"``."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return "none"
    for p in params:
        if p.name == "question":
            return "keyword" if p.kind == p.KEYWORD_ONLY else "positional"
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params):
        return "positional"
    return "none"


class FunctionVerifier(VerifierBase):
    """A user function or test suite as a verifier: ``fn(candidate)`` or
    ``fn(candidate, question)``, sync or async, returning a bool, a 0..1 float, a
    ``(score_or_bool, feedback)`` pair, a dict of Verdict fields, or a ``Verdict``.

    A function that raises gives that candidate a failed verdict with the error recorded; the
    other candidates are still verified. Sync functions run in a worker thread unless
    ``in_thread=False``; ``timeout`` (seconds) fails a candidate whose check takes too long.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        threshold: float = 0.5,
        name: str | None = None,
        max_concurrency: int = 8,
        timeout: float | None = None,
        in_thread: bool = True,
    ) -> None:
        if not callable(fn):
            raise ConfigError(f"FunctionVerifier needs a callable, not {type(fn).__name__}")
        self.fn = fn
        self.threshold = threshold
        self.name = name or getattr(fn, "__name__", "function") or "function"
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.in_thread = in_thread
        self._question_mode = _question_mode(fn)

    async def _call(self, candidate: Candidate, question: str | None) -> Any:
        args: tuple[Any, ...] = (candidate, question) if self._question_mode == "positional" else (candidate,)
        kwargs: dict[str, Any] = {"question": question} if self._question_mode == "keyword" else {}
        if inspect.iscoroutinefunction(self.fn):
            return await self.fn(*args, **kwargs)
        if self.in_thread:
            result = await asyncio.to_thread(self.fn, *args, **kwargs)
        else:
            result = self.fn(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def _one(self, candidate: Candidate, question: str | None) -> Verdict:
        try:
            if self.timeout is not None:
                result = await asyncio.wait_for(self._call(candidate, question), self.timeout)
            else:
                result = await self._call(candidate, question)
        except BudgetExceeded:
            raise
        except TimeoutError:
            return Verdict(candidate.id, 0.0, False, feedback=f"verifier timed out after {self.timeout:g}s", error="timeout")
        except Exception as exc:  # a broken check fails this candidate, not the run
            error = f"{type(exc).__name__}: {exc}"
            return Verdict(candidate.id, 0.0, False, feedback=f"verifier '{self.name}' raised {error}", error=error)
        return self._coerce(candidate, result)

    def _coerce(self, candidate: Candidate, result: Any) -> Verdict:
        feedback = ""
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], str):
            result, feedback = result
        if isinstance(result, Verdict):
            return replace(result, candidate_id=candidate.id)
        if result is None:
            return Verdict(candidate.id, 0.0, None, feedback=feedback or "the verifier returned None (no judgement)")
        if isinstance(result, bool):
            return Verdict(candidate.id, 1.0 if result else 0.0, result, feedback=feedback)
        if isinstance(result, int | float):
            score = float(result)
            return Verdict(candidate.id, score, score >= self.threshold, feedback=feedback)
        if isinstance(result, Mapping):
            data = dict(result)
            passed = data.get("passed")
            raw_score = data.get("score")
            score = float(raw_score) if raw_score is not None else 1.0 if passed else 0.0
            if "passed" not in data:
                passed = score >= self.threshold
            return Verdict(
                candidate.id,
                score,
                None if passed is None else bool(passed),
                feedback=str(data.get("feedback", feedback)),
                error=data.get("error"),
                field_scores={str(k): float(v) for k, v in (data.get("field_scores") or {}).items()},
                meta=dict(data.get("meta") or {}),
            )
        error = f"returned {type(result).__name__}; expected bool, float, dict or Verdict"
        return Verdict(candidate.id, 0.0, False, feedback=f"verifier '{self.name}' {error}", error=error)

    async def _verify(self, candidates: list[Candidate], question: str | None) -> list[Verdict]:
        return await bounded(self.max_concurrency, [partial(self._one, c, question) for c in candidates])
