"""``MemoryBank``: a shared memory for parallel teams and runs, behind the storage seam (SQLite,
WAL, by default).

Entries carry a short ``key`` (what teams see) and a ``value`` (read on demand). The bank is the
executor's ``ToolCache``: an identical tool call is served from the bank (a *hit*), or joins the
same call already in flight in another team (*coalesced*), or runs and is offered to the
admission policy. Every admission decision is logged with its features and every read with the
reading team, so ``loom memory train`` can learn what is worth sharing.

This module is a thin facade over parts composed around one ``BankDatabase`` (``_database``):
``EntryStore`` (``_entries``), ``Admission`` (``_offer``), ``ToolResultCache``
(``_tool_cache``), ``Search`` (``_search``), ``Hygiene`` (``_hygiene``), ``ModelStore``
(``_model_store``) and ``Report`` (``_report``). Each can be built, tested or replaced alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from agentloom._paths import loom_home
from agentloom.errors import ConfigError
from agentloom.memory._database import SCOPES, BankDatabase
from agentloom.memory._entries import EntryStore
from agentloom.memory._hygiene import Hygiene
from agentloom.memory._model_store import ModelStore
from agentloom.memory._offer import Admission
from agentloom.memory._report import Report
from agentloom.memory._search import Search
from agentloom.memory._tool_cache import ToolResultCache, tool_key
from agentloom.memory.admission import AdmissionModel, AdmissionPolicy, LearnedAdmission
from agentloom.memory.types import Candidate, Decision, Embedder, MemoryEntry

if TYPE_CHECKING:
    from agentloom.memory.training import TrainReport
    from agentloom.tools.base import Tool, ToolResult

__all__ = ["MemoryBank", "SCOPES", "tool_key"]


class MemoryBank:
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
        self.db = BankDatabase(Path(path) if path is not None else loom_home() / "memory.db",
                               scope=scope, run_id=run_id, create=create)
        self.store = EntryStore(self.db, ttl=ttl, team=team)
        self.models = ModelStore(self.db)
        self.admission = Admission(self.store, policy if policy is not None else LearnedAdmission(), embedder=embedder,
                                   quota_entries=quota_entries, quota_tokens=quota_tokens, task=task)
        self.cache = ToolResultCache(self.store, self.admission)
        self.searcher = Search(self.db, embedder)
        self.hygiene = Hygiene(self.db)
        self.report = Report(self.store, self.models)
        self.policy.bind(self)

    @classmethod
    def for_scope(cls, name: str, *, run_id: str | None = None, path: str | Path | None = None, **kwargs: Any) -> MemoryBank:
        """The bank of scope ``name``: ``"run"`` (one run's entries; ``run_id`` or the current
        run's) or ``"project"`` (persists across runs). Same file, separate namespaces."""
        if name not in SCOPES:
            raise ConfigError(f"unknown memory scope '{name}'; use one of: {', '.join(SCOPES)}")
        return cls(path, scope=name, run_id=run_id, **kwargs)

    # ----------------------------------------------------------------- configuration
    @property
    def path(self) -> Path:
        return self.db.path

    @property
    def scope(self) -> str:
        return self.db.scope

    @property
    def run_id(self) -> str | None:
        return self.db.run_id

    @property
    def policy(self) -> AdmissionPolicy:
        return self.admission.policy

    @policy.setter
    def policy(self, policy: AdmissionPolicy) -> None:
        self.admission.policy = policy

    @property
    def embedder(self) -> Embedder | None:
        return self.searcher.embedder

    @property
    def ttl(self) -> float | None:
        return self.store.ttl

    @property
    def team(self) -> str | None:
        return self.store.team

    @property
    def task(self) -> str | None:
        return self.admission.task

    @property
    def quota_entries(self) -> int | None:
        return self.admission.quota_entries

    @property
    def quota_tokens(self) -> int | None:
        return self.admission.quota_tokens

    def __repr__(self) -> str:
        return f"MemoryBank({str(self.path)!r}, scope={self.scope!r}, policy={self.policy.name!r})"

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> MemoryBank:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def namespace(self) -> str:
        """The namespace writes go to now: ``project`` or ``run:<id>``."""
        return self.db.namespace()

    def scope_label(self) -> str:
        """``project``, ``run:<id>``, ``run:*`` (every run) or ``*`` (the whole file)."""
        return self.db.scope_label()

    # ----------------------------------------------------------------- entries
    def get(self, entry_id: str) -> MemoryEntry | None:
        """The entry with this id in the bank's scope (expired entries included), or None."""
        return self.store.get(entry_id)

    def lookup(self, fp: str, *, now: float | None = None) -> MemoryEntry | None:
        """The live entry stored for a tool-call fingerprint, or None."""
        return self.store.lookup(fp, now=now)

    def entries(self, *, kind: str | None = None, limit: int | None = None) -> Iterator[MemoryEntry]:
        """Every entry in scope, oldest first."""
        return self.store.entries(kind=kind, limit=limit)

    def __len__(self) -> int:
        return self.store.count()

    def passages(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Source passages (as tool results returned them) for citation ids, where known."""
        return self.store.passages(ids)

    def add(self, key: str, value: Any, *, kind: str = "finding", fingerprint: str | None = None, team: str | None = None,
            run: str | None = None, citations: list[str] | None = None, cost: dict[str, float] | None = None,
            verified: bool = False) -> MemoryEntry:
        """Store an entry directly (no admission policy); identical content is stored once."""
        return self.store.add(key, value, kind=kind, fingerprint=fingerprint, team=team, run=run,
                              citations=citations, cost=cost, verified=verified)

    def import_entries(self, entries: Iterable[MemoryEntry | dict[str, Any]], *, batch: int = 50_000) -> int:
        """Bulk-load entries into this scope, skipping content already stored; returns how many were added."""
        return self.store.import_entries(entries, batch=batch)

    def mark_verified(self, entry_id: str, verified: bool = True) -> bool:
        """Set an entry's verified flag (e.g. after a verifier accepted it); False if unknown."""
        return self.store.mark_verified(entry_id, verified)

    def read(self, entry_id: str, *, team: str | None = None, via: str = "memory_read") -> MemoryEntry:
        """Read an entry's value on behalf of ``team`` (default: the current team), logging it."""
        return self.store.read(entry_id, team=team, via=via)

    def note_shown(self, entry_ids: list[str]) -> None:
        """Count that these keys were put in a prompt (their context cost, for training)."""
        self.store.note_shown(entry_ids)

    # ----------------------------------------------------------------- admission and caching
    def offer(self, candidate: Candidate) -> Decision:
        """Offer one step for admission (see ``Admission.offer``)."""
        return self.admission.offer(candidate)

    def current_task(self) -> str:
        """What admission judges relevance against now (``use_task``, ``task=``, the run's input)."""
        return self.admission.current_task()

    async def call(self, tool: Tool, args: dict[str, Any], execute: Callable[[], Awaitable[ToolResult]]) -> ToolResult:
        """The ``ToolCache`` protocol: serve, join or run an identical tool call (see ``ToolResultCache``)."""
        return await self.cache.call(tool, args, execute)

    # ----------------------------------------------------------------- search, hygiene, models, reports
    def search(self, query: str, k: int = 8, *, kind: str | None = None, mode: str = "auto") -> list[MemoryEntry]:
        """The ``k`` entries most relevant to ``query`` (FTS5, fused with vectors when there is an embedder)."""
        return self.searcher.search(query, k, kind=kind, mode=mode)

    def evict(self, *, expired: bool = True, unused_for: float | None = None) -> int:
        """Delete expired entries and, with ``unused_for`` seconds, entries never read that old."""
        return self.hygiene.evict(expired=expired, unused_for=unused_for)

    def clear(self, *, logs: bool = False) -> int:
        """Delete every entry in scope (and, with ``logs``, its logs); returns how many entries went."""
        return self.hygiene.clear(logs=logs)

    def load_model(self, version: int | None = None) -> AdmissionModel | None:
        """The newest trained admission model (or ``version``), or None."""
        return self.models.load(version)

    def save_model(self, model: AdmissionModel) -> int:
        """Store a trained model as the next version; returns the version."""
        return self.models.save(model)

    def stats(self) -> dict[str, Any]:
        """Entries, hit rate and saved cost for this bank's scope."""
        return self.report.stats()

    def export(self, out: IO[str], *, table: str = "entries") -> int:
        """Write ``entries`` (or ``decisions``, ``reads``, ``models``) as JSON lines; returns the count."""
        return self.report.export(out, table=table)

    def train(self, **kwargs: Any) -> TrainReport:
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
