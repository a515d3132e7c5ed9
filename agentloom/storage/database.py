"""``Database``: one store file (or schema) behind the seam. Reads run on the caller's
connection; write transactions run on the store's writer thread, in order, so async code can
hand them off (``submit``, ``awrite``) and never wait on a lock another process holds."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from agentloom.storage import _writer
from agentloom.storage.types import Connection, Dialect, Params

__all__ = ["Database"]

log = logging.getLogger("agentloom.storage")

T = TypeVar("T")


class Database(ABC):
    """A store of ``kind`` at ``path``. A backend implements connecting, one transaction and
    error translation; queueing, ordering and read-your-writes live here, once for all backends.

    ``inline`` runs every transaction on the calling thread instead of the writer thread (the
    behaviour before the seam; the stall benchmark's peer)."""

    dialect: Dialect

    def __init__(self, path: str | Path, kind: str, *, writer_key: str) -> None:
        self.path = Path(path)
        self.kind = kind
        self.inline = False
        self._lock = threading.RLock()
        self._conn = self._connect()
        self._writer = _writer.writer_for(writer_key)
        self._wstate = self._writer.state
        self._wlock = self._writer.lock
        self._failed: BaseException | None = None
        self._pending = 0
        self._count_lock = threading.Lock()

    # ------------------------------------------------------------- backend hooks
    @abstractmethod
    def _connect(self) -> Any:
        """A new connection to the store."""

    @abstractmethod
    def _transaction(self, conn: Any, fn: Callable[[Any], T]) -> T:
        """Run ``fn(conn)`` in one write transaction (waiting out other writers), commit, return."""

    @abstractmethod
    def tables(self) -> set[str]:
        """The names of the store's tables (so a store can skip creating them)."""

    @abstractmethod
    def guard(self, fn: Callable[[], T]) -> T:
        """Run ``fn``, turning driver errors that mean a broken store into ``StoreError``."""

    # ------------------------------------------------------------- reads
    def read(self, sql: str, params: Params = (), *, after_writes: bool = True) -> list[tuple[Any, ...]]:
        """Rows of one query (see ``query``)."""
        return self.query(lambda conn: conn.execute(sql, params).fetchall(), after_writes=after_writes)

    def query(self, fn: Callable[[Connection], T], *, after_writes: bool = True) -> T:
        """Run the read function ``fn`` on the caller's connection. With ``after_writes`` this
        process's queued writes land first (read your writes); without, it never waits on them."""
        if after_writes and self._pending:
            self.flush()
        with self._lock:
            return self.guard(lambda: fn(self._conn))

    async def aread(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        """``read`` without blocking the event loop (runs on the writer thread, after queued writes)."""
        return await self.aquery(lambda conn: conn.execute(sql, params).fetchall())

    async def aquery(self, fn: Callable[[Connection], T]) -> T:
        """``query`` without blocking the event loop."""
        if self.inline:
            return self.query(fn)
        return await asyncio.wrap_future(self._writer.submit(lambda: self._on_writer(lambda c: self.guard(lambda: fn(c)))))

    # ------------------------------------------------------------- writes
    def write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in one write transaction and return its result (the caller waits)."""
        if self.inline or self._writer.on_thread():
            return self._on_writer(lambda c: self._transaction(c, fn))
        result: T = self._writer.submit(lambda: self._on_writer(lambda c: self._transaction(c, fn))).result()
        return result

    def submit(self, fn: Callable[[Connection], Any]) -> concurrent.futures.Future[Any]:
        """Queue a write transaction and return at once. A failure nobody waits for is logged
        and raised by the next ``flush``."""
        if self.inline:
            future: concurrent.futures.Future[Any] = concurrent.futures.Future()
            try:
                future.set_result(self.write(fn))
            except BaseException as exc:
                future.set_exception(exc)
            return future
        with self._count_lock:
            self._pending += 1
        future = self._writer.submit(lambda: self._on_writer(lambda c: self._transaction(c, fn)))
        future.add_done_callback(self._settled)
        return future

    async def awrite(self, fn: Callable[[Connection], T]) -> T:
        """``write`` without blocking the event loop."""
        result: T = await asyncio.wrap_future(self.submit(fn))
        return result

    def _settled(self, future: concurrent.futures.Future[Any]) -> None:
        with self._count_lock:
            self._pending -= 1
        exc = future.exception()
        if exc is not None and self._failed is None:
            self._failed = exc
            log.warning("%s: a queued write failed: %s", self.path, exc)

    def flush(self) -> None:
        """Wait until every write queued so far has landed; raise the first queued failure."""
        if not self.inline:
            self._writer.drain()
        failed, self._failed = self._failed, None
        if failed is not None:
            raise failed

    def _on_writer(self, fn: Callable[[Any], T]) -> T:
        """``fn`` with the writer connection (opened on first use, shared by this file's stores)."""
        with self._wlock:
            conn = self._wstate.get("conn")
            if conn is None:
                conn = self._wstate["conn"] = self._connect()
            return fn(conn)

    # ------------------------------------------------------------- lifetime
    def close(self) -> None:
        """Land queued writes, then close this store's connections."""
        try:
            self.flush()
        finally:
            _writer.release(self._writer, self._close_writer_conn)
            with self._lock:
                self._conn.close()

    def _close_writer_conn(self) -> None:
        with self._wlock:
            conn = self._wstate.pop("conn", None)
            if conn is not None:
                conn.close()
