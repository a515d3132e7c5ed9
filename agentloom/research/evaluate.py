"""Quality of research answers on a question set (``loom eval``), for any model.

A question set is a JSON list of ``{"question", "expected", "support"}`` objects, optionally with
``kind``, ``source`` and ``unanswerable``. ``expected`` holds the values a correct short answer
contains; ``support`` strings a cited passage must hold to count as support. A question the
corpus cannot answer has ``"expected": []`` and ``"unanswerable": true``; a question with
neither is an input error.

Metrics (each from 0 to 1, higher is better):

- **strict** (the headline): the question passes when its *short answer* holds every expected
  value after number and unit normalisation ("£468,500" holds "GBP 468,500", "640-metre" holds
  "640 metres"); a leading "yes"/"no" value must be the answer's first word; an unanswerable
  question passes when the short answer says the corpus does not contain it.
- **recall** (second column): the share of expected values found anywhere in the report's body
  (its references list and usage footer excluded), with the same matching.
- **citation precision**: the share of cited passages that hold a ``support`` string, or when
  there are none, that ground every sentence citing them.
- **grounding**: for every cited passage, whether each report sentence citing it has at least
  60% of its content terms in the passage, by the evaluator's own tokeniser.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agentloom.citations import Citation
from agentloom.errors import AgentloomError, ConfigError, CorpusError, UsageError
from agentloom.research._scoring import (
    GROUNDING,
    contains,
    grounded,
    normalize,
    says_no_evidence,
    sentences,
    short_answer_holds,
)

__all__ = [
    "GROUNDING",
    "EvalQuestion",
    "EvalReport",
    "EvalRow",
    "evaluate",
    "evaluate_sync",
    "load_questions",
    "normalize",
    "says_no_evidence",
    "score_report",
]

_REFERENCES = re.compile(r"^#{1,3}\s*references\s*$", re.I | re.M)
_FOOTER = re.compile(r"^---\s*$\n+\s*\*\*Usage:\*\*.*", re.M | re.S)
_NUMBERED = re.compile(r"\[(\d{1,3})\]")


def _body(report: str) -> str:
    """The report without its references list and usage footer."""
    match = _REFERENCES.search(report)
    body = report[: match.start()] if match else report
    return _FOOTER.sub("", body)


def _citing_sentences(body: str, number: int) -> list[str]:
    return [_NUMBERED.sub("", s) for s in sentences(body) if f"[{number}]" in s]


def score_report(
    report_markdown: str,
    citations: Sequence[Citation | dict[str, Any]],
    expected: Sequence[str],
    support: Sequence[str],
    *,
    short_answer: str = "",
    unanswerable: bool | None = None,
) -> dict[str, Any]:
    """Score one report (see the module docstring for the definitions). ``citations`` are the
    report's numbered citations in order (``citations[0]`` is ``[1]``); dicts with a ``text``
    key are accepted too. ``unanswerable`` defaults to "``expected`` is empty". Returns the
    metrics plus what was found, missing and unsupported."""
    body = _body(report_markdown)
    texts = [c.text if isinstance(c, Citation) else str(c.get("text", "")) for c in citations]
    no_answer = (not expected) if unanswerable is None else unanswerable
    if no_answer:
        found: list[str] = []
        missing: list[str] = []
        recall = 1.0 if says_no_evidence(body) else 0.0
    else:
        found = [e for e in expected if contains(body, e)]
        missing = [e for e in expected if e not in found]
        recall = len(found) / len(expected)
    strict, short_missing = short_answer_holds(short_answer, expected, unanswerable=no_answer)
    grounded_ = [grounded(_citing_sentences(body, i), text) for i, text in enumerate(texts, 1)]
    supported = [any(contains(text, s) for s in support) for text in texts] if support else list(grounded_)
    if not texts:
        precision = 1.0 if no_answer else 0.0
        grounding = 1.0 if no_answer else 0.0
    elif no_answer:
        precision = 0.0
        grounding = sum(grounded_) / len(grounded_)
    else:
        precision = sum(supported) / len(supported)
        grounding = sum(grounded_) / len(grounded_)
    return {
        "strict": 1.0 if strict else 0.0,
        "short_missing": short_missing,
        "answer_recall": recall,
        "citation_precision": precision,
        "grounding": grounding,
        "found": found,
        "missing": missing,
        "cited": len(texts),
        "supported": sum(supported) if texts and not no_answer else 0,
        "unsupported": [i for i, ok in enumerate(supported, 1) if not ok],
        "no_evidence": says_no_evidence(body),
    }


# --------------------------------------------------------------------------- the question set
@dataclass(slots=True)
class EvalQuestion:
    """One question of a set, with the values its short answer must hold and its report cite."""

    question: str
    expected: list[str] = field(default_factory=list)
    support: list[str] = field(default_factory=list)
    unanswerable: bool = False
    kind: str = ""


def _strings(value: Any, where: str, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: '{key}' must be a list of strings")
    return [v for v in value if v.strip()]


_KEYS = {"question", "expected", "support", "unanswerable", "kind", "source", "id", "notes"}


def _question(item: Any, where: str) -> EvalQuestion:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: expected an object with 'question', 'expected' and 'support'")
    question = item.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ConfigError(f"{where}: 'question' must be a non-empty string")
    unknown = sorted(set(item) - _KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; use question, expected, support, unanswerable, kind, source")
    unanswerable = item.get("unanswerable", False)
    if not isinstance(unanswerable, bool):
        raise ConfigError(f"{where}: 'unanswerable' must be true or false")
    kind = item.get("kind", "")
    if not isinstance(kind, str):
        raise ConfigError(f"{where}: 'kind' must be a string")
    expected = _strings(item.get("expected"), where, "expected")
    if not expected and not unanswerable:
        raise ConfigError(f"{where}: no 'expected' values; list what a correct answer holds, or set \"unanswerable\": true")
    if expected and unanswerable:
        raise ConfigError(f"{where}: an unanswerable question cannot list 'expected' values; drop one of them")
    return EvalQuestion(question.strip(), expected, _strings(item.get("support"), where, "support"), unanswerable, kind.strip())


def load_questions(path: str | Path) -> list[EvalQuestion]:
    """Read and check a question set; any problem is one ``ConfigError`` line naming the file."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"questions file '{file}' does not exist; pass a JSON list of questions (see examples/questions.json)")
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"questions file '{file}' is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"questions file '{file}' is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    if isinstance(raw, dict) and isinstance(raw.get("questions"), list):
        raw = raw["questions"]
    if not isinstance(raw, list):
        raise ConfigError(f"questions file '{file}' must hold a JSON list of {{\"question\", \"expected\", \"support\"}} objects")
    if not raw:
        raise ConfigError(f"questions file '{file}' holds no questions")
    return [_question(item, f"{file}: question {i}") for i, item in enumerate(raw, 1)]


