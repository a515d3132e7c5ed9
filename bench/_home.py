"""A throwaway agentloom home for one benchmark, so runs, indexes and memory never touch ./.loom."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def scratch_home(prefix: str, path: str | None = None) -> Iterator[str]:
    """Point ``AGENTLOOM_HOME`` at ``path`` (default: a new temp folder) for the body, then restore it."""
    from agentloom._paths import set_home

    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    previous = os.environ.get("AGENTLOOM_HOME")
    home = path or tempfile.mkdtemp(prefix=prefix)
    os.environ["AGENTLOOM_HOME"] = home
    set_home(None)
    try:
        yield home
    finally:
        if previous is None:
            os.environ.pop("AGENTLOOM_HOME", None)
        else:
            os.environ["AGENTLOOM_HOME"] = previous
        set_home(None)
