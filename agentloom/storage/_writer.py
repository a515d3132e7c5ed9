"""One writer thread per store file in this process: transactions queue to it in order, so the
event loop never waits for a database lock another process holds."""

from __future__ import annotations

import atexit
import concurrent.futures
import logging
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Any

from agentloom.errors import StoreError

__all__ = ["Writer", "writer_for"]

log = logging.getLogger("agentloom.storage")

Job = tuple[Callable[[], Any], concurrent.futures.Future[Any]]


class Writer:
    """A daemon thread running queued jobs one at a time, in submission order. ``users`` counts
    the open stores sharing it; the last to close stops it after the queue drains."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.users = 0
        self.state: dict[str, Any] = {}
        self.stopped = False
        self.lock = threading.RLock()
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=f"agentloom-writer:{key}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            fn, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to whoever waits on the future
                future.set_exception(exc)

    def on_thread(self) -> bool:
        """True when called from this writer's own thread."""
        return threading.current_thread() is self._thread

    def submit(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        """Queue ``fn``; its future resolves once it ran (after everything queued before it)."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        if self.stopped and not self.on_thread():
            raise StoreError(f"{self.key}: the store was closed; open it again to write")
        if self.on_thread():  # a job queuing more work runs it now (waiting would deadlock)
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)
            return future
        self._queue.put((fn, future))
        return future

    def drain(self) -> None:
        """Wait until every job queued so far has run."""
        if not self.on_thread() and not self.stopped and self._thread.is_alive():
            self.submit(lambda: None).result()

    def stop(self) -> None:
        """Run what is queued, then end the thread."""
        self.stopped = True
        if self._thread.is_alive():
            self._queue.put(None)
            if not self.on_thread():
                self._thread.join()


_lock = threading.Lock()
_writers: dict[str, Writer] = {}
_all: weakref.WeakSet[Writer] = weakref.WeakSet()


def writer_for(key: str) -> Writer:
    """The writer of the store at ``key`` (one per file per process); the caller becomes a user."""
    with _lock:
        writer = _writers.get(key)
        if writer is None:
            writer = _writers[key] = Writer(key)
            _all.add(writer)
        writer.users += 1
        return writer


def release(writer: Writer, close: Callable[[], None]) -> None:
    """Drop one user; the last one drains the queue, runs ``close`` on the writer thread and stops it."""
    with _lock:
        writer.users -= 1
        last = writer.users <= 0
        if last and _writers.get(writer.key) is writer:
            del _writers[writer.key]
    if last:
        try:
            writer.submit(close).result()
        finally:
            writer.stop()
    else:
        writer.drain()


@atexit.register
def _drain_all() -> None:
    """Writes queued but not yet run land before the interpreter exits."""
    for writer in list(_all):
        try:
            writer.drain()
        except Exception as exc:  # pragma: no cover - exit path
            log.warning("storage writer %s: %s", writer.key, exc)
