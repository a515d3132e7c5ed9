"""The one token counter: a real tokenizer (model-aware, offline) with a labelled fallback, and
budget estimates that do not run low on JSON, ids or digits."""

from __future__ import annotations

import json
import random
import uuid

import pytest

from agentloom.models.base import estimate_input_tokens
from agentloom.models.types import Message, ModelRequest
from agentloom.tokens import TokenCounter, count_tokens, counter_for

_rng = random.Random(7)
HOSTILE = {
    "uuids": " ".join(str(uuid.UUID(int=_rng.getrandbits(128))) for _ in range(40)),
    "digits": "".join(str(_rng.randint(0, 9)) for _ in range(1500)),
    "json": json.dumps([{"id": uuid.UUID(int=_rng.getrandbits(128)).hex, "v": _rng.random(), "n": _rng.randint(0, 10**9)} for _ in range(40)]),
    "hex": "".join(_rng.choice("0123456789abcdef") for _ in range(1500)),
    "prose": "The harbour authority opened a second quay in the spring, after two years of work. " * 10,
    "code": "def f(x):\n    return {k: v for k, v in x.items() if v is not None}\n" * 20,
}


def test_openai_models_count_with_their_own_encoding_and_others_say_it_is_an_approximation() -> None:
    assert counter_for("gpt-4o").method == "tiktoken:o200k_base"
    assert counter_for("openai/gpt-4o-mini").method == "tiktoken:o200k_base"
    assert counter_for("gpt-4").method == "tiktoken:cl100k_base"
    assert counter_for("openai/qwen2.5-coder-0.5b").method == "tiktoken:cl100k_base~"
    assert counter_for(None).method == "tiktoken:cl100k_base~"


def test_an_approximation_counts_digits_one_by_one_as_small_open_models_do() -> None:
    exact = counter_for("gpt-4").count("1234567890")
    assert count_tokens("1234567890", "openai/qwen2.5-coder-0.5b") >= 10 > exact


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_the_fallback_estimate_never_counts_fewer_tokens_than_the_tokenizer(kind: str) -> None:
    text = HOSTILE[kind]
    estimate = TokenCounter("estimate").count(text)
    assert estimate >= counter_for("gpt-4").count(text)
    assert estimate >= counter_for("gpt-4o").count(text)


@pytest.mark.parametrize("kind", ["uuids", "digits", "json", "hex"])
def test_a_budget_estimate_is_not_low_on_ids_json_or_digits(kind: str) -> None:
    text = HOSTILE[kind]
    request = ModelRequest(messages=[Message.user(text)])
    for model in ("gpt-4o", "openai/qwen2.5-coder-0.5b"):
        assert estimate_input_tokens(request, model) >= counter_for(model).count(text)
    # the old characters/3 rule reserved under the count of a model that splits digits
    assert len(text) // 3 < counter_for("openai/qwen2.5-coder-0.5b").count(text)


def test_without_tiktoken_the_count_is_the_labelled_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import agentloom.tokens as tokens

    monkeypatch.setitem(sys.modules, "tiktoken", None)  # import fails
    tokens._encoding.cache_clear()
    tokens.counter_for.cache_clear()
    try:
        counter = tokens.counter_for("gpt-4o")
        assert counter.method == "estimate" and counter.count("hello there") >= 2
    finally:
        monkeypatch.undo()
        tokens._encoding.cache_clear()
        tokens.counter_for.cache_clear()
