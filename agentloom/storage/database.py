"""``Database``: one store file (or schema) behind the seam. Reads run on the caller's
connection; write transactions run on the store's writer thread, in order, so async code can
hand them off (``submit``, ``awrite``) and never wait on a lock another process holds."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
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
        self._batch: _Batch | None = None  # the queued batch of rows still open for more
        self._closed = False

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
        self._close_batch()
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
        self._close_batch()
        return self._queue(fn)

    def _queue(self, fn: Callable[[Connection], Any]) -> concurrent.futures.Future[Any]:
        with self._count_lock:
            self._pending += 1
        future = self._writer.submit(lambda: self._on_writer(lambda c: self._transaction(c, fn)))
        future.add_done_callback(self._settled)
        return future

    def add_rows(self, sql: str, rows: Sequence[Params]) -> None:
        """Queue ``rows`` for ``executemany(sql)`` and return at once. Rows queued back to back
        (no other write in between) share one transaction, so a store that is locked for a while
        collects them into one batch instead of a queue of small transactions."""
        if not rows:
            return
        if self.inline:
            self.write(lambda c: c.executemany(sql, rows))
            return
        with self._count_lock:
            batch = self._batch
            fresh = batch is None or batch.started
            if fresh:
                batch = self._batch = _Batch(self._count_lock)
            assert batch is not None
            batch.add(sql, rows)
        if fresh:
            self._queue(batch.run).add_done_callback(lambda _f: batch.close())

    def _close_batch(self) -> None:
        """Rows queued from now on go after the write being queued, in a batch of their own."""
        with self._count_lock:
            self._batch = None

    async def awrite(self, fn: Callable[[Connection], T]) -> T:
        """``write`` without blocking the event loop."""
        result: T = await asyncio.wrap_future(self.submit(fn))
        return result

    def _settled(self, future: concurrent.futures.Future[Any]) -> None:
        with self._count_lock:
            self._pending -= 1
        if future.cancelled():  # dropped at shutdown (Ctrl-C): nothing failed, nothing to report
            return
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
        """Land queued writes, then close this store's connections (a second call does nothing)."""
        if self._closed:
            return
        self._closed = True
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


class _Batch:
    """Rows for ``executemany``, grouped by statement in first-seen order, taken by one queued
    transaction; rows join it until that transaction starts."""

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock
        self.started = False
        self.groups: dict[str, list[Params]] = {}

    def add(self, sql: str, rows: Sequence[Params]) -> None:
        self.groups.setdefault(sql, []).extend(rows)

    def close(self) -> None:
        """No more rows join (also when the transaction failed before it could start)."""
        with self.lock:
            self.started = True

    def run(self, conn: Connection) -> None:
        with self.lock:
            self.started = True
            groups = list(self.groups.items())
        for sql, rows in groups:
            conn.executemany(sql, rows)
