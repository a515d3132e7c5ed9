"""``ModelStore``: the trained admission models kept in the bank's file, versioned (``loom memory
train`` writes them; ``LearnedAdmission`` loads the newest)."""

from __future__ import annotations

from typing import Any

from agentloom.memory._database import BankDatabase
from agentloom.memory._rows import insert
from agentloom.memory.admission import AdmissionModel
from agentloom.storage import Connection

__all__ = ["ModelStore"]


class ModelStore:
    """Loading and saving trained admission models in ``db``'s file (models span every scope)."""

    def __init__(self, db: BankDatabase) -> None:
        self.db = db

    def load(self, version: int | None = None) -> AdmissionModel | None:
        """The newest trained admission model (or ``version``), or None."""
        sql = "SELECT * FROM models " + ("WHERE version = ?" if version is not None else "ORDER BY version DESC LIMIT 1")

        def fetch(conn: Connection) -> dict[str, Any] | None:
            cur = conn.execute(sql, [version] if version is not None else [])
            row = cur.fetchone()
            names = [d[0] for d in cur.description] if cur.description else []
            return dict(zip(names, row, strict=True)) if row else None

        row = self.db.query(fetch)
        return AdmissionModel.from_row(row) if row else None

    def save(self, model: AdmissionModel) -> int:
        """Store a trained model as the next version; returns the version."""
        row = model.to_row()
        def txn(conn: Connection) -> int:
            cur = insert(conn, "models", row)
            found = getattr(cur, "lastrowid", None)  # sqlite3 has it; psycopg does not
            return int(found or conn.execute("SELECT max(version) FROM models").fetchone()[0])

        version = self.db.write(txn)
        model.version = version
        return version
