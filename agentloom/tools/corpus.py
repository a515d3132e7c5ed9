"""A local corpus of .md, .txt and .html files, indexed into SQLite FTS5 (BM25) through
sqlite-utils, and the ``corpus_search`` / ``read_passage`` tools over it.

Files are cut into passages of bounded size (blank lines and headings are the preferred cut
points; a line is never split unless it alone exceeds the size bound). Each passage has a stable
id ``p_<10 hex>`` derived from its folder, relative path, start line and text, so ids survive
re-indexing of unchanged files, and maps back to its file and 1-based inclusive line range.
Refreshes are incremental: only files whose size, mtime or content changed are re-read.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agentloom.errors import CorpusError
from agentloom.storage.sqlite import DBLock, open_db
from agentloom.tools._corpus_files import (
    MAX_FILE_BYTES,
    SUFFIXES,
    CorpusRoot,
    Found,
    default_index_path,
    resolve_roots,
    scan,
)
from agentloom.tools._passages import Passage, passage_id, split_passages, text_lines
from agentloom.tools.base import CachePolicy, Tool

__all__ = [
    "SUFFIXES",
    "CorpusIndex",
    "CorpusRoot",
    "RefreshStats",
    "corpus_tools",
    "default_index_path",
    "fts_query",
    "split_passages",
]

#: Most results one search returns.
MAX_K = 50

ProgressFn = Callable[[int, int, str], None]

_SCHEMA_VERSION = "1"
_TOKENIZE = "porter unicode61 remove_diacritics 2"
_BATCH_FILES = 500  # files per write transaction: progress survives an interrupted cold build
_RACY_NS = 2_000_000_000  # a file modified this close to when it was read is re-hashed next time
_WORD = re.compile(r"\w+")
_ID = re.compile(r"p_[0-9a-f]{10}")
_STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be been before being below between both
    but by can could did do does doing down during each few for from further had has have having he her
    here hers him his how i if in into is it its itself just me more most my no nor not now of off on once
    only or other our ours out over own same she should so some such than that the their theirs them then
    there these they this those through to too under until up very was we were what when where which while
    who whom why will with would you your yours""".split()
)


# --------------------------------------------------------------------------- values
@dataclass(slots=True)
class RefreshStats:
    """What one refresh did."""

    index_path: str
    files: int = 0
    indexed: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: int = 0
    passages: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["seconds"] = round(self.seconds, 3)
        return out


def fts_query(query: str) -> str:
    """A safe FTS5 MATCH expression for free text: each word quoted, OR-combined, common words
    dropped (unless nothing else is left). Empty when the text has no searchable word."""
    terms: list[str] = []
    for word in _WORD.findall(query.lower()):
        terms.extend(part for part in word.split("_") if part)
    unique = list(dict.fromkeys(terms))
    kept = [t for t in unique if t not in _STOPWORDS] or unique
    return " OR ".join(f'"{t}"' for t in kept[:32])


