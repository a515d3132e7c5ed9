"""What is in the bank and what it saved: ``stats`` for a scope, and JSON-lines ``export``."""

from __future__ import annotations

import json
import time
from typing import IO, Any

from agentloom.errors import ConfigError
from agentloom.memory._database import BankDatabase
from agentloom.memory._entries import EntryStore
from agentloom.memory._model_store import ModelStore
from agentloom.storage import Connection

__all__ = ["Report"]


class Report:
    """Stats and export for the bank scope ``store`` sees."""

    def __init__(self, store: EntryStore, models: ModelStore) -> None:
        self.store = store
        self.models = models
        self.db: BankDatabase = store.db

    def stats(self) -> dict[str, Any]:
        """Entries, hit rate and saved cost for this bank's scope."""
        where, params = self.db.where()
        now = time.time()
        entries, tokens, expired, verified = self.db.read(
            f"SELECT count(*), coalesce(sum(tokens), 0), coalesce(sum(CASE WHEN expires IS NOT NULL AND expires <= ? THEN 1 ELSE 0 END), 0), "
            f"coalesce(sum(verified), 0) FROM entries WHERE {where}", [now, *params])[0]
        by_kind = dict(self.db.read(f"SELECT kind, count(*) FROM entries WHERE {where} GROUP BY kind", params))
        reads = {r[0]: r[1:] for r in self.db.read(
            f"SELECT via, count(*), coalesce(sum(saved_seconds), 0), coalesce(sum(saved_tokens), 0), "
            f"coalesce(sum(saved_usd), 0) FROM reads WHERE {where} GROUP BY via", params)}
        executed = self.db.read(f"SELECT count(*) FROM decisions WHERE {where} AND source = 'tool'", params)[0][0]
        decided, admitted = self.db.read(
            f"SELECT count(*), coalesce(sum(admitted), 0) FROM decisions WHERE {where} AND reason NOT LIKE 'error:%'", params)[0]
        hits = reads.get("hit", (0, 0, 0, 0))[0]
        coalesced = reads.get("coalesced", (0, 0, 0, 0))[0]
        served = hits + coalesced
        saved = [sum(float(v[i]) for via, v in reads.items() if via in ("hit", "coalesced")) for i in (1, 2, 3)]
        model = self.models.load()
        return {
            "path": self.db.location(),
            "scope": self.db.scope_label(),
            "entries": int(entries),
            "by_kind": {k: int(v) for k, v in sorted(by_kind.items())},
            "tokens_stored": int(tokens),
            "expired": int(expired),
            "verified": int(verified),
            "tool_calls_executed": int(executed),
            "hits": int(hits),
            "coalesced": int(coalesced),
            "memory_reads": int(reads.get("memory_read", (0,))[0]),
            "hit_rate": round(served / (served + executed), 4) if served + executed else 0.0,
            "saved_seconds": round(saved[0], 3),
            "saved_tokens": int(saved[1]),
            "saved_usd": round(saved[2], 6),
            "decisions": int(decided),
            "admitted": int(admitted),
            "admit_rate": round(admitted / decided, 4) if decided else 0.0,
            "model_version": model.version if model is not None else None,
        }

    def export(self, out: IO[str], *, table: str = "entries") -> int:
        """Write ``entries`` (or ``decisions``, ``reads``, ``models``) as JSON lines; returns the count."""
        if table == "entries":
            n = 0
            for entry in self.store.entries():
                out.write(json.dumps(entry.to_dict(), ensure_ascii=False) + "\n")
                n += 1
            return n
        if table not in ("decisions", "reads", "models"):
            raise ConfigError(f"cannot export '{table}'; choose entries, decisions, reads or models")
        where, params = self.db.where() if table != "models" else ("1=1", [])

        def fetch(conn: Connection) -> tuple[list[str], list[Any]]:
            cur = conn.execute(f"SELECT * FROM {table} WHERE {where} ORDER BY 1", params)
            return [d[0] for d in cur.description], cur.fetchall()

        names, rows = self.db.query(fetch)
        for row in rows:
            record = dict(zip(names, row, strict=True))
            for field_name in ("features", "weights", "metrics"):
                if isinstance(record.get(field_name), str):
                    record[field_name] = json.loads(record[field_name])
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        return len(rows)
