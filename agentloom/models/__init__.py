"""The model seam: one protocol, several transports, and an offline model.

Heavy clients (litellm, openai) are imported only when a model that needs them is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentloom._lazy import lazy_exports
from agentloom.budget import Price
from agentloom.models.base import ModelBase, call_model
from agentloom.models.types import PURPOSES, Completion, Message, Model, ModelRequest, ToolCall, Usage

if TYPE_CHECKING:
    from agentloom.models.function import FunctionModel
    from agentloom.models.litellm_model import LiteLLMModel
    from agentloom.models.offline import OfflineModel
    from agentloom.models.openai_model import OpenAIModel
    from agentloom.models.resolve import resolve_model
    from agentloom.models.testing import TestModel

__all__ = [
    "PURPOSES",
    "Completion",
    "FunctionModel",
    "LiteLLMModel",
    "Message",
    "Model",
    "ModelBase",
    "ModelRequest",
    "OfflineModel",
    "OpenAIModel",
    "Price",
    "TestModel",
    "ToolCall",
    "Usage",
    "call_model",
    "resolve_model",
]

_LAZY = {
    "FunctionModel": "agentloom.models.function",
    "LiteLLMModel": "agentloom.models.litellm_model",
    "OfflineModel": "agentloom.models.offline",
    "OpenAIModel": "agentloom.models.openai_model",
    "resolve_model": "agentloom.models.resolve",
    "TestModel": "agentloom.models.testing",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
