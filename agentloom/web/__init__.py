"""``loom ui``: a local web view of runs — the list, a running run live, a finished run's
timeline and cited report, and the exported page. Needs the ``[ui]`` extra (Starlette, uvicorn)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentloom._lazy import lazy_exports

if TYPE_CHECKING:
    from agentloom.web._security import check_host
    from agentloom.web.app import UiSettings, create_app

__all__ = ["UiSettings", "check_host", "create_app"]

_LAZY = {"UiSettings": "agentloom.web.app", "check_host": "agentloom.web._security", "create_app": "agentloom.web.app"}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
