"""``resolve_model``: a model spec (string, model, or nothing) plus its connection options to a
model object. The CLI flags (``--base-url``, ``--api-key-env``, ``--price``, ``--tool-mode``),
YAML ``models:`` keys of the same names and Python keywords all arrive here."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from agentloom.budget import Price
from agentloom.errors import ConfigError
from agentloom.models.types import Model

__all__ = ["resolve_model", "default_model_name", "parse_price", "TOOL_MODES"]

#: How a model is asked for tool calls: OpenAI ``tools``, a JSON-schema act step, tolerant text
#: parsing, or ``auto`` (chosen per model and remembered in the home).
TOOL_MODES = ("auto", "native", "json", "text")


def default_model_name() -> str:
    """``$AGENTLOOM_MODEL``, else ``offline``."""
    return os.environ.get("AGENTLOOM_MODEL") or "offline"


def parse_price(value: Price | str | Mapping[str, Any] | Sequence[float] | None, where: str = "price") -> Price | None:
    """A ``Price`` (USD per token) from a ``Price``, or from USD per *million* tokens written as
    ``"INPUT,OUTPUT"``, ``{input: .., output: ..}`` or ``(input, output)`` (how providers publish them)."""
    if value is None or isinstance(value, Price):
        return value
    try:
        if isinstance(value, str):
            parts = [float(p) for p in value.replace("/", ",").split(",")]
        elif isinstance(value, Mapping):
            unknown = set(value) - {"input", "output", "cached_input"}
            if unknown:
                raise ValueError(f"unknown key(s) {', '.join(sorted(unknown))}")
            parts = [float(value["input"]), float(value["output"])]
            if "cached_input" in value:
                parts.append(float(value["cached_input"]))
        else:
            parts = [float(p) for p in value]
        if len(parts) not in (2, 3) or any(p < 0 for p in parts):
            raise ValueError("need two or three non-negative numbers")
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{where}={value!r} is not a price ({exc}); give USD per million tokens as INPUT,OUTPUT, "
            "e.g. 0.15,0.60 (0,0 for a local model)"
        ) from None
    million = 1_000_000
    return Price(parts[0] / million, parts[1] / million, parts[2] / million if len(parts) == 3 else None)


def _key_from_env(var: str, where: str) -> str:
    value = os.environ.get(var)
    if not value:
        raise ConfigError(f"{where} names the variable {var}, which is not set; export {var}=... or name another variable")
    return value


def resolve_model(
    spec: str | Model | None = None,
    *,
    base_url: str | None = None,
    api_key_env: str | None = None,
    price: Price | str | Mapping[str, Any] | Sequence[float] | None = None,
    tool_mode: str | None = None,
    **params: Any,
) -> Model:
    """``None`` gives the default (``$AGENTLOOM_MODEL`` or offline); ``"offline"`` gives
    ``OfflineModel``; a model object is returned as is (``tool_mode`` set on it when given);
    any other string is a litellm model, pointed at ``base_url`` with the key read from the
    variable ``api_key_env`` and priced by ``price`` (see ``parse_price``)."""
    if tool_mode is not None and tool_mode not in TOOL_MODES:
        raise ConfigError(f"tool_mode={tool_mode!r} is not one of {', '.join(TOOL_MODES)}")
    if spec is None:
        spec = default_model_name()
    if not isinstance(spec, str):
        if tool_mode is not None:
            spec.tool_mode = tool_mode  # type: ignore[attr-defined]
        return spec
    name = spec.strip()
    if name == "offline":
        from agentloom.models.offline import OfflineModel

        return OfflineModel()
    from agentloom.models.litellm_model import LiteLLMModel

    if base_url is not None:
        params["api_base"] = base_url
    if api_key_env is not None:
        params["api_key"] = _key_from_env(api_key_env, f"api_key_env {api_key_env}")
    parsed = parse_price(price)
    if parsed is not None:
        params["price"] = parsed
    model = LiteLLMModel(name, **params)
    if tool_mode is not None:
        model.tool_mode = tool_mode
    return model
