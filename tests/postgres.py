"""A real Postgres for tests marked ``postgres``: Debian's server binaries, ``initdb`` into a
temporary folder and ``pg_ctl`` on a unix socket there (as the ``postgres`` user when run as root,
since initdb refuses root), stopped at the end of the session.

``postgres_server`` (session scope) yields the server's base URL; ``pg_url`` gives each test a
fresh database and sets ``AGENTLOOM_DATABASE_URL`` to it. Without the binaries the tests are
skipped with the install command as the reason, unless ``AGENTLOOM_REQUIRE_REAL=1`` (as
``.ci/run`` sets), where that is a failure.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["pg_url", "postgres_server", "throwaway_postgres"]

_INSTALL = "apt-get update && apt-get install -y postgresql"


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_owner(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("AGENTLOOM_REQUIRE_REAL", "") not in ("", "0", "false"):
        pytest.fail(f"Postgres required (AGENTLOOM_REQUIRE_REAL=1): {reason}")
    pytest.skip(reason)


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """Start a throwaway cluster (initdb + pg_ctl on a unix socket in a temporary folder); yields
    ``postgresql://postgres@/postgres?host=…&port=…`` and stops and deletes it at the end."""
    bindir = _bin_dir()
    if bindir is None:
        raise RuntimeError(f"Postgres is not installed ({_INSTALL})")
    root = Path(tempfile.mkdtemp(prefix="loom-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = _free_port()
    log = root / "server.log"
    subprocess.run(_as_owner([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                              "--no-sync"]), check=True, capture_output=True)
    opts = f"-c listen_addresses='' -c unix_socket_directories={root} -p {port} -c fsync=off -c max_connections=200"
    subprocess.run(_as_owner([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts, "-w", "start"]),
                   check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@/postgres?host={root}&port={port}"
    finally:
        subprocess.run(_as_owner([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]), capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A running throwaway Postgres cluster; yields ``postgresql://postgres@/postgres?host=…&port=…``."""
    if _bin_dir() is None:
        _skip_or_fail(f"Postgres is not installed ({_INSTALL})")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _skip_or_fail("psycopg is not installed (pip install -e '.[test]')")
    with throwaway_postgres() as url:
        yield url


@pytest.fixture
def pg_url(postgres_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh database on the test server, selected through ``AGENTLOOM_DATABASE_URL``."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = postgres_server.replace("/postgres?", f"/{name}?")
    monkeypatch.setenv("AGENTLOOM_DATABASE_URL", url)
    yield url
