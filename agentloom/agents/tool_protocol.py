"""How an agent asks a model for tool calls, per model: ``native`` (OpenAI ``tools``), ``json``
(the act step is a structured output, "one tool call or a final answer", that servers such as
llama.cpp, vLLM and Ollama enforce by grammar), ``text`` (tolerant parsing of ``<tool_call>``
tags and fenced JSON), or ``auto``: picked per model and remembered in the home.

Small local models write tool calls as text that no server turns into ``tool_calls``; a schema
the server enforces is what makes them use tools at all (see the README's design notes).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, create_model

from agentloom._paths import loom_home
from agentloom.models.base import json_values
from agentloom.models.types import Message, Model, ToolCall
from agentloom.secrets import redact_text
from agentloom.tools.base import Tool

__all__ = [
    "EVIDENCE_TOOLS",
    "act_schema",
    "is_evidence_tool",
    "parse_text_calls",
    "plain_transcript",
    "protocol_prompt",
    "read_step",
    "remember_mode",
    "resolve_tool_mode",
]

#: Tools whose results are evidence to cite (searches of a corpus or the web).
EVIDENCE_TOOLS = frozenset({"corpus_search", "web_search"})

_MODES_FILE = "tool_modes.json"


def is_evidence_tool(tool: Tool) -> bool:
    """Whether ``tool`` finds evidence from a query (the framework may run it first itself)."""
    return tool.name in EVIDENCE_TOOLS and "query" in tool.args_model.model_fields


# --------------------------------------------------------------------------- choosing a mode
def _model_key(model: Model) -> str:
    base = getattr(model, "api_base", None) or getattr(model, "base_url", None) or ""
    return redact_text(f"{getattr(model, 'name', type(model).__name__)}@{base}")  # no URL password on disk


def _modes_path() -> Path:
    return loom_home() / _MODES_FILE


def _remembered() -> dict[str, str]:
    try:
        data = json.loads(_modes_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def remember_mode(model: Model, mode: str) -> None:
    """Record ``mode`` as this model's tool mode in the home (``tool_modes.json``)."""
    modes = _remembered()
    key = _model_key(model)
    if modes.get(key) == mode:
        return
    modes[key] = mode
    path = _modes_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_text(json.dumps(modes, indent=1, sort_keys=True), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # a read-only home only costs the memory of the choice


def resolve_tool_mode(model: Model, requested: str | None = None) -> str:
    """The tool mode for ``model``: ``requested`` or the model's own ``tool_mode`` when not
    ``auto``; else the choice remembered for this model; else ``json`` for a model on a server of
    the user's own (``base_url``: llama.cpp, vLLM, Ollama enforce schemas) and ``native``
    otherwise (hosted providers, the offline engine, function models). ``auto`` choices are
    remembered so every later run of the model uses the same protocol."""
    mode = requested or getattr(model, "tool_mode", None) or "auto"
    if mode != "auto":
        return mode
    remembered = _remembered().get(_model_key(model))
    if remembered in ("native", "json", "text"):
        return remembered
    self_hosted = bool(getattr(model, "api_base", None) or getattr(model, "base_url", None))
    mode = "json" if self_hosted and type(model).__name__ in ("LiteLLMModel", "OpenAIModel") else "native"
    if type(model).__name__ in ("LiteLLMModel", "OpenAIModel"):
        remember_mode(model, mode)
    return mode


# --------------------------------------------------------------------------- the json step
class _Final(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer: str = Field(description="the final answer: one or two sentences with the exact figures or names")
    cite: list[str] = Field(default_factory=list, description="ids of the passages the answer comes from")


def _final_type(passage_ids: Sequence[str]) -> type[BaseModel]:
    if not passage_ids:
        return _Final
    ids = tuple(dict.fromkeys(passage_ids))
    cite_type = list[Literal[ids]]  # type: ignore[valid-type]
    return create_model(
        "FinalAnswer",
        __config__=ConfigDict(extra="forbid"),
        answer=(str, Field(description="the final answer: one or two sentences with the exact figures or names")),
        cite=(cite_type, Field(min_length=1, max_length=4, description="ids of the passages the answer comes from")),
    )


def _call_type(tool: Tool) -> type[BaseModel]:
    return create_model(
        f"Call_{re.sub(r'[^A-Za-z0-9_]', '_', tool.name)}",
        __config__=ConfigDict(extra="forbid"),
        tool=(Literal[tool.name], ...),  # type: ignore[valid-type,arg-type]
        arguments=(tool.args_model, ...),
    )


def act_schema(tools: Sequence[Tool], passage_ids: Sequence[str], *, answer_only: bool = False) -> type[BaseModel]:
    """The structured output of one act step: a call of one of ``tools`` (its arguments checked
    against the tool's own schema) or a final answer citing some of ``passage_ids``; with
    ``answer_only`` (the last turn) only the answer."""
    final = _final_type(passage_ids)
    if answer_only or not tools:
        return final
    options: list[type[BaseModel]] = [_call_type(t) for t in tools]
    union: Any = options[0]
    for option in [*options[1:], final]:
        union = union | option
    return create_model("ActStep", __base__=RootModel[union])  # type: ignore[call-overload,no-any-return]


def read_step(parsed: Any) -> tuple[list[ToolCall], str | None, list[str]]:
    """``(calls, answer, cite)`` from a parsed act step."""
    value = parsed.root if isinstance(parsed, RootModel) else parsed
    if isinstance(value, BaseModel) and "tool" in type(value).model_fields:
        args = value.arguments.model_dump(mode="json", exclude_unset=True)  # type: ignore[attr-defined]
        return [ToolCall(f"call_{uuid.uuid4().hex[:10]}", str(value.tool), json.dumps(args))], None, []  # type: ignore[attr-defined]
    if isinstance(value, BaseModel):
        data = value.model_dump()
        return [], str(data.get("answer") or ""), [str(c) for c in data.get("cite") or []]
    return [], None, []


# --------------------------------------------------------------------------- text calls
_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)
_FENCED = re.compile(r"```(?:json|tool_call|tool)?\s*\n(.*?)```", re.S)
_BRACKET = re.compile(r"\[(\w+)\?(\w+)=([^\]]+)\]")


def _call_from(obj: Any, names: set[str]) -> ToolCall | None:
    if not isinstance(obj, dict):
        return None
    fn = obj.get("function") if isinstance(obj.get("function"), dict) else None
    name = obj.get("name") or obj.get("tool") or (fn or {}).get("name")
    if not isinstance(name, str) or name not in names:
        return None
    args = fn.get("arguments", {}) if fn else obj.get("arguments", obj.get("args", obj.get("parameters", {})))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            return None
    if not isinstance(args, dict):
        return None
    return ToolCall(f"call_{uuid.uuid4().hex[:10]}", name, json.dumps(args))


def parse_text_calls(text: str | None, tool_names: Sequence[str]) -> list[ToolCall]:
    """Tool calls a model wrote as text: ``<tool_call>{...}</tool_call>`` tags, fenced or bare
    JSON objects with ``name``/``tool`` and ``arguments``, or ``[tool?arg=value]``. Only names of
    ``tool_names`` count; anything else is prose, and an answer."""
    if not text:
        return []
    names = set(tool_names)
    chunks = _TAGGED.findall(text) or _FENCED.findall(text) or [text]
    calls: list[ToolCall] = []
    for chunk in chunks:
        for value in json_values(chunk):
            for obj in value if isinstance(value, list) else [value]:
                call = _call_from(obj, names)
                if call is not None:
                    calls.append(call)
    if not calls:
        for name, arg, value in _BRACKET.findall(text):
            if name in names:
                calls.append(ToolCall(f"call_{uuid.uuid4().hex[:10]}", name, json.dumps({arg: value.strip()})))
    return calls


# --------------------------------------------------------------------------- prompts
def _example_args(tool: Tool) -> dict[str, Any]:
    fields = tool.args_model.model_fields
    required = [n for n, f in fields.items() if f.is_required()] or list(fields)[:1]
    return {n: ("solar panels in Oslo" if n == "query" else "...") for n in required}


def protocol_prompt(mode: str, tools: Sequence[Tool]) -> str:
    """The part of the system prompt that states the tool protocol plainly, with one example."""
    if not tools or mode == "native":
        return ""
    first = next((t for t in tools if is_evidence_tool(t)), tools[0])
    listing = "\n".join(f"- {t.name}: {t.description.splitlines()[0]}" for t in tools)
    example = json.dumps({"tool": first.name, "arguments": _example_args(first)})
    if mode == "json":
        return (
            f"Tools:\n{listing}\n\n"
            "Reply with one JSON object. To use a tool:\n"
            f"{example}\n"
            'To answer: {"answer": "<short answer with the exact figures>", "cite": ["<passage id>"]}\n'
            "Answer only from the tool results above; cite the ids of the passages you used."
        )
    call = json.dumps({"name": first.name, "arguments": _example_args(first)})
    return (
        f"Tools:\n{listing}\n\n"
        f"To use a tool, write exactly:\n<tool_call>{call}</tool_call>\n"
        "To answer, write the answer in plain text and cite passage ids in square brackets, e.g. [p_0123456789]."
    )


def plain_transcript(messages: Sequence[Message]) -> list[Message]:
    """``messages`` with tool calls and results as plain text turns, for models that are not
    sent OpenAI ``tools`` (their chat templates may not render tool roles without them)."""
    out: list[Message] = []
    for message in messages:
        if message.role == "assistant" and message.tool_calls:
            calls = [{"tool": c.name, "arguments": _safe_args(c)} for c in message.tool_calls]
            text = "\n".join(json.dumps(c) for c in calls)
            out.append(Message("assistant", ((message.content or "") + "\n" + text).strip()))
        elif message.role == "tool":
            out.append(Message("user", f"Result of {message.name or 'the tool'}:\n{message.content or ''}"))
        else:
            out.append(message)
    return out


def _safe_args(call: ToolCall) -> Any:
    try:
        return call.args()
    except ValueError:
        return call.arguments
