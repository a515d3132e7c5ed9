"""Value types of width-vs-depth planning: the ``Plan`` a planner returns, the ``Feedback`` it
reads (verdicts and answers of the rounds so far), and the ``Planner`` protocol.

Verdicts are duck-typed: anything with ``.score`` (0..1) and ``.passed`` (True, False or None
for unverified) works, so planners do not depend on a particular verifier module.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from agentloom import tracing
from agentloom.answers import agreement
from agentloom.budget import Budget
from agentloom.citations import CITE_MARKER
from agentloom.events import PlanMade

__all__ = [
    "Feedback",
    "Plan",
    "Planner",
    "RoundFeedback",
    "agreement",
    "normalize_answer",
    "record_decision",
]


@dataclass(frozen=True)
class Plan:
    """The next round a planner asks for (a frozen value: a planner returns a new one per round)."""

    width: int
    """How many branches run this round (per sub-task when there are ``sub_tasks``)."""
    refine: bool = False
    """Deepen: refine the best candidate so far instead of sampling fresh ones."""
    sub_tasks: list[str] = field(default_factory=list)
    """The independent parts the branches work on (empty: the whole task)."""
    stop: bool = False
    """Stop: no more rounds."""
    reason: str = ""
    """Why, in one line (shown in ``loom runs show``)."""
    round: int = 0
    """The 0-based round this plan is for."""
    depth: int = 1
    """The rounds the planner still expects to run, this one included (0 when stopping)."""
    estimates: dict[str, Any] = field(default_factory=dict)
    """The numbers behind the decision (p, F(N), marginal gain, N*...)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "refine": self.refine,
            "sub_tasks": list(self.sub_tasks),
            "stop": self.stop,
            "reason": self.reason,
            "round": self.round,
            "depth": self.depth,
            "estimates": dict(self.estimates),
        }


_SPACE = re.compile(r"\s+")
_NUMBER = re.compile(r"^[-+]?\d[\d,]*(?:\.\d+)?$")


def normalize_answer(answer: Any) -> str:
    """A comparable form of an answer: case and spacing folded, numbers written canonically,
    trailing punctuation and citation markers dropped."""
    text = str(answer if answer is not None else "")
    text = CITE_MARKER.sub(" ", text)
    text = _SPACE.sub(" ", text).strip().strip(".!?;:").strip().lower()
    if _NUMBER.match(text):
        value = float(text.replace(",", ""))
        return str(int(value)) if value.is_integer() else repr(value)
    return text


@dataclass(frozen=True)
class RoundFeedback:
    """What one finished round produced, and how it was run."""

    width: int
    """How many branches ran."""
    refine: bool = False
    """Whether the round refined the best so far (rather than sampling fresh)."""
    verdicts: list[Any] = field(default_factory=list)
    """The branches' verdicts: any objects with ``score`` (0..1) and ``passed``."""
    answers: list[Any] = field(default_factory=list)
    """The branches' answers (for agreement)."""
    cost: float = 0.0
    """What the round cost, in the planner's unit."""

    @property
    def passes(self) -> int:
        return sum(1 for v in self.verdicts if getattr(v, "passed", None) is True)

    @property
    def verified(self) -> int:
        return sum(1 for v in self.verdicts if getattr(v, "passed", None) is not None)

    @property
    def best_score(self) -> float | None:
        scores = [float(v.score) for v in self.verdicts if getattr(v, "passed", None) is not None]
        return max(scores) if scores else None


@dataclass
class Feedback:
    """Everything a planner knows about the task so far, one ``RoundFeedback`` per round.

    ``sequential`` says the task has sequential dependencies (from the sub-task planner, or
    the caller); ``sub_tasks`` are the task's independent parts when known.
    """

    rounds: list[RoundFeedback] = field(default_factory=list)
    sequential: bool | None = None
    sub_tasks: list[str] = field(default_factory=list)

    @property
    def round(self) -> int:
        """The 0-based index of the next round."""
        return len(self.rounds)

    def add(
        self,
        verdicts: Sequence[Any] = (),
        answers: Sequence[Any] = (),
        *,
        width: int | None = None,
        refine: bool = False,
        cost: float = 0.0,
    ) -> RoundFeedback:
        """Record one finished round."""
        entry = RoundFeedback(
            width=width if width is not None else max(len(verdicts), len(answers)),
            refine=refine,
            verdicts=list(verdicts),
            answers=list(answers),
            cost=float(cost),
        )
        self.rounds.append(entry)
        return entry

    @property
    def verdicts(self) -> list[Any]:
        return [v for r in self.rounds for v in r.verdicts]

    @property
    def answers(self) -> list[Any]:
        return [a for r in self.rounds for a in r.answers]

    @property
    def branches(self) -> int:
        return sum(r.width for r in self.rounds)

    @property
    def cost(self) -> float:
        return sum(r.cost for r in self.rounds)

    @property
    def passes(self) -> int:
        return sum(r.passes for r in self.rounds)

    @property
    def verified(self) -> int:
        return sum(r.verified for r in self.rounds)

    def best_score(self) -> float | None:
        scores = [s for s in (r.best_score for r in self.rounds) if s is not None]
        return max(scores) if scores else None

    def agreement(self) -> tuple[float, str | None]:
        return agreement(self.answers)

    def score_trend(self) -> list[float]:
        """The best verifier score of each round that had verified branches, in order."""
        return [s for s in (r.best_score for r in self.rounds) if s is not None]


@runtime_checkable
class Planner(Protocol):
    """Turns the task, the remaining budget and the feedback so far into the next ``Plan``."""

    name: str

    async def next_plan(self, task: str, remaining: Budget | float | None, feedback: Feedback) -> Plan: ...


def record_decision(planner: str, plan: Plan, **extra: Any) -> None:
    """Record a planner's decision (with its reason) in the current run, for ``loom runs show``."""
    data = {**plan.to_dict(), **extra}
    tracing.emit("decision", planner, data=data, event_cls=PlanMade)
