"""Trained admission models kept in the bank's file, versioned (``loom memory train`` writes them)."""

from __future__ import annotations

from agentloom.memory._base import BankBase
from agentloom.memory._rows import insert
from agentloom.memory.admission import AdmissionModel

__all__ = ["ModelsMixin"]


class ModelsMixin(BankBase):
    """Loading and saving trained admission models for ``MemoryBank``."""

    def load_model(self, version: int | None = None) -> AdmissionModel | None:
        """The newest trained admission model (or ``version``), or None."""
        sql = "SELECT * FROM models " + ("WHERE version = ?" if version is not None else "ORDER BY version DESC LIMIT 1")
        with self._lock:
            cur = self._conn.execute(sql, [version] if version is not None else [])
            row = cur.fetchone()
            names = [d[0] for d in cur.description] if cur.description else []
        return AdmissionModel.from_row(dict(zip(names, row, strict=True))) if row else None

    def save_model(self, model: AdmissionModel) -> int:
        """Store a trained model as the next version; returns the version."""
        row = model.to_row()
        version = self._write(lambda c: int(insert(c, "models", row).lastrowid or 0))
        model.version = version
        return version
