"""Start a test MCP server script over streamable HTTP on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

HERE = Path(__file__).parent


def require_mcp() -> None:
    """Skip when the ``mcp`` package is absent, unless ``AGENTLOOM_REQUIRE_REAL=1`` (then fail)."""
    import importlib.util

    import pytest

    if importlib.util.find_spec("mcp") is not None:
        return
    reason = "the mcp package is not installed: pip install -e '.[mcp]'"
    if os.environ.get("AGENTLOOM_REQUIRE_REAL", "") not in ("", "0", "false"):
        pytest.fail(f"MCP required (AGENTLOOM_REQUIRE_REAL=1): {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_http(script: str = "arith.py", *extra: str, wait: float = 30.0) -> AbstractContextManager[str]:
    """Run test server ``script --http PORT`` in a subprocess; yield its MCP URL once it listens."""
    return serve_command([sys.executable, str(HERE / script)], *extra, wait=wait)


@contextmanager
def serve_command(command: list[str], *extra: str, wait: float = 30.0) -> Iterator[str]:
    """Run ``command --http PORT *extra`` in a subprocess; yield its MCP URL once the port accepts."""
    script = command[-1]
    port = free_port()
    proc = subprocess.Popen([*command, "--http", str(port), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + wait
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{script} exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{script} did not listen on {port} within {wait:g}s") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
