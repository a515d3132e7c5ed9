"""``RayExecutor``: runs a callable as a Ray task with its own CPU request. Ray is imported
only when the first task is submitted. Ray's own ``max_retries`` re-runs a task whose worker
died mid-task; a task that finished is not run again, and its result comes back through Ray."""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agentloom.errors import ConfigError, ExecutorError
from agentloom.executors.base import Placement

__all__ = ["RayExecutor", "ray_available"]

_INSTALL = "pip install 'agentloom[ray]'"
_init_lock = threading.Lock()


def ray_available() -> bool:
    """Whether Ray can be imported here (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def _on_worker(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` wrapped to run on a Ray worker and report where it ran (coroutines are driven
    to completion there)."""

    def run(*args: Any, **kwargs: Any) -> tuple[Any, tuple[str, str, int]]:
        import ray

        value = fn(*args, **kwargs)
        if inspect.isawaitable(value):
            value = asyncio.run(_awaited(value))
        context = ray.get_runtime_context()
        return value, (context.get_node_id(), context.get_worker_id(), os.getpid())

    run.__name__ = getattr(fn, "__name__", "call")
    run.__qualname__ = getattr(fn, "__qualname__", run.__name__)
    return run


async def _awaited(value: Any) -> Any:
    return await value


class RayExecutor:
    """Submits calls to a Ray cluster: ``address`` (or ``RAY_ADDRESS``) names an existing one;
    without either, a local runtime is started with the dashboard off. If Ray is already
    initialised in this process (``ray.init`` by the caller), that runtime is used as it is."""

    name = "ray"
    remote = True

    def __init__(self, address: str | None = None, *, num_cpus: float = 1.0, max_retries: int = 3,
                 local_cpus: int | None = None, hosts: int | None = None) -> None:
        if num_cpus <= 0:
            raise ConfigError(f"executor num_cpus must be positive, not {num_cpus}")
        if max_retries < 0:
            raise ConfigError(f"executor max_retries must be 0 or more, not {max_retries}")
        self.address = address
        self.num_cpus = num_cpus
        self.max_retries = max_retries
        self.local_cpus = local_cpus
        if hosts is not None and hosts < 1:
            raise ConfigError(f"executor hosts must be 1 or more, not {hosts}")
        self.hosts = hosts
        self._remotes: dict[Any, Any] = {}
        self._pool: Any = None
        self._relay: Any = None

    def start(self) -> Any:
        """The ``ray`` module with a runtime connected (started on first use)."""
        try:
            import ray
        except ImportError:
            raise ConfigError(f"the ray executor needs Ray: {_INSTALL}") from None
        with _init_lock:
            if not ray.is_initialized():
                address = self.address or os.environ.get("RAY_ADDRESS") or None
                options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                           "configure_logging": False}
                if address is None and self.local_cpus is not None:
                    options["num_cpus"] = self.local_cpus
                try:
                    ray.init(address=address, **options)
                except (ConnectionError, RuntimeError, ValueError) as exc:
                    where = address or "a local runtime"
                    raise ConfigError(f"cannot start Ray at {where}: {' '.join(str(exc).split())[:200]}; "
                                      "check RAY_ADDRESS / executor address: and that `ray start --head` ran") from None
        return ray

    def _remote(self, ray: Any, fn: Callable[..., Any]) -> Any:
        remote = self._remotes.get(fn)
        if remote is None:
            if len(self._remotes) > 256:
                self._remotes.clear()
            remote = self._remotes[fn] = ray.remote(_on_worker(fn))
        return remote

    async def call(self, fn: Callable[..., Any], /, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None, *,
                   num_cpus: float | None = None, max_retries: int | None = None) -> tuple[Any, Placement]:
        ray = self.start()
        options = {"num_cpus": self.num_cpus if num_cpus is None else num_cpus,
                   "max_retries": self.max_retries if max_retries is None else max_retries}
        ref = self._remote(ray, fn).options(**options).remote(*args, **(kwargs or {}))
        try:
            value, (node_id, worker_id, pid) = await asyncio.wrap_future(ref.future())
        except asyncio.CancelledError:
            ray.cancel(ref)
            raise
        except ray.exceptions.RayTaskError as exc:  # the callable raised: re-raise its own error
            cause = exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else None
            if cause is not None:
                raise cause from None
            raise ExecutorError(f"{getattr(fn, '__name__', 'call')} failed on Ray: {_first_line(exc)}") from None
        except ray.exceptions.RayError as exc:  # worker lost past max_retries, node died, ...
            raise ExecutorError(f"{getattr(fn, '__name__', 'call')} could not finish on Ray "
                                f"after {options['max_retries']} retries: {_first_line(exc)}") from None
        return value, Placement("ray", str(node_id), str(worker_id), int(pid))

    async def call_async(self, fn: Callable[..., Any], /, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None,
                         *, relay_to: Callable[[Any], None] | None = None) -> tuple[Any, Placement]:
        """Await ``fn`` on one of the executor's async host actors (``hosts`` of them, by default
        one per CPU of the cluster, spread over its nodes; they ask for no CPU themselves). A
        host killed mid-call is restarted and the call re-run up to ``max_retries`` times."""
        ray = self.start()
        from agentloom.executors._ray_hosts import HostPool, Relay

        with _init_lock:
            if self._pool is None:
                size = self.hosts or max(1, int(ray.cluster_resources().get("CPU", 1)))
                self._pool = HostPool(ray, size, self.max_retries)
            if relay_to is not None and self._relay is None:
                self._relay = Relay(ray)
        relay = self._relay if relay_to is not None else None
        route = relay.open(relay_to) if relay is not None and relay_to is not None else None
        name = getattr(fn, "__name__", "call")
        try:
            value, (node_id, worker_id, pid) = await self._pool.call(fn, args, kwargs or {}, relay.mailbox if relay else None,
                                                                     route)
        except ray.exceptions.RayTaskError as exc:  # the coroutine raised: re-raise its own error
            cause = exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else None
            if cause is not None:
                raise cause from None
            raise ExecutorError(f"{name} failed on Ray: {_first_line(exc)}") from None
        except ray.exceptions.RayError as exc:  # the host died past its restarts, its node died, ...
            raise ExecutorError(f"{name} could not finish on Ray after {self.max_retries} retries: {_first_line(exc)}") from None
        finally:
            if relay is not None and route is not None:
                await relay.close(route)
        return value, Placement("ray", str(node_id), str(worker_id), int(pid))

    def here(self) -> Placement:
        """The driver: its Ray node and worker ids once Ray is up (never started just for this)."""
        ray = sys.modules.get("ray")
        if ray is None or not ray.is_initialized():
            return Placement("driver", socket.gethostname(), "", os.getpid())
        context = ray.get_runtime_context()
        return Placement("driver", str(context.get_node_id()), str(context.get_worker_id()), os.getpid())

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r}, num_cpus={self.num_cpus}, max_retries={self.max_retries})"


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__
