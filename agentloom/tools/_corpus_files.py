"""Finding a corpus's files: resolving the given folders into named roots, the default index
path, and scanning a root for indexable files (hidden and vendored folders skipped, symlinks out
of the corpus only when asked, file names made printable)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agentloom._paths import loom_home
from agentloom.errors import CorpusError

__all__ = ["SUFFIXES", "CorpusRoot", "Found", "default_index_path", "printable", "resolve_roots", "scan"]

#: File suffixes that are indexed, and how each is read.
SUFFIXES: dict[str, str] = {".md": "md", ".markdown": "md", ".txt": "txt", ".html": "html", ".htm": "html"}
#: Files larger than this are skipped (a corpus of documents, not of logs or dumps).
MAX_FILE_BYTES = 32 * 1024 * 1024
_SKIP_DIRS = frozenset({"node_modules", "__pycache__", "venv", "site-packages"})


@dataclass(frozen=True, slots=True)
class CorpusRoot:
    """One corpus folder: its label (the folder's name, made unique) and absolute path."""

    name: str
    path: Path


@dataclass(slots=True)
class Found:
    key: str
    root: str
    rel: str
    abspath: str
    kind: str
    mtime_ns: int
    size: int


def resolve_roots(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[CorpusRoot]:
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    if not paths:
        raise CorpusError("no corpus folder given; pass a folder of .md, .txt or .html files")
    resolved: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise CorpusError(f"corpus path {raw} does not exist; pass a folder of .md, .txt or .html files")
        if not path.is_dir():
            raise CorpusError(f"corpus path {raw} is not a folder; pass the folder that holds the documents")
        full = path.resolve()
        if full not in resolved:
            resolved.append(full)
    # a folder inside another given folder is already covered by it
    resolved = [p for p in resolved if not any(o != p and p.is_relative_to(o) for o in resolved)]
    roots: list[CorpusRoot] = []
    used: set[str] = set()
    for full in sorted(resolved):
        base = re.sub(r"[^\w.\-]+", "_", full.name) or "root"
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        roots.append(CorpusRoot(name, full))
    return roots


def default_index_path(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> Path:
    """``<loom home>/index/<name>-<hash of the absolute corpus paths>.db``."""
    roots = resolve_roots(paths)
    digest = hashlib.sha1("\n".join(str(r.path) for r in roots).encode("utf-8")).hexdigest()[:12]
    name = "+".join(r.name for r in roots)[:60]
    return loom_home() / "index" / f"{name}-{digest}.db"


def printable(name: str) -> str:
    """A file name as valid UTF-8 text: undecodable bytes (kept by the OS as surrogates) become
    ``\\xNN`` escapes, so keys, ids and displays never fail to encode."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _inside(path: str, root: str) -> bool:
    """Whether ``path``, links resolved, lies within ``root`` (already resolved)."""
    try:
        return os.path.commonpath([os.path.realpath(path), root]) == root
    except ValueError:
        return False


def scan(root: CorpusRoot, follow_symlinks: bool = False) -> list[Found]:
    """Every indexable file under ``root`` (hidden and vendored folders skipped), with its stat.
    A symlink whose target lies outside the corpus is left out unless ``follow_symlinks``."""
    found: list[Found] = []
    base = str(root.path)
    real_base = os.path.realpath(base)
    stack = [base]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if name.startswith(".") or name in _SKIP_DIRS:
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                    continue
                kind = SUFFIXES.get(os.path.splitext(name)[1].lower())
                if kind is None or not entry.is_file():
                    continue
                if entry.is_symlink() and not follow_symlinks and not _inside(entry.path, real_base):
                    continue
                st = entry.stat()
            except OSError:
                continue
            rel = printable(entry.path[len(base) + 1 :].replace(os.sep, "/"))
            found.append(Found(f"{root.name}/{rel}", root.name, rel, entry.path, kind, st.st_mtime_ns, st.st_size))
    return found


# --------------------------------------------------------------------------- the index
