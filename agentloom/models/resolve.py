"""``resolve_model``: a model spec (string, model, or nothing) to a model object."""

from __future__ import annotations

import os
from typing import Any

from agentloom.models.types import Model

__all__ = ["resolve_model", "default_model_name"]


def default_model_name() -> str:
    """``$AGENTLOOM_MODEL``, else ``offline``."""
    return os.environ.get("AGENTLOOM_MODEL") or "offline"


def resolve_model(spec: str | Model | None = None, **params: Any) -> Model:
    """``None`` gives the default (``$AGENTLOOM_MODEL`` or offline); ``"offline"`` gives
    ``OfflineModel``; a model object is returned as is; any other string is a litellm model."""
    if spec is None:
        spec = default_model_name()
    if not isinstance(spec, str):
        return spec
    name = spec.strip()
    if name == "offline":
        from agentloom.models.offline import OfflineModel

        return OfflineModel()
    from agentloom.models.litellm_model import LiteLLMModel

    return LiteLLMModel(name, **params)
