"""A real small model (Qwen2.5-Coder-Instruct behind llama.cpp's server) answering a question set
over the shipped corpus, four ways side by side:

- ``ask``: one agent with the corpus tools (what ``loom ask`` runs);
- ``research``: the deep-research pipeline (what ``loom research`` runs);
- ``no-tools``: the same model answering from its own memory;
- ``offline``: the offline engine running ``ask`` and ``research``.

Per run: the share of runs with a tool call (any, and issued by the model itself, beside the
framework's first search), the share whose answer cites a passage, strict accuracy (every
expected value in the short answer; "not in the corpus" questions must say no evidence was
found), model calls, tokens and wall time; for research, the figures in the short answer found in
no corpus document, and the sentences the grounding guard dropped.

    python -m bench.bench_realmodel --size 0.5b [--limit N] [--research-limit N] [--json out.json]
    python -m bench realmodel --quick     # 8 questions, when the model is prepared

The question set (``bench/questions_shipped_fresh.json``) was written by someone who had not read
the code; it is evaluation material only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench._home import scratch_home

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = Path(__file__).resolve().parent / "questions_shipped_fresh.json"
CORPUS = ROOT / "examples" / "corpus"
NO_TOOLS = "Answer the question in one or two sentences with the exact figures or names."


def _strict(answer: str, expected: list[str]) -> bool:
    from agentloom.research.evaluate import score_report

    return bool(score_report(answer, [], expected, [])["answer_recall"] == 1.0)


def _subset(questions: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """``limit`` questions spread evenly over the set (every kind keeps its share)."""
    if limit >= len(questions):
        return questions
    step = len(questions) / limit
    return [questions[int(i * step)] for i in range(limit)]


@contextmanager
def _server(size: str, url: str | None) -> Iterator[tuple[str, str]]:
    sys.path.insert(0, str(ROOT))
    from scripts import local_model

    if url:
        yield url, local_model.MODELS[size].alias
        return
    if not local_model.is_prepared(size):
        raise SystemExit(f"the {size} model is not prepared; run: python scripts/local_model.py prepare --size {size}")
    with local_model.serve(size) as server:
        yield server.base_url, server.alias


def _model(base_url: str, alias: str) -> Any:
    from agentloom.models.resolve import resolve_model

    return resolve_model(f"openai/{alias}", base_url=base_url, price="0,0")


def _corpus_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(CORPUS.rglob("*")) if p.is_file())


# --------------------------------------------------------------------------- one run of each kind
async def _ask(model: Any, question: str, tools: list[Any]) -> dict[str, Any]:
    from agentloom.agents.agent import Agent

    result = await Agent(model, tools=tools, name="ask").run(question)
    framework = 1 if result.meta.get("retrieved_first") else 0
    return {"answer": str(result.output), "cited": bool(result.citations), "tool_calls": result.usage.tool_calls,
            "model_tool_calls": result.usage.tool_calls - framework, "usage": result.usage}


async def _no_tools(model: Any, question: str) -> dict[str, Any]:
    from agentloom.agents.agent import Agent

    # a plain chat answer (text mode: no schema, no tools), the model's own memory
    result = await Agent(model, tools=[], instructions=NO_TOOLS, name="no-tools", max_turns=1, tool_mode="text").run(question)
    return {"answer": str(result.output), "cited": False, "tool_calls": 0, "model_tool_calls": 0, "usage": result.usage}


async def _research(model: Any, question: str) -> dict[str, Any]:
    from agentloom.budget import Budget
    from agentloom.research.run import research
    from agentloom.runstore import RunStore

    result = await research(question, corpus=[CORPUS], model=model, budget=Budget(tokens=400_000, seconds=900))
    dropped = [e for e in RunStore().events(result.run_id, "grounding")]
    return {"answer": str(result.meta.get("short_answer") or ""), "cited": bool(result.citations),
            "tool_calls": result.usage.tool_calls, "model_tool_calls": None, "usage": result.usage,
            "guard_dropped": sum(len((e.get("data") or {}).get("dropped") or []) for e in dropped)}


def _unsupported_figures(answer: str, question: str, corpus: str) -> int:
    """Sentences of ``answer`` holding a figure that no corpus document (nor the question) holds."""
    from agentloom.agents.grounding import figures_in
    from agentloom.text.lexical import split_sentences

    known = figures_in(corpus + "\n" + question)
    return sum(1 for s in split_sentences(answer)
               if any(not any(abs(f - k) <= 0.005 * max(abs(f), 1) for k in known) for f in figures_in(s) if not (f.is_integer() and f <= 9)))


# --------------------------------------------------------------------------- a configuration
def _measure(name: str, model_label: str, questions: list[dict[str, Any]], one: Callable[[str], Any],
             corpus: str, log: Callable[[str], None]) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for i, q in enumerate(questions, 1):
        start = time.perf_counter()
        try:
            out = asyncio.run(one(q["question"]))
            error = None
        except Exception as exc:  # a failed run counts as wrong, and is reported
            out, error = {"answer": "", "cited": False, "tool_calls": 0, "model_tool_calls": 0, "usage": None}, f"{type(exc).__name__}: {exc}"
        wall = time.perf_counter() - start
        usage = out["usage"]
        row = {"kind": q.get("kind"), "correct": _strict(out["answer"], list(q.get("expected") or [])), "cited": out["cited"],
               "tool_calls": out["tool_calls"], "model_tool_calls": out["model_tool_calls"],
               "llm_calls": usage.llm_calls if usage else 0, "tokens": usage.tokens if usage else 0, "wall_s": wall,
               "unsupported": _unsupported_figures(out["answer"], q["question"], corpus),
               "guard_dropped": out.get("guard_dropped", 0), "error": error, "answer": out["answer"][:300]}
        rows.append(row)
        log(f"{name} [{model_label}] {i}/{len(questions)} {'ok ' if row['correct'] else 'no '} {wall:5.1f}s "
            f"tools={row['tool_calls']} cited={row['cited']} {row['answer'][:90]!r}" + (f" ERROR {error}" if error else ""))
    n = len(rows)
    model_calls = [r["model_tool_calls"] for r in rows if r["model_tool_calls"] is not None]
    return {
        "run": name,
        "model": model_label,
        "questions": n,
        "tool_called": sum(r["tool_calls"] > 0 for r in rows) / n,
        "model_issued_call": (sum(c > 0 for c in model_calls) / len(model_calls)) if model_calls else None,
        "cited": sum(r["cited"] for r in rows) / n,
        "called_and_cited": sum(r["tool_calls"] > 0 and r["cited"] for r in rows) / n,
        "strict_accuracy": sum(r["correct"] for r in rows) / n,
        "model_calls_mean": statistics.mean(r["llm_calls"] for r in rows),
        "tokens_mean": statistics.mean(r["tokens"] for r in rows),
        "wall_s_mean": statistics.mean(r["wall_s"] for r in rows),
        "answers_with_unsupported_figures": sum(r["unsupported"] > 0 for r in rows),
        "guard_dropped_sentences": sum(r["guard_dropped"] for r in rows),
        "errors": sum(r["error"] is not None for r in rows),
        "rows": rows,
    }


def measure(size: str, *, limit: int, research_limit: int, runs: list[str], url: str | None = None,
            log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Every configuration in ``runs`` on the first ``limit`` questions (research: ``research_limit``)."""
    from agentloom.models.offline import OfflineModel
    from agentloom.tools.calculator import calculator
    from agentloom.tools.corpus import corpus_tools

    questions = json.loads(QUESTIONS.read_text(encoding="utf-8"))
    few, fewer = _subset(questions, limit), _subset(questions, research_limit)
    corpus = _corpus_text()
    results: list[dict[str, Any]] = []
    with scratch_home("agentloom-bench-realmodel-"):
        tools = [*corpus_tools([CORPUS]), calculator]
        if "offline" in runs:
            results.append(_measure("ask", "offline", few, lambda q: _ask(OfflineModel(), q, tools), corpus, log))
            results.append(_measure("research", "offline", fewer, lambda q: _research(OfflineModel(), q), corpus, log))
        with _server(size, url) as (base_url, alias):
            label = f"qwen2.5-coder-{size}"
            if "no-tools" in runs:
                results.append(_measure("no-tools", label, few, lambda q: _no_tools(_model(base_url, alias), q), corpus, log))
            if "ask" in runs:
                results.append(_measure("ask", label, few, lambda q: _ask(_model(base_url, alias), q, tools), corpus, log))
            if "research" in runs:
                results.append(_measure("research", label, fewer, lambda q: _research(_model(base_url, alias), q), corpus, log))
    return results


