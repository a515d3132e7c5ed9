"""The corpus index and its tools: passages, ids, line ranges, BM25 search, incremental
refresh, safe queries, errors and concurrent use."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentloom import tracing
from agentloom.citations import collect_passages
from agentloom.errors import CorpusError, StoreError
from agentloom.models.types import ToolCall
from agentloom.runstore import RunStore
from agentloom.tools import ToolExecutor
from agentloom.tools import corpus as corpus_module
from agentloom.tools._html import html_to_lines
from agentloom.tools._passages import MAX_PASSAGE_CHARS, MAX_PASSAGE_LINES, split_passages
from agentloom.tools._passages import text_lines as _text_lines
from agentloom.tools.corpus import CorpusIndex, corpus_tools, default_index_path, fts_query

TRAMS = """# Trams of Lisbon

The tram network of Lisbon opened in 1873 as horse-drawn lines.
Electric trams replaced the horses in 1901.

## Line 28

Line 28 climbs through Alfama and Graça.
It is the most famous tram line of the city.

## Fares

A single tram fare costs three euros on board.
"""

BUDGET_TXT = """Budgets cap spending on model calls.

Every call reserves its worst-case cost before it is sent.
Reservations are settled after the call and released on cancel.
"""

CROSSOVER_HTML = """<!doctype html>
<html>
<head>
<title>Crossover notes</title>
<style>.tram { color: red }</style>
<script>var secretTramCounter = 42;</script>
</head>
<body>
<h1>Crossover</h1>
<p>Crossover merges the top findings
of several research branches.</p>
<p>Verification comes first &amp; crossover second.</p>
</body>
</html>
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    write(root / "trams.md", TRAMS)
    write(root / "notes" / "budget.txt", BUDGET_TXT)
    write(root / "web" / "crossover.html", CROSSOVER_HTML)
    write(root / "ignored.pdf", "not indexed")
    write(root / ".hidden" / "secret.md", "hidden quokka facts")
    return root


def file_lines(root: Path, rel: str) -> list[str]:
    return (root / rel).read_text(encoding="utf-8").split("\n")


# ----------------------------------------------------------------------------- passages
def test_index_search_and_line_ranges(docs: Path) -> None:
    index = CorpusIndex(docs)
    stats = index.refresh()
    assert (stats.files, stats.indexed, stats.unchanged, stats.removed) == (3, 3, 0, 0)
    assert stats.passages >= 4
    hits = index.search("famous tram line Alfama", k=3)
    assert hits and hits[0]["path"] == "trams.md"
    top = hits[0]
    assert set(top) == {"id", "path", "line_start", "line_end", "score", "text"}
    assert top["id"].startswith("p_") and len(top["id"]) == 12
    assert "Line 28 climbs through Alfama" in top["text"]
    lines = file_lines(docs, "trams.md")
    span = "\n".join(lines[top["line_start"] - 1 : top["line_end"]])
    assert span == top["text"]  # markdown passages are the file's own lines, verbatim
    assert top["score"] > 0 and all(a["score"] >= b["score"] for a, b in zip(hits, hits[1:], strict=False))
    assert not index.search("quokka"), "hidden folders are not indexed"
    assert not index.search("indexed"), ".pdf files are not indexed"


def test_headings_start_passages(docs: Path) -> None:
    index = CorpusIndex(docs)
    texts = [index.search(q, 1)[0]["text"] for q in ("Alfama Graça", "fare euros board")]
    assert texts[0].startswith("## Line 28")
    assert texts[1].startswith("## Fares")


def test_html_is_stripped_and_mapped_to_source_lines(docs: Path) -> None:
    index = CorpusIndex(docs)
    [hit] = index.search("research branches merges", 1)
    assert hit["path"] == "web/crossover.html"
    assert "<p>" not in hit["text"] and "Crossover merges the top findings" in hit["text"]
    assert "&amp;" not in hit["text"] and "first & crossover" in hit["text"]
    source = file_lines(docs, "web/crossover.html")
    first, last = source[hit["line_start"] - 1], source[hit["line_end"] - 1]
    assert "Crossover" in first and "crossover second" in last
    assert not index.search("secretTramCounter"), "script content is not indexed"
    assert index.search("crossover notes")[0]["path"] == "web/crossover.html"  # the <title> is searchable


def test_html_lines_keep_source_numbers() -> None:
    title, lines = html_to_lines("<html><title>T</title>\n<body>\n<h2>Head</h2>\n<p>one\ntwo <b>three</b></p>\n<pre>a\n  b</pre></body>")
    assert title == "T"
    content = [(line.line, line.text, line.heading) for line in lines if line.text]
    assert content == [(3, "Head", True), (4, "one", False), (5, "two three", False), (6, "a", False), (7, "  b", False)]


