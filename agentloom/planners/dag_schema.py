"""The typed plan of ``DAGPlanner`` (LLMCompiler): tasks with ``id``, ``tool``, ``args`` and
``deps``, where args may reference earlier results as ``$3`` or ``$3.field``; and the joiner's
decision to finish or replan."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["DAGPlanSchema", "JoinDecision", "PlanTask"]

_DEP = re.compile(r"^\s*\$?(\d+)\s*$")


class PlanTask(BaseModel):
    """One tool call of the plan. ``deps`` may be omitted: references in ``args`` are
    dependencies anyway."""

    model_config = ConfigDict(extra="ignore")

    id: int = Field(ge=1, description="Task number: 1, 2, 3 ... continuing across replans.")
    tool: str = Field(min_length=1, description="The name of one of the listed tools.")
    args: dict[str, Any] = Field(default_factory=dict, description='Arguments; "$3" or "$3.field" uses task 3\'s result.')
    deps: list[int] = Field(default_factory=list, description="Ids of earlier tasks this one needs.")

    @field_validator("deps", mode="before")
    @classmethod
    def _deps(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, int | str):
            value = [value]
        out: list[Any] = []
        for item in value:
            match = _DEP.match(str(item)) if isinstance(item, str) else None
            out.append(int(match.group(1)) if match else item)
        return out


class DAGPlanSchema(BaseModel):
    """A whole plan, for structured (non-streaming) output."""

    model_config = ConfigDict(extra="ignore")

    tasks: list[PlanTask] = Field(default_factory=list, description="Tasks in an order where each comes after the tasks it needs.")
    thought: str = Field("", description="Optional: one line on the approach.")


class JoinDecision(BaseModel):
    """The joiner's call after the tasks ran: ``finish`` with the answer, or ``replan`` with
    feedback saying what is missing or failed. ``answer`` is the best answer so far either way."""

    model_config = ConfigDict(extra="ignore")

    action: Literal["finish", "replan"]
    answer: str = Field("", description="The answer from the task results, citing sources as [p_...] markers.")
    feedback: str = Field("", description="For replan: what failed or is missing, and what to try instead.")
