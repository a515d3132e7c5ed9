"""What a planned fan-out will cost, for the plan and spend gates: the branches and the steps
after them, from earlier runs of the same graph when the run store has some, else from the
shape of the branch's tool loop.

Prior (no history): a branch runs its agent's loop for ``T = (max_turns + 2) / 2`` model calls,
the midpoint between answering at once and using every turn plus the best-answer call. The
first call reads the branch prompt (instructions, sub-question, tool schemas); each turn then
adds the results of its tool calls, counted as ``min(2, the turn's width)`` calls (models issue
far fewer than a wide schedule allows) each about as long as that prompt. Each model step after
the fan-out reads the question and every branch's answer: one call of the size seen so far plus
half of one per branch.

History: the mean tokens and calls per branch, and per step after the fan-out (scaled to the
branch count), over the last completed runs of this graph. Either way it is labelled an estimate.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["BranchShape", "Measured", "branch_shape", "estimate", "history", "per_branch"]

#: Earlier runs read for the estimate (newest first), and how many run rows are looked through.
_HISTORY_RUNS = 8
_HISTORY_SCAN = 60
#: Node kinds after a fan-out that call a model once each.
_MODEL_STEPS = ("writer", "crossover", "agent")


@dataclass(frozen=True)
class BranchShape:
    """What a branch of the fan-out runs: its loop's turns, prompt text and tools."""

    max_turns: int = 1
    prompt_text: str = ""
    tools: tuple[str, ...] = ()
    steps_after: int = 1
    widths: tuple[int, ...] = (1,)  # tool-call width per turn (the agent's schedule)


@dataclass(frozen=True)
class Measured:
    """Per-branch and after-fan-out spend measured on earlier runs of the graph."""

    runs: int
    branch_calls: float
    branch_tokens: float
    rest_calls: float
    rest_tokens_per_branch: float
    usd_per_token: float | None


def branch_shape(spec: Any, planner: str) -> BranchShape:
    """The shape of the map that fans out over ``planner``'s branches (defaults when none does)."""
    from agentloom.agents.agent import DEFAULT_INSTRUCTIONS

    fan_out = None
    for name, node in spec.nodes.items():
        if getattr(node, "kind", None) == "map" and str(node.over or "").strip("{} ").split(".", 1)[0] == planner:
            fan_out = name
            break
    if fan_out is None:
        return BranchShape()
    body = spec.nodes[fan_out].node
    names = list(spec.nodes)
    after = names[names.index(fan_out) + 1:] if fan_out in names else []
    steps = sum(1 for n in after if getattr(spec.nodes[n], "kind", None) in _MODEL_STEPS)
    if getattr(body, "kind", None) != "agent":
        return BranchShape(steps_after=steps)
    from agentloom.planners.width import parse_width

    prompt = f"{body.instructions or DEFAULT_INSTRUCTIONS}\n{body.task}"
    try:
        schedule = parse_width(body.width if body.width is not None else "descending")
        widths = tuple(schedule.width(t) for t in range(int(body.max_turns)))
    except Exception:  # a width only the run can resolve: one call per turn
        widths = (1,) * int(body.max_turns)
    return BranchShape(max_turns=int(body.max_turns), prompt_text=prompt, tools=tuple(body.tools), steps_after=steps,
                       widths=widths)


def _tokens(text: str) -> int:
    from agentloom.tokens import count_tokens

    return count_tokens(text)


