"""Deciding how wide and how deep to go: width schedules, width-vs-depth planners, LLMCompiler
DAG plans. (Parallel-Distill-Refine runs agents and a crossover, so it lives in ``agents``:
``agentloom.agents.PDR``.)

- ``parse_width`` / ``WidthSchedule``: tool-call width per agent turn.
- ``Plan``, ``Feedback``: what a planner returns and reads; ``FixedPlanner``,
  ``ScheduledPlanner`` and ``BudgetPlanner`` choose each round's width and depth;
  ``run_rounds`` drives one.
- ``DAGPlanner``: plan → streaming dispatch → join, standalone or in ``Agent(planner=...)``.
"""

from __future__ import annotations

from agentloom.planners.budget_planner import BudgetPlanner, parallel_gain, saturation_width
from agentloom.planners.dag import DAGPlanner, DAGRun, TaskRecord
from agentloom.planners.dag_schema import DAGPlanSchema, JoinDecision, PlanTask
from agentloom.planners.fixed import FixedPlanner, ScheduledPlanner
from agentloom.planners.rounds import Branch, RoundsResult, run_rounds
from agentloom.planners.subtasks import SubTaskPlan, plan_subtasks
from agentloom.planners.types import Feedback, Plan, Planner, RoundFeedback, agreement, normalize_answer
from agentloom.planners.width import SCHEDULE_NAMES, WidthSchedule, parse_width

__all__ = [
    "SCHEDULE_NAMES",
    "Branch",
    "BudgetPlanner",
    "DAGPlanSchema",
    "DAGPlanner",
    "DAGRun",
    "Feedback",
    "FixedPlanner",
    "JoinDecision",
    "Plan",
    "PlanTask",
    "Planner",
    "RoundFeedback",
    "RoundsResult",
    "ScheduledPlanner",
    "SubTaskPlan",
    "TaskRecord",
    "WidthSchedule",
    "agreement",
    "normalize_answer",
    "parallel_gain",
    "parse_width",
    "plan_subtasks",
    "run_rounds",
    "saturation_width",
]
