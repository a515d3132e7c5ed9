"""The function node: a user callable called with rendered arguments (and state/config
when it asks for them); sync callables run in a thread, map branches on a remote executor."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping
from typing import Any

from agentloom import executors, tracing
from agentloom.errors import ConfigError
from agentloom.graph._interp import render
from agentloom.graph._nodes._common import Output
from agentloom.graph._resources import Resources, signature_accepts
from agentloom.graph._state import jsonable
from agentloom.graph.spec import FunctionNode

__all__ = ["run_function"]


async def run_function(n: FunctionNode, name: str, scope: Mapping[str, Any], res: Resources, config: Mapping[str, Any],
                       *, remote: bool = False) -> Output:
    """Call the node's function; with ``remote`` (a map branch) on the run's executor when that
    is remote, recording in the run store which node and worker ran it."""
    fn = res.refs[n.fn]
    if not callable(fn):
        raise ConfigError(f"function node '{name}': {n.fn} is not callable")
    args = render(n.args, scope)
    if signature_accepts(fn, "state") and "state" not in args:
        args["state"] = dict(scope)
    if signature_accepts(fn, "config") and "config" not in args and config:
        args["config"] = dict(config)
    executor = executors.current() if remote else None
    if executor is not None and executor.remote:
        value, where = await executor.call(fn, (), args)
        tracing.emit("placement", name, data={"what": "branch", **where.as_data()})
    elif inspect.iscoroutinefunction(fn):
        value = await fn(**args)
    else:
        value = await asyncio.to_thread(fn, **args)
        if inspect.isawaitable(value):
            value = await value
    return jsonable(value), False
