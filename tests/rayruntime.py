"""A real local Ray runtime for tests marked ``ray``: ``ray.init(num_cpus=2)`` once per session,
dashboard off, on loopback; shut down at the end. Without Ray installed the tests are skipped
(the reason names the install command) unless ``AGENTLOOM_REQUIRE_REAL=1`` (as ``.ci/run`` sets),
where that is a failure. The default run leaves them out (``addopts``) and says so in its summary."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from typing import Any

import pytest

__all__ = ["ray_runtime"]

_INSTALL = "pip install -e '.[ray]'"


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("AGENTLOOM_REQUIRE_REAL", "") not in ("", "0", "false"):
        pytest.fail(f"Ray required (AGENTLOOM_REQUIRE_REAL=1): {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def ray_runtime() -> Iterator[Any]:
    """The ``ray`` module with a local runtime of 2 CPUs started."""
    try:
        import ray
    except ImportError:
        _skip_or_fail(f"ray is not installed ({_INSTALL})")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             _node_ip_address="127.0.0.1")
    yield ray
    ray.shutdown()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say why the Ray tests did not run in this session, if the marker expression left them out."""
    if "not ray" not in str(terminalreporter.config.getoption("markexpr") or ""):
        return
    deselected = [i for i in terminalreporter.stats.get("deselected", []) if i.get_closest_marker("ray")]
    if deselected:
        installed = importlib.util.find_spec("ray") is not None
        why = "run them with: pytest -m ray" if installed else f"ray is not installed ({_INSTALL}); then: pytest -m ray"
        terminalreporter.write_line(f"ray: {len(deselected)} tests on a real Ray runtime not run by default; {why}")
