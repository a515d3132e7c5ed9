"""``MemoryBank``: a shared memory for parallel teams and runs, in SQLite (sqlite-utils, WAL).

Entries carry a short ``key`` (what teams see) and a ``value`` (read on demand). The bank is the
executor's ``ToolCache``: an identical tool call is served from the bank (a *hit*), or joins the
same call already in flight in another team (*coalesced*), or runs and is offered to the
admission policy. Every admission decision is logged with its features and every read with the
reading team, so ``loom memory train`` can learn what is worth sharing.

This module is the facade: the parts live in ``_base`` (connection, scope, transactions),
``_store`` (entries and reads), ``_admit`` (``offer``), ``_cache`` (``call``), ``_search``,
``_hygiene`` (quotas, eviction), ``_models`` and ``_report`` (stats, export).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agentloom._paths import loom_home
from agentloom._sqlite import DBLock, open_db
from agentloom.errors import ConfigError
from agentloom.memory._base import SCOPES
from agentloom.memory._cache import CacheMixin, tool_key
from agentloom.memory._hygiene import HygieneMixin
from agentloom.memory._report import ReportMixin
from agentloom.memory._schema import ensure_schema
from agentloom.memory._search import SearchMixin
from agentloom.memory.admission import AdmissionPolicy, LearnedAdmission
from agentloom.memory.types import Embedder

__all__ = ["MemoryBank", "SCOPES", "tool_key"]


class MemoryBank(CacheMixin, SearchMixin, HygieneMixin, ReportMixin):
    """A memory bank at ``path`` (default ``<loom home>/memory.db``), in one scope.

    ``MemoryBank()`` is the project bank (persists across runs); ``MemoryBank("run")`` or
    ``MemoryBank.for_scope("run", run_id=...)`` keeps entries in one run's namespace (with no
    ``run_id``, the current run's). A ``str`` path equal to a scope name is read as that scope.
    ``policy`` decides admission (default: ``LearnedAdmission``, which falls back to the
    heuristic until a model is trained). ``embedder`` adds vector search; there is none by
    default. ``ttl`` (seconds) makes entries expire; ``quota_entries``/``quota_tokens`` cap
    what one run may store.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        scope: str = "project",
        run_id: str | None = None,
        policy: AdmissionPolicy | None = None,
        embedder: Embedder | None = None,
        ttl: float | None = None,
        quota_entries: int | None = None,
        quota_tokens: int | None = None,
        task: str | None = None,
        team: str | None = None,
        create: bool = True,
    ) -> None:
        if isinstance(path, str) and path in SCOPES + ("all",):
            scope, path = path, None
        if scope not in SCOPES + ("all",):
            raise ConfigError(f"unknown memory scope '{scope}'; use one of: {', '.join(SCOPES)}")
        if ttl is not None and ttl <= 0:
            raise ConfigError(f"memory ttl must be positive seconds, got {ttl}")
        for name, value in (("quota_entries", quota_entries), ("quota_tokens", quota_tokens)):
            if value is not None and value < 0:
                raise ConfigError(f"memory {name} must be 0 or more, got {value}")
        self.path = Path(path) if path is not None else loom_home() / "memory.db"
        self.scope = scope
        self.run_id = run_id
        self.ttl = ttl
        self.quota_entries = quota_entries
        self.quota_tokens = quota_tokens
        self.task = task
        self.team = team
        self.embedder = embedder
        self.db = open_db(self.path, "memory", create=create)
        self._conn = self.db.conn
        self._conn.execute("PRAGMA cache_size = -32768")  # 32 MB page cache: indexes stay hot on big banks
        self._file_key = str(self.path.resolve())
        self._lock = DBLock.for_path(self.path)
        self._run_tasks = {}
        self._vectors = None
        self._vec_lock = threading.Lock()
        with self._lock:
            self._guard(lambda: ensure_schema(self.db))
        self.policy = policy if policy is not None else LearnedAdmission()
        self.policy.bind(self)

    @classmethod
    def for_scope(cls, name: str, *, run_id: str | None = None, path: str | Path | None = None, **kwargs: Any) -> MemoryBank:
        """The bank of scope ``name``: ``"run"`` (one run's entries; ``run_id`` or the current
        run's) or ``"project"`` (persists across runs). Same file, separate namespaces."""
        if name not in SCOPES:
            raise ConfigError(f"unknown memory scope '{name}'; use one of: {', '.join(SCOPES)}")
        return cls(path, scope=name, run_id=run_id, **kwargs)

    def __repr__(self) -> str:
        return f"MemoryBank({str(self.path)!r}, scope={self.scope!r}, policy={self.policy.name!r})"

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> MemoryBank:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def train(self, **kwargs: Any) -> Any:
        """Fit a ``LearnedAdmission`` model from this bank's logs and store it (see ``training.train``)."""
        from agentloom.memory.training import train

        return train(self, **kwargs)

    def audit(self, **kwargs: Any) -> dict[str, Any]:
        """Duplicate, near-duplicate and stale rates (see ``audit.audit``)."""
        from agentloom.memory.audit import audit

        return audit(self, **kwargs)

    @contextmanager
    def using_task(self, task: str) -> Iterator[MemoryBank]:
        """Judge relevance against ``task`` inside the body (sugar for ``use_task``)."""
        from agentloom.memory.context import use_task

        with use_task(task):
            yield self