def test_long_lines_and_long_paragraphs_are_bounded() -> None:
    words = " ".join(f"word{i}" for i in range(900))  # one line of about 7,000 characters
    paragraph = "\n".join(f"line {i} of a long paragraph" for i in range(60))
    text = f"# Title\n\n{words}\n\n{paragraph}\n"
    passages = split_passages(_text_lines("md", text)[1])
    assert all(len(p.text) <= MAX_PASSAGE_CHARS for p in passages)
    assert all(p.text.count("\n") + 1 <= MAX_PASSAGE_LINES for p in passages)
    long_line = [p for p in passages if "word" in p.text]
    assert len(long_line) >= 9 and all((p.line_start, p.line_end) == (3, 3) for p in long_line[1:])
    assert long_line[0].text.startswith("# Title")  # a heading stays with what follows it
    rebuilt = " ".join(p.text.removeprefix("# Title\n\n") for p in long_line)
    assert rebuilt.split() == words.split()  # cut at spaces only, nothing lost
    para = [p for p in passages if "long paragraph" in p.text]
    assert [p.line_start for p in para] == sorted(p.line_start for p in para)
    covered = [n for p in para for n in range(p.line_start, p.line_end + 1)]
    assert covered == list(range(5, 65))  # every line exactly once, never split mid-line


_line = st.one_of(
    st.just(""),
    st.just("# Heading"),
    st.just("## Heading directly above text"),
    st.just("   "),
    st.just("```"),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=120),
    st.text(alphabet="ab ", min_size=700, max_size=2000),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_line, max_size=80))
def test_passages_are_bounded_and_map_back_to_their_lines(lines: list[str]) -> None:
    text = "\n".join(lines)
    source = text.split("\n")
    passages = split_passages(_text_lines("md", text)[1])
    for p in passages:
        assert len(p.text) <= MAX_PASSAGE_CHARS
        assert p.text.count("\n") + 1 <= MAX_PASSAGE_LINES
        assert 1 <= p.line_start <= p.line_end <= len(source)
        span = [line.rstrip() for line in source[p.line_start - 1 : p.line_end]]
        if all(len(line) <= MAX_PASSAGE_CHARS for line in span):
            assert p.text == "\n".join(span)  # verbatim: the file's own lines, blank ones included
        else:
            for piece in p.text.split("\n"):
                assert piece.strip() in "\n".join(span)
    covered = [n for p in passages for n in range(p.line_start, p.line_end + 1)]
    assert len(covered) == len(set(covered)) or any(len(line) > MAX_PASSAGE_CHARS for line in source)
    starts = [p.line_start for p in passages]
    assert starts == sorted(starts)


# ----------------------------------------------------------------------------- ids and refresh
def test_ids_are_stable_across_rebuilds_and_unrelated_changes(docs: Path, tmp_path: Path) -> None:
    first = CorpusIndex(docs)
    ids = {h["id"]: h for h in first.search("tram budget crossover fare", k=50)}
    rebuilt = CorpusIndex(docs, index_path=tmp_path / "other.db")
    assert {h["id"] for h in rebuilt.search("tram budget crossover fare", k=50)} == set(ids)
    write(docs / "notes" / "budget.txt", BUDGET_TXT + "\nA new paragraph about ledgers.\n")
    stats = first.refresh()
    assert (stats.indexed, stats.unchanged) == (1, 2)
    for pid, hit in ids.items():
        if hit["path"] != "notes/budget.txt":
            assert first.passage(pid) == {k: v for k, v in hit.items() if k != "score"}
    assert first.search("ledgers")[0]["path"] == "notes/budget.txt"