# --------------------------------------------------------------------------- running it
@dataclass(slots=True)
class EvalRow:
    """The outcome for one question."""

    question: str
    answer_recall: float
    citation_precision: float
    grounding: float
    found: list[str]
    missing: list[str]
    cited: int
    short_answer: str = ""
    wall_s: float = 0.0
    run_id: str = ""
    partial: bool = False
    error: str | None = None
    strict: float = 0.0
    short_missing: list[str] = field(default_factory=list)
    kind: str = ""
    tokens: int = 0
    calls: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class EvalReport:
    """Scores for a whole question set, with their means."""

    rows: list[EvalRow]
    corpus: list[str]
    model: str

    @property
    def strict(self) -> float:
        """Share of questions whose short answer holds every expected value."""
        return _mean([r.strict for r in self.rows])

    @property
    def answer_recall(self) -> float:
        return _mean([r.answer_recall for r in self.rows])

    @property
    def citation_precision(self) -> float:
        return _mean([r.citation_precision for r in self.rows])

    @property
    def grounding(self) -> float:
        return _mean([r.grounding for r in self.rows])

    @property
    def errors(self) -> int:
        return sum(1 for r in self.rows if r.error)

    def by_kind(self) -> dict[str, float]:
        """Strict accuracy per question kind (questions without a kind are left out)."""
        kinds: dict[str, list[float]] = {}
        for row in self.rows:
            if row.kind:
                kinds.setdefault(row.kind, []).append(row.strict)
        return {k: round(_mean(v), 4) for k, v in sorted(kinds.items())}

    def totals(self) -> dict[str, Any]:
        return {
            "questions": len(self.rows),
            "strict": round(self.strict, 4),
            "passed": sum(1 for r in self.rows if r.strict),
            "answer_recall": round(self.answer_recall, 4),
            "citation_precision": round(self.citation_precision, 4),
            "grounding": round(self.grounding, 4),
            "errors": self.errors,
            "wall_s": round(sum(r.wall_s for r in self.rows), 3),
            "by_kind": self.by_kind(),
        }

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "corpus": self.corpus, "questions": [r.to_dict() for r in self.rows], "totals": self.totals()}

    def table(self, width: int = 56) -> str:
        """A plain-text table: one row per question (a failing one shows its short answer and
        what it lacks), then the means and the strict score per kind."""
        head = f"{'#':>3}  {'question':<{width}}  {'strict':>6}  {'recall':>6}  {'prec':>6}  {'ground':>6}  {'cited':>5}  {'time':>6}"
        lines = [head, "-" * len(head)]
        for i, row in enumerate(self.rows, 1):
            question = row.question if len(row.question) <= width else row.question[: width - 1] + "…"
            mark = "pass" if row.strict else "FAIL"
            lines.append(
                f"{i:>3}  {question:<{width}}  {mark:>6}  {row.answer_recall:>6.2f}  {row.citation_precision:>6.2f}  "
                f"{row.grounding:>6.2f}  {row.cited:>5}  {row.wall_s:>5.1f}s"
            )
            if row.error:
                lines.append(f"     error: {row.error}")
            elif not row.strict:
                short = " ".join(row.short_answer.split())
                lines.append(f"     short answer: {short[:200] + ('…' if len(short) > 200 else '')}")
                lines.append(f"     lacks: {', '.join(row.short_missing)}")
        t = self.totals()
        lines.append("-" * len(head))
        lines.append(
            f"{'':>3}  {'mean over ' + str(t['questions']) + ' questions':<{width}}  {t['strict']:>6.2f}  {t['answer_recall']:>6.2f}  "
            f"{t['citation_precision']:>6.2f}  {t['grounding']:>6.2f}  {'':>5}  {t['wall_s']:>5.1f}s"
        )
        lines.append(f"strict: {t['passed']}/{t['questions']} short answers hold every expected value")
        if t["by_kind"]:
            lines.append("by kind: " + ", ".join(f"{k} {v:.2f}" for k, v in t["by_kind"].items()))
        if t["errors"]:
            lines.append(f"{t['errors']} question(s) failed")
        return "\n".join(lines)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


