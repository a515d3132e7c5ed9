"""Offline quality: score research reports against a question set (``loom eval``).

A question set is a JSON list of ``{"question": ..., "expected": [...], "support": [...]}``.
``expected`` holds strings a good report contains; ``support`` strings a cited passage must hold
to count as support. An empty ``expected`` marks a question the corpus cannot answer: the good
report says no evidence was found.

Metrics (each from 0 to 1, higher is better):

- **answer recall**: the share of ``expected`` strings present in the report's text (its
  references list and usage footer excluded). Matching ignores case, markdown emphasis, runs of
  whitespace, dash variants and thousands separators ("17,000" matches "17000"), and needs word
  boundaries at both ends ("21 times" does not match "121 times"). For a question with no
  expected strings it is 1 when the report says no (supporting) evidence was found, else 0.
- **citation precision**: the share of the report's cited passages that support it. With
  ``support`` strings, a passage supports when it contains at least one of them (same matching).
  Without them, a passage supports when every report sentence citing it is lexically grounded
  in it (at least 60% of the sentence's content terms occur in the passage). A report that cites
  nothing scores 1 when nothing was expected (a no-answer question) and 0 otherwise; a report
  for a no-answer question that cites anything scores 0.
- **grounding**: the lexical test above for every cited passage, whatever ``support`` says:
  how much of what the report cites actually says what the citing sentences say.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agentloom.citations import Citation
from agentloom.errors import AgentloomError, ConfigError, CorpusError, UsageError

__all__ = [
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

#: Share of a sentence's content terms a passage must hold for the sentence to be grounded in it.
GROUNDING = 0.6
_NO_EVIDENCE = re.compile(r"\bno (supporting |relevant )?evidence\b|\bnothing (relevant )?was found\b", re.I)
_REFERENCES = re.compile(r"^#{1,3}\s*references\s*$", re.I | re.M)
_FOOTER = re.compile(r"^---\s*$\n+\s*\*\*Usage:\*\*.*", re.M | re.S)
_NUMBERED = re.compile(r"\[(\d{1,3})\]")


# --------------------------------------------------------------------------- matching
def normalize(text: str) -> str:
    """Text reduced for matching: NFKC, lower case, no markdown emphasis, one kind of dash,
    no thousands separators, single spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[*_`]+", "", text)
    text = re.sub(r"[‐‑‒–—−]", "-", text)
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)
    return " ".join(text.split())


def _contains(haystack: str, needle: str) -> bool:
    """Whether normalized ``needle`` occurs in normalized ``haystack`` at word boundaries."""
    needle = normalize(needle)
    if not needle:
        return False
    pattern = re.escape(needle)
    if needle[0].isalnum():
        pattern = r"(?<![0-9a-z])" + pattern
    if needle[-1].isalnum():
        pattern = pattern + r"(?![0-9a-z])"
    return re.search(pattern, haystack) is not None


def says_no_evidence(text: str) -> bool:
    """Whether a report states that no (supporting) evidence was found."""
    return bool(_NO_EVIDENCE.search(text))


def _body(report: str) -> str:
    """The report without its references list and usage footer."""
    match = _REFERENCES.search(report)
    body = report[: match.start()] if match else report
    return _FOOTER.sub("", body)


def _citing_sentences(body: str, number: int) -> list[str]:
    from agentloom.models.offline import _text

    out = []
    for sentence in _text.sentences(body):
        if f"[{number}]" in sentence:
            out.append(_NUMBERED.sub("", sentence))
    return out


def _grounded(sentences: Sequence[str], passage: str) -> bool:
    from agentloom.models.offline import _text

    if not sentences:
        return False
    have = _text.content_terms(passage)
    return all(_text.overlap(_text.content_terms(s), have) >= GROUNDING for s in sentences)


def score_report(
    report_markdown: str,
    citations: Sequence[Citation | dict[str, Any]],
    expected: Sequence[str],
    support: Sequence[str],
) -> dict[str, Any]:
    """Score one report (see the module docstring for the definitions). ``citations`` are the
    report's numbered citations in order (``citations[0]`` is ``[1]``); dicts with a ``text``
    key are accepted too. Returns the three metrics plus what was found, missing and
    unsupported."""
    body = _body(report_markdown)
    norm_body = normalize(body)
    texts = [c.text if isinstance(c, Citation) else str(c.get("text", "")) for c in citations]
    no_answer = not expected
    if no_answer:
        found: list[str] = []
        missing: list[str] = []
        recall = 1.0 if says_no_evidence(body) else 0.0
    else:
        found = [e for e in expected if _contains(norm_body, e)]
        missing = [e for e in expected if e not in found]
        recall = len(found) / len(expected)
    grounded = [_grounded(_citing_sentences(body, i), text) for i, text in enumerate(texts, 1)]
    if support:
        supported = [any(_contains(normalize(text), s) for s in support) for text in texts]
    else:
        supported = list(grounded)
    if not texts:
        precision = 1.0 if no_answer else 0.0
        grounding = 1.0 if no_answer else 0.0
    elif no_answer:
        precision = 0.0
        grounding = sum(grounded) / len(grounded)
    else:
        precision = sum(supported) / len(supported)
        grounding = sum(grounded) / len(grounded)
    return {
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
    """One question of a set, with the strings its report should contain and cite."""

    question: str
    expected: list[str] = field(default_factory=list)
    support: list[str] = field(default_factory=list)


def _strings(value: Any, where: str, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: '{key}' must be a list of strings")
    return [v for v in value if v.strip()]


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
    out: list[EvalQuestion] = []
    for i, item in enumerate(raw, 1):
        where = f"{file}: question {i}"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: expected an object with 'question', 'expected' and 'support'")
        question = item.get("question")
        if not isinstance(question, str) or not question.strip():
            raise ConfigError(f"{where}: 'question' must be a non-empty string")
        unknown = sorted(set(item) - {"question", "expected", "support", "id", "notes"})
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; use question, expected, support")
        out.append(EvalQuestion(question.strip(), _strings(item.get("expected"), where, "expected"), _strings(item.get("support"), where, "support")))
    return out


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class EvalReport:
    """Scores for a whole question set, with their means."""

    rows: list[EvalRow]
    corpus: list[str]
    model: str

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

    def totals(self) -> dict[str, Any]:
        return {
            "questions": len(self.rows),
            "answer_recall": round(self.answer_recall, 4),
            "citation_precision": round(self.citation_precision, 4),
            "grounding": round(self.grounding, 4),
            "errors": self.errors,
            "wall_s": round(sum(r.wall_s for r in self.rows), 3),
        }

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "corpus": self.corpus, "questions": [r.to_dict() for r in self.rows], "totals": self.totals()}

    def table(self, width: int = 60) -> str:
        """A plain-text table: one row per question, then the means."""
        head = f"{'#':>3}  {'question':<{width}}  {'recall':>6}  {'prec':>6}  {'ground':>6}  {'cited':>5}  {'time':>6}"
        lines = [head, "-" * len(head)]
        for i, row in enumerate(self.rows, 1):
            question = row.question if len(row.question) <= width else row.question[: width - 1] + "…"
            lines.append(
                f"{i:>3}  {question:<{width}}  {row.answer_recall:>6.2f}  {row.citation_precision:>6.2f}  "
                f"{row.grounding:>6.2f}  {row.cited:>5}  {row.wall_s:>5.1f}s"
            )
            if row.error:
                lines.append(f"     error: {row.error}")
            elif row.missing:
                lines.append(f"     missing: {', '.join(row.missing)}")
        t = self.totals()
        lines.append("-" * len(head))
        lines.append(
            f"{'':>3}  {'mean over ' + str(t['questions']) + ' questions':<{width}}  {t['answer_recall']:>6.2f}  "
            f"{t['citation_precision']:>6.2f}  {t['grounding']:>6.2f}  {'':>5}  {t['wall_s']:>5.1f}s"
        )
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
            rows.append(EvalRow(item.question, 0.0, 0.0, 0.0, [], list(item.expected), 0, wall_s=time.perf_counter() - start, error=exc.one_line()))
            continue
        wall = time.perf_counter() - start
        report = result.output if isinstance(result.output, str) else str(result.output)
        score = score_report(report, list(result.citations), item.expected, item.support)
        meta = result.meta if isinstance(result.meta, dict) else {}
        rows.append(
            EvalRow(
                question=item.question,
                answer_recall=score["answer_recall"],
                citation_precision=score["citation_precision"],
                grounding=score["grounding"],
                found=score["found"],
                missing=score["missing"],
                cited=score["cited"],
                short_answer=str(meta.get("short_answer") or ""),
                wall_s=round(wall, 3),
                run_id=str(getattr(result, "run_id", "") or ""),
                partial=bool(getattr(result, "partial", False)),
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