def _summary(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items() if k != "rows"} for r in results]


def run(quick: bool = False) -> list[dict[str, Any]]:
    """For ``python -m bench realmodel``: the 0.5B on a few questions, when it is prepared."""
    sys.path.insert(0, str(ROOT))
    from scripts import local_model

    if not local_model.is_prepared("0.5b"):
        return [{"run": "skipped", "why": "python scripts/local_model.py prepare --size 0.5b"}]
    n = 8 if quick else 40
    return _summary(measure("0.5b", limit=n, research_limit=n // 2, runs=["offline", "no-tools", "ask", "research"],
                            log=lambda line: print(line, file=sys.stderr)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_realmodel", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=["0.5b", "1.5b"], default="0.5b")
    parser.add_argument("--limit", type=int, default=40, help="questions for ask, no-tools and offline ask")
    parser.add_argument("--research-limit", type=int, default=20, help="questions for research runs")
    parser.add_argument("--runs", default="offline,no-tools,ask,research", help="comma-separated: offline,no-tools,ask,research")
    parser.add_argument("--url", default=None, help="use a server already running at this base URL")
    parser.add_argument("--json", type=Path, default=None, help="write every row here")
    args = parser.parse_args(argv)
    results = measure(args.size, limit=args.limit, research_limit=args.research_limit, runs=args.runs.split(","), url=args.url,
                      log=lambda line: print(line, file=sys.stderr, flush=True))
    from bench.run import format_table

    print(format_table(_summary(results)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