class CorpusIndex:
    """An FTS5 index over one or more corpus folders; safe to search from many threads at once.

    ``refresh()`` builds or updates it incrementally; ``search()`` and ``passage()`` refresh
    once first if this object has not refreshed yet.
    """

    def __init__(
        self,
        paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        index_path: str | os.PathLike[str] | None = None,
        *,
        follow_symlinks: bool | None = None,
    ) -> None:
        self.roots = resolve_roots(paths)
        self.follow_symlinks = follow_symlinks
        self.index_path = Path(index_path) if index_path is not None else default_index_path([r.path for r in self.roots])
        self._lock = threading.RLock()
        self._local = threading.local()
        self._generation = 0
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._db = open_db(self.index_path, "corpus")
        self._last: RefreshStats | None = None
        self._ensure_schema()

    # ----------------------------------------------------------------- schema and connections
    def _ensure_schema(self) -> None:
        db, conn = self._db, self._db.conn
        with self._lock, DBLock.for_path(self.index_path):
            row = conn.execute("SELECT value FROM loom_meta WHERE key = 'corpus_schema'").fetchone()
            if row is not None and row[0] != _SCHEMA_VERSION:
                for name in ("passages_fts", "passages", "files"):
                    if db[name].exists():
                        db[name].drop()
            try:
                if not db["files"].exists():
                    db.table("files").create(
                        {"key": str, "root": str, "rel": str, "mtime": float, "mtime_ns": int, "size": int,
                         "sha1": str, "passages": int, "read_ns": int},
                        pk="key",
                    )
                if not db["passages"].exists():
                    db.table("passages").create(
                        {"pid": int, "id": str, "file": str, "line_start": int, "line_end": int, "text": str, "title": str},
                        pk="pid",
                    )
                    db.table("passages").create_index(["id"], unique=True)
                    db.table("passages").create_index(["file"])
                if not db["passages_fts"].exists():
                    db.table("passages").enable_fts(["text", "title"], tokenize=_TOKENIZE, create_triggers=True)
            except sqlite3.OperationalError as exc:  # another process created it in between
                if "already exists" not in str(exc):
                    raise
            conn.execute("INSERT OR REPLACE INTO loom_meta VALUES ('corpus_schema', ?)", (_SCHEMA_VERSION,))

    def _reader(self) -> sqlite3.Connection:
        """This thread's read connection (one per thread: searches run in parallel under WAL)."""
        held = getattr(self._local, "conn", None)
        if held is not None and held[0] == self._generation:
            conn: sqlite3.Connection = held[1]
            return conn
        conn = sqlite3.connect(str(self.index_path), check_same_thread=False, timeout=30.0, isolation_level=None)
        conn.execute("PRAGMA query_only = 1")
        self._local.conn = (self._generation, conn)
        with self._readers_lock:
            self._readers.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection (the index reopens them if it is used again)."""
        with self._readers_lock:
            self._generation += 1
            readers, self._readers = self._readers, []
            for conn in readers:
                conn.close()

    def __enter__(self) -> CorpusIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
        self._db.conn.close()

    # ----------------------------------------------------------------- refresh
    def refresh(self, on_progress: ProgressFn | None = None) -> RefreshStats:
        """Bring the index up to date: read new and changed files, drop deleted ones.

        ``on_progress(done, total, path)`` is called after each file. Raises ``CorpusError``
        when a folder is missing or holds no readable .md/.txt/.html text.
        """
        started = time.perf_counter()
        found: list[Found] = []
        follow = self._follow_symlinks()
        for root in self.roots:
            if not root.path.is_dir():
                raise CorpusError(f"corpus path {root.path} does not exist any more")
            files = scan(root, follow)
            if not files:
                raise CorpusError(f"corpus folder {root.path} holds no .md, .txt or .html files")
            found.extend(files)
        found.sort(key=lambda f: f.key)
        stats = RefreshStats(str(self.index_path), files=len(found))
        conn = self._db.conn
        with self._lock, DBLock.for_path(self.index_path):
            for start in range(0, len(found), _BATCH_FILES):
                batch = found[start : start + _BATCH_FILES]
                with _write(conn):
                    stored = self._stored(conn, [f.key for f in batch])
                    for offset, item in enumerate(batch):
                        outcome = self._refresh_file(conn, item, stored.get(item.key))
                        setattr(stats, outcome, getattr(stats, outcome) + 1)
                        if on_progress is not None:
                            on_progress(start + offset + 1, len(found), self._display(item.key))
            live = {f.key for f in found}
            with _write(conn):
                stale = [key for (key,) in conn.execute("SELECT key FROM files") if key not in live]
                for key in stale:
                    conn.execute("DELETE FROM passages WHERE file = ?", (key,))
                    conn.execute("DELETE FROM files WHERE key = ?", (key,))
                stats.removed = len(stale)
                roots = [{"name": r.name, "path": str(r.path)} for r in self.roots]
                conn.execute("INSERT OR REPLACE INTO loom_meta VALUES ('corpus_roots', ?)", (json.dumps(roots),))
                conn.execute("INSERT OR REPLACE INTO loom_meta VALUES ('corpus_refreshed', ?)", (str(time.time()),))
                conn.execute("INSERT OR REPLACE INTO loom_meta VALUES ('follow_symlinks', ?)", (str(int(follow)),))
            counts = dict(conn.execute("SELECT substr(file, 1, instr(file, '/') - 1), count(*) FROM passages GROUP BY 1").fetchall())
            stats.passages = sum(counts.values())
        for root in self.roots:
            if not counts.get(root.name):
                raise CorpusError(f"corpus folder {root.path} holds no readable text in its .md, .txt or .html files")
        stats.seconds = time.perf_counter() - started
        self._last = stats
        return stats

    def _follow_symlinks(self) -> bool:
        """This index's choice: as given, else as the last refresh recorded it (default: not)."""
        if self.follow_symlinks is not None:
            return self.follow_symlinks
        row = self._db.conn.execute("SELECT value FROM loom_meta WHERE key = 'follow_symlinks'").fetchone()
        return bool(row and row[0] == "1")

    @staticmethod
    def _stored(conn: sqlite3.Connection, keys: list[str]) -> dict[str, tuple[int, int, str, int]]:
        out: dict[str, tuple[int, int, str, int]] = {}
        marks = ",".join("?" * len(keys))
        for key, mtime_ns, size, sha1, read_ns in conn.execute(
            f"SELECT key, mtime_ns, size, sha1, read_ns FROM files WHERE key IN ({marks})", keys
        ):
            out[key] = (mtime_ns, size, sha1, read_ns)
        return out

    def _refresh_file(self, conn: sqlite3.Connection, item: Found, stored: tuple[int, int, str, int] | None) -> str:
        """Index one file if it changed; returns the RefreshStats field to count it under."""
        if stored is not None:
            mtime_ns, size, _, read_ns = stored
            racy = mtime_ns >= read_ns - _RACY_NS
            if mtime_ns == item.mtime_ns and size == item.size and not racy:
                return "unchanged"
        read_ns = time.time_ns()
        try:
            if item.size > MAX_FILE_BYTES:
                raise OSError("file too large")
            with open(item.abspath, "rb") as fh:
                data = fh.read(MAX_FILE_BYTES + 1)
        except OSError:
            if stored is not None:
                conn.execute("DELETE FROM passages WHERE file = ?", (item.key,))
                conn.execute("DELETE FROM files WHERE key = ?", (item.key,))
            return "skipped"
        sha1 = hashlib.sha1(data).hexdigest()
        if stored is not None and stored[2] == sha1:
            conn.execute(
                "UPDATE files SET mtime = ?, mtime_ns = ?, size = ?, read_ns = ? WHERE key = ?",
                (item.mtime_ns / 1e9, item.mtime_ns, len(data), read_ns, item.key),
            )
            return "unchanged"
        title, lines = text_lines(item.kind, data.decode("utf-8-sig", errors="replace"))
        passages = split_passages(lines, verbatim=item.kind != "html")
        if stored is not None:
            conn.execute("DELETE FROM passages WHERE file = ?", (item.key,))
        ids = self._assign_ids(conn, item, passages)
        stem = os.path.splitext(item.rel.rsplit("/", 1)[-1])[0].replace("_", " ").replace("-", " ")
        conn.executemany(
            "INSERT INTO passages (id, file, line_start, line_end, text, title) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (pid, item.key, p.line_start, p.line_end, p.text, " ".join(x for x in (title, p.heading, stem) if x))
                for pid, p in zip(ids, passages, strict=True)
            ],
        )
        conn.execute(
            "INSERT OR REPLACE INTO files (key, root, rel, mtime, mtime_ns, size, sha1, passages, read_ns) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (item.key, item.root, item.rel, item.mtime_ns / 1e9, item.mtime_ns, len(data), sha1, len(passages), read_ns),
        )
        return "indexed"

    @staticmethod
    def _assign_ids(conn: sqlite3.Connection, item: Found, passages: list[Passage]) -> list[str]:
        """Stable ids; a (vanishingly rare) clash with another passage gets a salted id."""
        ids = [passage_id(item.root, item.rel, p.line_start, p.text) for p in passages]
        taken: set[str] = set()
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            taken.update(r[0] for r in conn.execute(f"SELECT id FROM passages WHERE id IN ({','.join('?' * len(chunk))})", chunk))
        out: list[str] = []
        next_salt: dict[str, int] = {}  # per base id, so n identical passages take O(n) hashes, not O(n²)
        for base, p in zip(ids, passages, strict=True):
            pid, salt = base, next_salt.get(base, 0)
            if salt:
                pid = passage_id(item.root, item.rel, p.line_start, p.text, salt)
            while pid in taken:
                salt += 1
                pid = passage_id(item.root, item.rel, p.line_start, p.text, salt)
            next_salt[base] = salt + 1
            taken.add(pid)
            out.append(pid)
        return out

    def _ensure_fresh(self) -> None:
        if self._last is None:
            with self._lock:
                if self._last is None:
                    self.refresh()

    # ----------------------------------------------------------------- reading
    def _display(self, key: str) -> str:
        """The path shown to models and users: relative to the folder, prefixed by the
        folder's name when the index spans several folders."""
        return key if len(self.roots) > 1 else key.split("/", 1)[1]

    def _row(self, row: tuple[Any, ...]) -> dict[str, Any]:
        pid, file, line_start, line_end, text = row[:5]
        return {"id": pid, "path": self._display(file), "line_start": line_start, "line_end": line_end, "text": text}

    def search(self, query: str, k: int = 5) -> list[dict[str, Any]]:
        """The ``k`` best passages for free text, best first (BM25). Never raises on odd input."""
        self._ensure_fresh()
        match = fts_query(query if isinstance(query, str) else str(query))
        if not match:
            return []
        k = max(1, min(int(k), MAX_K))
        rows = self._reader().execute(
            "SELECT p.id, p.file, p.line_start, p.line_end, p.text, r.rank FROM "
            "(SELECT rowid, bm25(passages_fts, 1.0, 0.4) AS rank FROM passages_fts "
            " WHERE passages_fts MATCH ? ORDER BY rank, rowid LIMIT ?) AS r "
            "JOIN passages p ON p.pid = r.rowid ORDER BY r.rank, p.pid",
            (match, k),
        ).fetchall()
        results = []
        for row in rows:
            item = self._row(row)
            item["score"] = round(-float(row[5]), 6)
            results.append(item)
        return results

    def passage(self, passage_id: str) -> dict[str, Any] | None:
        """One passage by id (``[p_...]`` brackets and spaces tolerated), or None if unknown."""
        self._ensure_fresh()
        pid = str(passage_id).strip().strip("[]").strip().lower()
        if not _ID.fullmatch(pid):
            return None
        row = self._reader().execute(
            "SELECT id, file, line_start, line_end, text FROM passages WHERE id = ?", (pid,)
        ).fetchone()
        return self._row(row) if row is not None else None

    def stats(self) -> dict[str, Any]:
        """Size of the index: folders, files, passages, bytes on disk, last refresh."""
        conn = self._reader()
        files = conn.execute("SELECT count(*) FROM files").fetchone()[0]
        passages = conn.execute("SELECT count(*) FROM passages").fetchone()[0]
        return {
            "index_path": str(self.index_path),
            "roots": [{"name": r.name, "path": str(r.path)} for r in self.roots],
            "files": files,
            "passages": passages,
            "bytes": self.index_path.stat().st_size if self.index_path.exists() else 0,
            "last_refresh": self._last.to_dict() if self._last is not None else None,
        }

    # ----------------------------------------------------------------- tools
    def tools(self) -> list[Tool]:
        """``corpus_search`` and ``read_passage`` over this index."""
        index = self
        folders = ", ".join(r.name for r in self.roots)

        def corpus_search(query: str, k: int = 5) -> dict[str, Any]:
            """Search the local document corpus; returns the best-matching passages with their ids.

            Args:
                query: Key words or a question; passages matching more of the words rank higher.
                k: How many passages to return (1 to 50).
            """
            return {"query": query, "results": index.search(query, k)}

        def read_passage(id: str) -> dict[str, Any]:
            """Read one passage of the local corpus in full by its id (from corpus_search results).

            Args:
                id: A passage id such as p_3f9a0c12de.
            """
            found = index.passage(id)
            if found is None:
                raise ValueError(f"unknown passage id '{id}'; use an id from corpus_search results (like p_3f9a0c12de)")
            return found

        tools = [
            Tool(corpus_search, description=f"Search the local document corpus ({folders}) by key words; "
                 "returns the best passages with ids to cite, file paths and line ranges.", cache=CachePolicy()),
            Tool(read_passage, cache=CachePolicy()),
        ]
        scope = self.signature()
        for t in tools:  # results are shared through memory only for this exact corpus content
            t.cache_scope = scope
        return tools

    def signature(self) -> str:
        """A short hash of the indexed content (every file's key and sha1): two indexes with the
        same signature answer every search the same way."""
        digest = hashlib.sha1()
        with self._lock:
            for key, sha in self._db.conn.execute("SELECT key, sha1 FROM files ORDER BY key"):
                digest.update(f"{key}\x00{sha}\n".encode())
        return digest.hexdigest()[:16]

    def __repr__(self) -> str:
        return f"CorpusIndex({[str(r.path) for r in self.roots]!r}, index_path={str(self.index_path)!r})"


class _write:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on error) on an autocommit connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def corpus_tools(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | CorpusIndex,
    *,
    index_path: str | os.PathLike[str] | None = None,
    on_progress: ProgressFn | None = None,
    follow_symlinks: bool | None = None,
) -> list[Tool]:
    """``[corpus_search, read_passage]`` over one or more folders (or an open ``CorpusIndex``).

    The index is built or refreshed now, so a bad folder fails here with ``CorpusError``
    rather than in the middle of a run. ``follow_symlinks``: index symlinked files whose target
    lies outside the corpus (default: as the index last did, else not).
    """
    index = (paths if isinstance(paths, CorpusIndex)
             else CorpusIndex(paths, index_path=index_path, follow_symlinks=follow_symlinks))
    index.refresh(on_progress=on_progress)
    return index.tools()