ResearchFn = Callable[..., Awaitable[Any]]


def _corpus_paths(corpus: str | Path | Sequence[str | Path]) -> list[str]:
    paths = [corpus] if isinstance(corpus, str | Path) else list(corpus)
    if not paths:
        raise CorpusError("no corpus given; pass --corpus with a folder of .md, .txt or .html files")
    for path in paths:
        if not Path(path).exists():
            raise CorpusError(f"corpus path '{path}' does not exist; pass a folder of .md, .txt or .html files")
    return [str(p) for p in paths]


async def evaluate(
    questions_path: str | Path,
    corpus: str | Path | Sequence[str | Path],
    model: Any = None,
    *,
    research: ResearchFn | None = None,
) -> EvalReport:
    """Run the research pipeline on every question of the set, one after another, and score
    each report. ``research`` replaces ``agentloom.research.run.research`` (same signature).
    A user error (bad corpus, unknown model) stops the evaluation; a run that fails for another
    reason is recorded as that question's error and scores 0."""
    questions = load_questions(questions_path)
    paths = _corpus_paths(corpus)
    if research is None:
        from agentloom.research.run import research as pipeline

        research = pipeline
    rows: list[EvalRow] = []
    for item in questions:
        start = time.perf_counter()
        try:
            result = await research(item.question, corpus=paths, model=model, quiet=True)
        except UsageError:
            raise
        except AgentloomError as exc:
            rows.append(
                EvalRow(item.question, 0.0, 0.0, 0.0, [], list(item.expected), 0, wall_s=time.perf_counter() - start, error=exc.one_line(), kind=item.kind)
            )
            continue
        wall = time.perf_counter() - start
        report = result.output if isinstance(result.output, str) else str(result.output)
        short = str(meta.get("short_answer") or "") if isinstance(meta := result.meta, dict) else ""
        score = score_report(report, list(result.citations), item.expected, item.support, short_answer=short, unanswerable=item.unanswerable)
        usage = getattr(result, "usage", None)
        rows.append(
            EvalRow(
                question=item.question,
                answer_recall=score["answer_recall"],
                citation_precision=score["citation_precision"],
                grounding=score["grounding"],
                found=score["found"],
                missing=score["missing"],
                cited=score["cited"],
                short_answer=short,
                wall_s=round(wall, 3),
                run_id=str(getattr(result, "run_id", "") or ""),
                partial=bool(getattr(result, "partial", False)),
                strict=score["strict"],
                short_missing=score["short_missing"],
                kind=item.kind,
                tokens=int(getattr(usage, "tokens", 0) or 0),
                calls=int(getattr(usage, "llm_calls", 0) or 0),
            )
        )
    name = model if isinstance(model, str) else getattr(model, "name", None)
    if name is None:
        from agentloom.models.resolve import default_model_name

        name = default_model_name()
    return EvalReport(rows=rows, corpus=paths, model=str(name))


def evaluate_sync(questions_path: str | Path, corpus: str | Path | Sequence[str | Path], model: Any = None, **kwargs: Any) -> EvalReport:
    """``evaluate`` for synchronous code."""
    import asyncio

    return asyncio.run(evaluate(questions_path, corpus, model, **kwargs))