def test_incremental_refresh_reads_only_changed_files(docs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for path in docs.rglob("*"):
        if path.is_file():
            os.utime(path, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    index = CorpusIndex(docs)
    index.refresh()
    opened: list[str] = []
    real_open = open

    def spy(file: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(corpus_module, "open", spy, raising=False)
    stats = index.refresh()
    assert (stats.indexed, stats.unchanged, stats.removed) == (0, 3, 0)
    assert opened == []

    write(docs / "trams.md", TRAMS.replace("three euros", "four euros"))
    write(docs / "new.md", "Funiculars climb the steepest hills.\n")
    (docs / "web" / "crossover.html").unlink()
    stats = index.refresh()
    assert (stats.files, stats.indexed, stats.unchanged, stats.removed) == (3, 2, 1, 0 + 1)
    assert sorted(Path(p).name for p in opened) == ["new.md", "trams.md"]
    assert index.search("four euros")[0]["path"] == "trams.md"
    assert not index.search("three euros") or "three" not in index.search("three euros")[0]["text"]
    assert not index.search("research branches merges")
    assert index.search("funiculars")[0]["path"] == "new.md"


def test_same_size_rewrite_with_restored_mtime_is_still_detected(docs: Path) -> None:
    path = docs / "notes" / "budget.txt"
    index = CorpusIndex(docs)
    index.refresh()
    before = path.stat()
    path.write_text(BUDGET_TXT.replace("cancel", "CANCL"), encoding="utf-8")  # same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # same mtime too
    stats = index.refresh()
    assert stats.indexed == 1
    assert "CANCL" in index.search("reservations settled")[0]["text"]


def test_touch_without_content_change_keeps_passages(docs: Path) -> None:
    index = CorpusIndex(docs)
    index.refresh()
    ids = {h["id"] for h in index.search("tram", 50)}
    os.utime(docs / "trams.md", ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    stats = index.refresh()
    assert stats.indexed == 0 and stats.unchanged == 3
    assert {h["id"] for h in index.search("tram", 50)} == ids


def test_progress_callback(docs: Path) -> None:
    calls: list[tuple[int, int, str]] = []
    CorpusIndex(docs).refresh(on_progress=lambda done, total, path: calls.append((done, total, path)))
    assert [c[0] for c in calls] == [1, 2, 3]
    assert {c[1] for c in calls} == {3}
    assert sorted(c[2] for c in calls) == ["notes/budget.txt", "trams.md", "web/crossover.html"]


def test_default_index_location(docs: Path, loom_home: Path) -> None:
    index = CorpusIndex(docs)
    assert index.index_path.parent == loom_home / "index"
    assert index.index_path.name.startswith("docs-") and index.index_path.suffix == ".db"
    assert index.index_path == default_index_path(docs) == default_index_path(str(docs) + "/")
    index.refresh()
    assert index.index_path.exists()
    assert index.stats()["files"] == 3 and index.stats()["passages"] >= 4


# ----------------------------------------------------------------------------- queries
@pytest.mark.parametrize(
    "query",
    ['"unbalanced', "NEAR(tram fare)", "tram AND OR NOT", "*", "tram*", "^tram", "title:tram", "-", "''", "()",
     "a:b:c", "{tram}", "tram + fare - euro", "?", "", "   ", "\x00", "émoji 🚋 tram", "the of and"],
)
def test_odd_queries_never_raise(docs: Path, query: str) -> None:
    results = CorpusIndex(docs).search(query)
    assert isinstance(results, list)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=80))
def test_arbitrary_queries_never_raise(docs: Path, query: str) -> None:
    index = _shared_index(docs)
    assert isinstance(index.search(query, k=3), list)


_INDEXES: dict[Path, CorpusIndex] = {}


def _shared_index(root: Path) -> CorpusIndex:
    if root not in _INDEXES:
        _INDEXES[root] = CorpusIndex(root)
    return _INDEXES[root]


def test_terms_are_or_combined_and_ranked_by_bm25(tmp_path: Path) -> None:
    root = tmp_path / "c"
    write(root / "one.md", "Gondolas carry skiers.\n")
    write(root / "many.md", "Gondolas gondolas gondolas: the gondola lift carries gondolas up.\n")
    write(root / "none.md", "Ferries cross the river.\n")
    index = CorpusIndex(root)
    hits = index.search("gondolas zeppelin", k=5)  # zeppelin matches nothing: still found
    assert [h["path"] for h in hits] == ["many.md", "one.md"]
    assert index.search("Gondola")[0]["path"] == "many.md"  # stemming and case folding
    assert fts_query('what is "the" tram_fare?') == '"tram" OR "fare"'
    assert fts_query("the of") == '"the" OR "of"'
    assert fts_query("!!!") == ""


def test_k_is_clamped(docs: Path) -> None:
    index = CorpusIndex(docs)
    assert len(index.search("tram budget crossover fare line", k=0)) == 1
    assert len(index.search("tram", k=10_000)) <= 50


# ----------------------------------------------------------------------------- tools
async def test_tools_through_the_executor(docs: Path) -> None:
    search, read = corpus_tools(docs)
    assert (search.name, read.name) == ("corpus_search", "read_passage")
    props = search.schema()["function"]["parameters"]
    assert props["required"] == ["query"] and props["properties"]["k"]["default"] == 5
    executor = ToolExecutor([search, read])
    [found] = await executor.run_batch([ToolCall("s", "corpus_search", json.dumps({"query": "tram fare", "k": 2}))])
    assert found.ok and found.value["query"] == "tram fare" and len(found.value["results"]) == 2
    top = found.value["results"][0]
    results = await executor.run_batch(
        [
            ToolCall("r1", "read_passage", json.dumps({"id": top["id"]})),
            ToolCall("r2", "read_passage", json.dumps({"id": f" [{top['id']}] "})),
            ToolCall("r3", "read_passage", json.dumps({"id": "p_0000000000"})),
            ToolCall("r4", "read_passage", json.dumps({"id": "'; DROP TABLE passages; --"})),
        ]
    )
    expected = {k: v for k, v in top.items() if k != "score"}
    assert results[0].value == expected and results[1].value == expected
    for bad in results[2:]:
        assert not bad.ok and bad.error_type == "ValueError" and "unknown passage id" in (bad.error or "")
    cited = collect_passages(found.value)
    assert top["id"] in cited and cited[top["id"]].where() == f"trams.md:L{top['line_start']}-L{top['line_end']}"


async def test_many_concurrent_searches_while_refreshing(docs: Path, loom_home: Path) -> None:
    for i in range(30):
        write(docs / "bulk" / f"doc{i}.md", f"# Doc {i}\n\nTram stop number {i} serves district {i % 7}.\n")
    index = CorpusIndex(docs)
    search, read = corpus_tools(index)
    expected = index.search("tram stop district", 5)
    store = RunStore()
    run_id = store.create_run("test")
    executor = ToolExecutor([search, read], max_concurrency=32)
    stop = threading.Event()

    def keep_refreshing() -> None:
        n = 0
        while not stop.is_set():
            write(docs / "churn.md", f"Churn file version {n}.\n")
            index.refresh()
            n += 1

    refresher = threading.Thread(target=keep_refreshing)
    refresher.start()
    try:
        with tracing.use(tracing.RunContext(run_id=run_id, store=store)):
            calls = [ToolCall(f"c{i}", "corpus_search", json.dumps({"query": "tram stop district", "k": 5})) for i in range(64)]
            results = await asyncio.wait_for(executor.run_batch(calls), timeout=30)
    finally:
        stop.set()
        refresher.join()
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert all(r.value["results"] == expected for r in results)
    assert len(store.events(run_id, "tool_call")) == 64
    store.close()
    index.close()


def test_several_folders_share_one_index(tmp_path: Path) -> None:
    a = write(tmp_path / "one" / "docs" / "x.md", "Alpha trams run at night.\n").parent
    b = write(tmp_path / "two" / "docs" / "x.md", "Beta trams run in the day.\n").parent
    c = write(tmp_path / "notes" / "y.txt", "Gamma notes about trams.\n").parent
    index = CorpusIndex([b, a, c])
    assert [r.name for r in index.roots] == ["notes", "docs", "docs-2"]
    paths = {h["path"] for h in index.search("trams", 10)}
    assert paths == {"docs/x.md", "docs-2/x.md", "notes/y.txt"}
    by_text = {h["text"]: h["path"] for h in index.search("trams", 10)}
    assert by_text["Alpha trams run at night."] == "docs/x.md"
    # a folder inside another given folder is covered once, not twice
    nested = CorpusIndex([tmp_path / "one", a], index_path=tmp_path / "nested.db")
    assert [r.path for r in nested.roots] == [(tmp_path / "one").resolve()]
    assert len(nested.search("alpha")) == 1


# ----------------------------------------------------------------------------- errors
def test_bad_paths_are_corpus_errors_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(CorpusError, match=str(missing)):
        CorpusIndex(missing)
    a_file = write(tmp_path / "file.md", "text")
    with pytest.raises(CorpusError, match="not a folder"):
        CorpusIndex(a_file)
    empty = tmp_path / "empty"
    empty.mkdir()
    write(empty / "image.png", "png")
    with pytest.raises(CorpusError, match=f"{empty}.*no .md, .txt or .html files"):
        corpus_tools(empty)
    blank = tmp_path / "blank"
    write(blank / "empty.md", "\n\n   \n")
    with pytest.raises(CorpusError, match="no readable text"):
        CorpusIndex(blank).refresh()
    with pytest.raises(CorpusError, match="no corpus folder"):
        CorpusIndex([])
    for exc in (CorpusError("x"),):
        assert exc.exit_code == 2


def test_a_foreign_database_is_refused(docs: Path, tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    store.close()
    with pytest.raises(StoreError, match="runs.db"):
        CorpusIndex(docs, index_path=tmp_path / "runs.db")


def test_folder_deleted_after_opening(docs: Path, tmp_path: Path) -> None:
    index = CorpusIndex(docs)
    index.refresh()
    moved = tmp_path / "moved"
    docs.rename(moved)
    with pytest.raises(CorpusError, match="does not exist"):
        index.refresh()
