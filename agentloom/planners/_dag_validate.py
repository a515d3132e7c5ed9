"""Plan validation for DAGPlanner: unknown tools, duplicate or reused ids, references to tasks
that do not exist, come later (forward references) or form cycles, failed dependencies, and
arguments that do not fit the tool's ``args_model``. Every problem is one line the model can
act on in its single repair."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from agentloom.planners.dag_schema import PlanTask
from agentloom.tools.base import Tool
from agentloom.tools.executor import references_in

__all__ = ["check_args", "check_task", "find_cycle", "task_refs", "validate_plan"]


def task_refs(task: PlanTask) -> set[str]:
    """Every task id ``task`` needs: its ``deps`` and the ``$id`` references in its args."""
    return {str(d) for d in task.deps} | references_in(task.args)


def check_args(tool: Tool, args: Mapping[str, Any]) -> list[str]:
    """Problems with ``args`` for ``tool``. Arguments holding a ``$id`` reference are checked
    for existence only: their value is known once the referenced task has run."""
    problems: list[str] = []
    fields = tool.args_model.model_fields
    with_refs = {k for k, v in args.items() if references_in(v)}
    for name in sorted(with_refs):
        if name not in fields:
            problems.append(f"unknown argument '{name}' (parameters: {', '.join(fields) or 'none'})")
    plain = {k: v for k, v in args.items() if k not in with_refs}
    try:
        tool.args_model.model_validate(plain)
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(arguments)"
            if err["type"] == "missing" and err["loc"] and err["loc"][0] in with_refs:
                continue
            if err["type"] == "extra_forbidden":
                problems.append(f"unknown argument '{loc}' (parameters: {', '.join(fields) or 'none'})")
            else:
                problems.append(f"argument '{loc}': {err['msg']}")
    return problems


def check_task(
    task: PlanTask,
    tools: Mapping[str, Tool],
    *,
    executed: Mapping[str, bool],
    accepted: Sequence[str],
    rejected: Sequence[str] = (),
    later: Sequence[str] = (),
    next_id: int = 1,
) -> list[str]:
    """Problems with one task given what is known: ``executed`` ids (id -> succeeded), ids
    ``accepted`` earlier in this plan, ids ``rejected`` earlier, and ids that come ``later``
    in the plan (a reference to one is a forward reference)."""
    tid = str(task.id)
    problems: list[str] = []
    if tid in executed:
        problems.append(f"task {tid}: id {tid} belongs to an executed task; continue numbering from {next_id}")
    elif tid in accepted:
        problems.append(f"task {tid}: duplicate task id {tid}")
    tool = tools.get(task.tool)
    if tool is None:
        problems.append(f"task {tid}: unknown tool '{task.tool}'; available tools: {', '.join(sorted(tools)) or 'none'}")
    for ref in sorted(task_refs(task), key=lambda r: (len(r), r)):
        if ref == tid:
            problems.append(f"task {tid}: references itself (${ref}), a cycle")
        elif ref in executed:
            if not executed[ref]:
                problems.append(f"task {tid}: depends on task {ref}, which failed; plan a replacement instead of using ${ref}")
        elif ref in accepted:
            continue
        elif ref in rejected:
            problems.append(f"task {tid}: depends on task {ref}, which was rejected; resend both")
        elif ref in later:
            problems.append(f"task {tid}: forward reference to task {ref}, which comes later; list tasks after the tasks they need")
        else:
            problems.append(f"task {tid}: references ${ref}, which is neither a task of this plan nor an executed task")
    if tool is not None:
        problems.extend(f"task {tid} ({task.tool}): {p}" for p in check_args(tool, task.args))
    return problems


def find_cycle(tasks: Sequence[PlanTask]) -> list[str] | None:
    """A dependency cycle among ``tasks`` as a list of ids (first id repeated at the end)."""
    graph = {str(t.id): sorted(task_refs(t)) for t in tasks}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None


def validate_plan(
    tasks: Sequence[PlanTask],
    tools: Mapping[str, Tool],
    *,
    executed: Mapping[str, bool],
    next_id: int = 1,
    max_tasks: int = 64,
) -> list[str]:
    """Every problem of a whole (non-streamed) plan; empty when it can run as given."""
    problems: list[str] = []
    if len(tasks) > max_tasks:
        problems.append(f"the plan has {len(tasks)} tasks; at most {max_tasks} are allowed per plan")
    cycle = find_cycle(tasks)
    in_cycle: set[str] = set()
    if cycle:
        problems.append("dependency cycle: " + " -> ".join(cycle) + "; a task cannot need its own result")
        in_cycle = set(cycle)
    ids = [str(t.id) for t in tasks]
    accepted: list[str] = []
    for i, task in enumerate(tasks):
        found = check_task(task, tools, executed=executed, accepted=accepted, later=ids[i + 1:], next_id=next_id)
        if str(task.id) in in_cycle:
            found = [p for p in found if "forward reference" not in p and "references itself" not in p]
        problems.extend(found)
        accepted.append(str(task.id))
    return problems
