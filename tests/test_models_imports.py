"""``import agentloom.models`` (and building a remote model) must not import litellm or openai."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import agentloom, agentloom.models
from agentloom.models import ModelRequest, Usage, call_model
from agentloom.models.litellm_model import LiteLLMModel
from agentloom.models.openai_model import OpenAIModel
from agentloom.models.resolve import resolve_model
import agentloom.models._errors, agentloom.models._pricing, agentloom.models._wire
model = resolve_model("openai/gpt-4o-mini")
assert isinstance(model, LiteLLMModel)
assert model.price() is not None  # read from litellm's bundled file, without importing it
OpenAIModel("gpt-4o-mini", api_key="sk-x").price()
heavy = sorted(m for m in ("litellm", "openai", "langgraph", "httpx", "tenacity", "tiktoken") if m in sys.modules)
assert not heavy, heavy
print("ok")
"""


def test_models_import_no_heavy_sdk() -> None:
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
