"""USD per token from litellm's bundled price map, read offline and without importing litellm.

litellm ships its price map as a JSON file inside the package; when litellm is already imported
its live ``litellm.model_cost`` is used instead (it includes models a user registered). Only
prices the map states are returned: an unknown model gives ``None``, never a guess.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from agentloom.budget import Price

__all__ = ["bundled_price_map", "lookup_price", "price_from_entry", "split_provider"]

_PRICE_FILE = "model_prices_and_context_window_backup.json"


@functools.lru_cache(maxsize=1)
def _read_bundled_file() -> dict[str, Any]:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    for folder in spec.submodule_search_locations:
        path = Path(folder) / _PRICE_FILE
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return {}
            return data if isinstance(data, dict) else {}
    return {}


def bundled_price_map() -> dict[str, Any]:
    """litellm's price map: ``litellm.model_cost`` if litellm is loaded, else its bundled JSON."""
    module = sys.modules.get("litellm")
    live = getattr(module, "model_cost", None) if module is not None else None
    if isinstance(live, dict) and live:
        return live
    return _read_bundled_file()


def price_from_entry(entry: Any) -> Price | None:
    """A ``Price`` from one price-map entry, or None when it states no per-token price."""
    if not isinstance(entry, dict):
        return None
    inp, out = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
    if not isinstance(inp, int | float) or not isinstance(out, int | float):
        return None
    cached = entry.get("cache_read_input_token_cost")
    return Price(float(inp), float(out), float(cached) if isinstance(cached, int | float) else None)


def split_provider(model: str) -> tuple[str | None, str]:
    """``"openai/gpt-4o-mini"`` -> ``("openai", "gpt-4o-mini")``; a bare name has no provider."""
    if "/" in model:
        prefix, rest = model.split("/", 1)
        return prefix, rest
    return None, model


def _provider_matches(entry: Any, provider: str | None) -> bool:
    if provider is None:
        return True
    stated = entry.get("litellm_provider") if isinstance(entry, dict) else None
    return isinstance(stated, str) and (stated == provider or stated.startswith(provider + "-"))


def lookup_price(model: str, provider: str | None = None) -> Price | None:
    """The price of ``model`` (optionally as served by ``provider``), or None if unknown.

    Tries the exact key, then ``provider/model``, then the bare model name when the entry's
    ``litellm_provider`` agrees, so ``openai/gpt-4o-mini`` finds the ``gpt-4o-mini`` entry but
    ``groq/gpt-4o-mini`` does not borrow OpenAI's price.
    """
    table = bundled_price_map()
    if not table or not model or model == "sample_spec":
        return None
    prefix, bare = split_provider(model)
    candidates: list[tuple[str, str | None]] = []  # (key, provider the entry must state)
    if prefix is not None:
        candidates += [(model, None), (bare, provider or prefix)]
    elif provider is not None:
        candidates += [(model, provider), (f"{provider}/{model}", None)]
    else:
        candidates.append((model, None))
    for key, must_match in candidates:
        entry = table.get(key)
        if entry is not None and _provider_matches(entry, must_match):
            price = price_from_entry(entry)
            if price is not None:
                return price
    return None
