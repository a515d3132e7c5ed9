"""Sub-task planning: the model (purpose ``plan``, structured output) splits a task into
independent sub-tasks and says whether they depend on each other sequentially."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

from agentloom.models.base import call_model
from agentloom.models.resolve import resolve_model
from agentloom.models.types import Message, Model, ModelRequest

__all__ = ["SubTaskPlan", "plan_subtasks", "PLAN_INSTRUCTIONS"]

PLAN_INSTRUCTIONS = (
    "Split the task into independent sub-tasks that can be worked on in parallel, one per "
    "entity, side of a comparison or clause; each sub-task must be self-contained (repeat the "
    "predicate, e.g. 'What is the capacity of X?'). If the task cannot be split, return it as "
    "the single sub-task. Set sequential to true when a later step needs an earlier step's "
    "result (e.g. 'find X, then use it to ...'). Reply with a JSON object: "
    '{"sub_tasks": [...], "sequential": false, "reason": "..."}.'
)


class SubTaskPlan(BaseModel):
    """The model's split of a task."""

    sub_tasks: list[str] = Field(default_factory=list, description="Self-contained sub-tasks, in order.")
    sequential: bool = Field(False, description="True when later sub-tasks need earlier results.")
    reason: str = Field("", description="One line on how the task was split.")

    @field_validator("sub_tasks")
    @classmethod
    def _clean(cls, value: list[str]) -> list[str]:
        seen: dict[str, None] = {}
        for item in value:
            text = " ".join(str(item).split())
            if text:
                seen.setdefault(text, None)
        return list(seen)


async def plan_subtasks(model: str | Model | None, task: str, *, max_sub_tasks: int = 16, **metadata: Any) -> SubTaskPlan:
    """Ask ``model`` (purpose ``plan``) for the task's independent sub-tasks; never empty:
    a task that does not split comes back as its own single sub-task."""
    resolved = resolve_model(model)
    request = ModelRequest(
        messages=[Message("system", PLAN_INSTRUCTIONS), Message("user", f"Task: {task}")],
        output_type=SubTaskPlan,
        purpose="plan",
        temperature=0.0,
        max_tokens=1024,
        metadata={"question": task, **metadata},
    )
    completion = await call_model(resolved, request)
    plan = completion.parsed if isinstance(completion.parsed, SubTaskPlan) else SubTaskPlan.model_validate(completion.parsed)
    if not plan.sub_tasks:
        plan.sub_tasks = [" ".join(task.split())]
    plan.sub_tasks = plan.sub_tasks[:max_sub_tasks]
    return plan