def estimate(
    shape: BranchShape,
    sub_tasks: Sequence[str],
    branches: int,
    spent: Mapping[str, Any],
    *,
    tool_schemas: Sequence[Mapping[str, Any]] = (),
    measured: Measured | None = None,
) -> dict[str, Any]:
    """The projected rest of the run after the gate (``llm_calls``, ``tokens``, ``usd``) and the
    whole run (``run_tokens``, ``run_llm_calls``: spend so far included), with how it was made."""
    calls_so_far = int(spent.get("llm_calls") or 0)
    per_call_so_far = (float(spent.get("tokens") or 0) / calls_so_far) if calls_so_far else 0.0
    usd_per_token = (float(spent["usd"]) / float(spent["tokens"])) if spent.get("usd") and spent.get("tokens") else None
    if measured is not None and measured.runs:
        branch_calls, branch_tokens = measured.branch_calls, measured.branch_tokens
        rest_calls = measured.rest_calls
        rest_tokens = measured.rest_tokens_per_branch * max(1, branches)
        usd_per_token = usd_per_token or measured.usd_per_token
        basis = (f"from {measured.runs} earlier run{'s' if measured.runs != 1 else ''} of this graph: "
                 f"~{branch_tokens:,.0f} tokens in ~{branch_calls:.1f} model calls per branch")
    else:
        turns = (shape.max_turns + 2) / 2
        task = max(sub_tasks, key=len) if sub_tasks else ""
        schemas = json.dumps(list(tool_schemas), separators=(",", ":")) if tool_schemas else ""
        prompt = _tokens(shape.prompt_text.replace("{item}", task)) + _tokens(schemas)
        branch_calls = turns
        branch_tokens = prompt * _prompts_read(turns, shape.widths)
        rest_calls = float(shape.steps_after)
        rest_tokens = shape.steps_after * per_call_so_far * (1 + max(1, branches) / 2)
        basis = (f"from the branch's tool loop: ~{turns:g} model calls of a {prompt:,}-token prompt growing by "
                 f"its tool results, per branch")
    calls = branches * branch_calls + rest_calls
    tokens = branches * branch_tokens + rest_tokens
    return {
        "llm_calls": round(calls, 1),
        "tokens": int(round(tokens)),
        "usd": None if usd_per_token is None else round(tokens * usd_per_token, 6),
        "per_branch": {"llm_calls": round(branch_calls, 1), "tokens": int(round(branch_tokens))},
        "run_llm_calls": round(calls + calls_so_far, 1),
        "run_tokens": int(round(tokens + float(spent.get("tokens") or 0))),
        "basis": "history" if measured is not None and measured.runs else "prior",
        "estimate": basis,
    }


def per_branch(shape: BranchShape, unit: str, *, tool_schemas: Sequence[Mapping[str, Any]] = (),
               measured: Measured | None = None) -> float | None:
    """What one branch costs in ``unit`` by the same estimate the plan gate shows, for a width
    planner to size its first round with (None for a unit it does not estimate)."""
    out = estimate(shape, (), 1, {}, tool_schemas=tool_schemas, measured=measured)["per_branch"]
    if unit == "llm_calls":
        return float(out["llm_calls"])
    if unit in ("tokens", "input_tokens"):  # input dominates a tool loop's tokens: an upper bound for input
        return float(out["tokens"])
    if unit == "usd" and measured is not None and measured.usd_per_token:
        return float(out["tokens"]) * measured.usd_per_token
    return None


def _prompts_read(turns: float, widths: tuple[int, ...]) -> float:
    """How many prompt-lengths ``turns`` calls read in all: call ``k`` reads the prompt plus the
    results of the turns before it, ``min(2, width)`` prompt-long results a turn."""
    total, seen, k = 0.0, 1.0, 0
    while k < turns:
        share = min(1.0, turns - k)  # a fractional last call counts in part
        total += share * seen
        seen += min(2, widths[k] if k < len(widths) else 1)
        k += 1
    return total


def history(store: Any, graph: str, *, exclude: str | None = None) -> Measured | None:
    """Per-branch and after-fan-out spend of the last completed runs of ``graph`` (None when
    there are none); reads the run store, so call it off the event loop."""
    if store is None:
        return None
    rows = [r for r in store.list_runs(limit=_HISTORY_SCAN)
            if r.status == "ok" and r.id != exclude and (r.meta or {}).get("graph") == graph][:_HISTORY_RUNS]
    samples: list[tuple[float, float, float, float, float, float]] = []
    for record in rows:
        teams: set[str] = set()
        branch_calls = branch_tokens = rest_calls = rest_tokens = usd = tokens = 0.0
        for event in store.events(record.id, "model_call"):
            data = event.get("data") or {}
            used = float(data.get("input_tokens") or 0) + float(data.get("output_tokens") or 0)
            tokens += used
            usd += float(data.get("usd") or 0.0)
            if event.get("team"):
                teams.add(str(event["team"]))
                branch_calls += 1
                branch_tokens += used
            elif data.get("purpose") != "plan":
                rest_calls += 1
                rest_tokens += used
        if teams:
            n = len(teams)
            samples.append((branch_calls / n, branch_tokens / n, rest_calls, rest_tokens / n, usd, tokens))
    if not samples:
        return None
    k = len(samples)
    usd_total, tokens_total = sum(s[4] for s in samples), sum(s[5] for s in samples)
    return Measured(runs=k, branch_calls=sum(s[0] for s in samples) / k, branch_tokens=sum(s[1] for s in samples) / k,
                    rest_calls=sum(s[2] for s in samples) / k, rest_tokens_per_branch=sum(s[3] for s in samples) / k,
                    usd_per_token=usd_total / tokens_total if usd_total and tokens_total else None)
