"""The real small model for tests marked ``realmodel``: llama.cpp's server on loopback.

``real_model_server`` (session scope) yields a ``RunningServer`` for Qwen2.5-Coder-0.5B-Instruct,
started from the cache that ``python scripts/local_model.py prepare`` fills. When it is not
prepared the tests are skipped with that command as the reason, unless
``AGENTLOOM_REQUIRE_REAL=1`` (as ``.ci/run`` sets), where a missing model is a failure: a skip
is not a pass. ``AGENTLOOM_REALMODEL_URL`` and ``AGENTLOOM_REALMODEL_NAME`` point the tests at
a server that is already running instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts import local_model

__all__ = ["real_model_server", "real_model_name"]


def _require_real() -> bool:
    return os.environ.get("AGENTLOOM_REQUIRE_REAL", "") not in ("", "0", "false")


@pytest.fixture(scope="session")
def real_model_server() -> Iterator[local_model.RunningServer]:
    """A running llama-server with the 0.5B model, shared by every realmodel test."""
    url = os.environ.get("AGENTLOOM_REALMODEL_URL")
    if url:
        alias = os.environ.get("AGENTLOOM_REALMODEL_NAME", local_model.MODELS["0.5b"].alias)
        yield local_model.RunningServer(url, alias, 0, Path(os.devnull))
        return
    if not local_model.is_prepared("0.5b"):
        reason = "the local model is not prepared; run: python scripts/local_model.py prepare"
        if _require_real():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    with local_model.serve("0.5b") as server:
        yield server


@pytest.fixture
def real_model_name(real_model_server: local_model.RunningServer) -> str:
    """The litellm model string for the running server (``openai/<alias>``)."""
    return f"openai/{real_model_server.alias}"
