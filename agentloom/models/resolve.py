"""``resolve_model``: a model spec (string, model, or nothing) to a model object, with the
connection settings every entry point shares (base URL, key variable, price)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentloom.budget import Price
from agentloom.errors import ConfigError, MissingAPIKeyError
from agentloom.models.types import Model

if TYPE_CHECKING:
    from agentloom.rate_limits import RateLimit

__all__ = ["resolve_model", "default_model_name", "parse_price", "TOOL_MODES"]

#: How a model is asked for tool calls: OpenAI ``tools``, a schema-enforced act step, tolerant
#: text parsing, or ``auto`` (chosen per model and remembered in the home; see ``agents.tool_protocol``).
TOOL_MODES = ("auto", "native", "json", "text")

#: Prices are written per million tokens (as providers publish them); ``Price`` holds USD per token.
PER_MILLION = 1_000_000


def default_model_name() -> str:
    """``$AGENTLOOM_MODEL``, else ``offline``."""
    return os.environ.get("AGENTLOOM_MODEL") or "offline"


def parse_price(value: Price | Mapping[str, Any] | str | None, where: str = "price") -> Price | None:
    """A ``Price`` from ``"IN,OUT"`` or ``{input: IN, output: OUT}`` in USD per million tokens
    (``cached_input`` optional), or a ``Price`` as is. ``"0,0"`` marks a free local model, so a
    USD budget can be enforced on it."""
    if value is None or isinstance(value, Price):
        return value
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
        if len(parts) not in (2, 3):
            raise ConfigError(f"{where} {value!r} must be 'INPUT,OUTPUT' USD per million tokens, e.g. 0.15,0.60")
        fields = dict(zip(("input", "output", "cached_input"), parts, strict=False))
    elif isinstance(value, Mapping):
        unknown = set(value) - {"input", "output", "cached_input"}
        if unknown or not {"input", "output"} <= set(value):
            raise ConfigError(f"{where} must have input and output (USD per million tokens), and optionally cached_input")
        fields = dict(value)
    else:
        raise ConfigError(f"{where} must be 'INPUT,OUTPUT' or {{input, output}} in USD per million tokens")
    numbers: dict[str, float] = {}
    for key, raw in fields.items():
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: {key} {raw!r} is not a number (USD per million tokens)") from None
        if not math.isfinite(number) or number < 0:
            raise ConfigError(f"{where}: {key} must be a finite number >= 0, got {raw!r}")
        numbers[key] = number / PER_MILLION
    return Price(numbers["input"], numbers["output"], numbers.get("cached_input"))


def resolve_model(
    spec: str | Model | None = None,
    *,
    base_url: str | None = None,
    api_key_env: str | None = None,
    price: Price | Mapping[str, Any] | str | None = None,
    tool_mode: str | None = None,
    rate_limit: RateLimit | None = None,
    **params: Any,
) -> Model:
    """``None`` gives the default (``$AGENTLOOM_MODEL`` or offline); ``"offline"`` gives
    ``OfflineModel``; a model object is returned as is; any other string is a litellm model.

    ``base_url`` points it at an OpenAI-compatible server (a bare name then means
    ``openai/NAME``); ``api_key_env`` names the variable holding its key; ``price`` (USD per
    million tokens, see ``parse_price``) prices a model litellm has no price for. ``tool_mode``
    (one of ``TOOL_MODES``) is how agents ask this model for tool calls. ``rate_limit`` shares
    requests and tokens per minute with every process calling it (``agentloom.rate_limits``)."""
    if tool_mode is not None and tool_mode not in TOOL_MODES:
        raise ConfigError(f"tool_mode {tool_mode!r} must be one of {', '.join(TOOL_MODES)}")
    if spec is None:
        spec = default_model_name()
    if not isinstance(spec, str):
        if base_url or api_key_env or price is not None:
            raise ConfigError("base_url, api_key_env and price apply to a model name, not to a model object")
        if tool_mode is not None:
            spec.tool_mode = tool_mode  # type: ignore[attr-defined]
        if rate_limit is not None:
            spec.rate_limit = rate_limit  # type: ignore[attr-defined]
        return spec
    name = spec.strip()
    if name == "offline":
        if base_url or api_key_env:
            raise ConfigError("the offline model takes no base URL or API key; name a served model, e.g. openai/NAME")
        from agentloom.models.offline import OfflineModel

        offline = OfflineModel()
        if tool_mode is not None:
            offline.tool_mode = tool_mode
        return offline
    if base_url:
        params["api_base"] = base_url
        if "/" not in name:
            name = f"openai/{name}"
    if api_key_env:
        key = os.environ.get(api_key_env)
        if not key:
            raise MissingAPIKeyError(f"model '{name}': ${api_key_env} is not set; export it, or name another variable")
        params["api_key"] = key  # the model registers it for redaction
    parsed = parse_price(price)
    if parsed is not None:
        params["price"] = parsed
    from agentloom.models.litellm_model import LiteLLMModel

    model = LiteLLMModel(name, **params)
    if tool_mode is not None:
        model.tool_mode = tool_mode
    model.rate_limit = rate_limit
    return model
