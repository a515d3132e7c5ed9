"""Durable map-branch results: each finished branch's state update is written to
``<loom home>/branches.db`` (keyed by run, step, node, index and a digest of the branch's input)
before the branch returns, and a resumed run takes it from there instead of running the branch
again. LangGraph's own checkpoint writes for finished branches can wait behind
``max_concurrency``, so a SIGKILL would otherwise lose them and repeat their side effects."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

from agentloom._paths import loom_home
from agentloom.graph._state import jsonable
from agentloom.storage import Database, open_database

__all__ = ["branch_key", "forget", "recorded", "record"]

_SCHEMA = ("CREATE TABLE IF NOT EXISTS branch_results (run_id TEXT, step INTEGER, node TEXT, idx INTEGER, "
           "digest TEXT, kind TEXT, data BLOB, PRIMARY KEY (run_id, step, node, idx, digest))")
_open: dict[Path, Database] = {}
_lock = threading.Lock()


def _database() -> Database:
    home = loom_home()
    home.mkdir(parents=True, exist_ok=True)
    path = home / "branches.db"
    with _lock:
        db = _open.get(path)
        if db is None:
            db = open_database(path, "branches")
            if "branch_results" not in db.tables():
                db.write(lambda conn: conn.execute(_SCHEMA))
            _open[path] = db
        return db


def branch_key(config: Any, node: str, index: int, state: Any) -> tuple[str, int, str, int, str] | None:
    """The durable key of one branch, or None outside a checkpointed run (no thread id)."""
    conf = config.get("configurable", {}) if isinstance(config, dict) else {}
    run_id = conf.get("thread_id")
    if not run_id:
        return None
    meta = config.get("metadata", {}) if isinstance(config, dict) else {}
    step = int(meta.get("langgraph_step", -1))
    digest = hashlib.sha256(json.dumps(jsonable(state), sort_keys=True, default=str).encode()).hexdigest()[:32]
    return str(run_id), step, node, index, digest


async def recorded(key: tuple[str, int, str, int, str]) -> dict[str, Any] | None:
    """The update a branch returned before, or None."""
    db = _database()
    rows = await db.aread("SELECT kind, data FROM branch_results WHERE run_id = ? AND step = ? AND node = ? "
                          "AND idx = ? AND digest = ?", key)
    if not rows:
        return None
    found: dict[str, Any] = _serde().loads_typed((rows[0][0], bytes(rows[0][1])))
    return found


async def record(key: tuple[str, int, str, int, str], update: dict[str, Any]) -> None:
    """Write a finished branch's update, committed before this returns."""
    db = _database()
    kind, data = _serde().dumps_typed(update)
    await db.awrite(lambda conn: conn.execute(
        db.dialect.upsert("branch_results", ("run_id", "step", "node", "idx", "digest", "kind", "data"),
                          ("run_id", "step", "node", "idx", "digest")), (*key, kind, data)))


def _serde() -> Any:
    """LangGraph's checkpoint serializer, so a replayed update has the types a checkpoint keeps."""
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    return JsonPlusSerializer()


async def forget(run_id: str) -> None:
    """Drop a run's branch results once it has finished (nothing is left to resume)."""
    if not (loom_home() / "branches.db").exists():
        return
    db = _database()
    await db.awrite(lambda conn: conn.execute("DELETE FROM branch_results WHERE run_id = ?", (run_id,)))
