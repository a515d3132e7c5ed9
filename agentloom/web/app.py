"""The ``loom ui`` ASGI app (Starlette): JSON and server-sent-event routes over the run store,
runs started in-process, and the one HTML page that draws them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentloom.errors import ConfigError
from agentloom.web._live import LiveRun, LiveRuns, follow_live, follow_stored
from agentloom.web._security import TokenGate
from agentloom.web._sources import SourceRefused, passage_in_context

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from agentloom.runstore import RunRecord, RunStore

__all__ = ["UiSettings", "create_app"]

_CITE = re.compile(r"\[(\d{1,4})\]")
_DEFAULT_LIMITS = {"tokens": 400_000.0, "seconds": 300.0}


@dataclass
class UiSettings:
    """What the server needs: where the run store is, the token (None on loopback), and the
    model and corpus for runs started from the page (None: the same defaults as ``loom research``)."""

    home: Path
    token: str | None = None
    model: str | None = None
    corpus: list[str] = field(default_factory=list)


class _Store:
    """The run store, opened on first use (a fresh home has none until a run is recorded)."""

    def __init__(self, home: Path) -> None:
        self.path = home / "runs.db"
        self._store: RunStore | None = None

    def get(self, create: bool = False) -> RunStore | None:
        from agentloom.runstore import RunStore

        if self._store is None and (create or self.path.exists()):
            self._store = RunStore(self.path)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def _question(record: RunRecord) -> str:
    value = record.input
    if isinstance(value, dict) and isinstance(value.get("inputs"), dict):
        value = value["inputs"]
    if isinstance(value, dict):
        value = value.get("question") or value.get("input") or json.dumps(value, default=str)
    return "" if value is None else str(value)


def _model(store: RunStore, record: RunRecord) -> str:
    if record.meta.get("model"):
        return str(record.meta["model"])
    for event in store.events(record.id, kind="model_call"):  # a model call is named after its model
        if event.get("name"):
            return str(event["name"])
    return ""


def _summary(store: RunStore, record: RunRecord) -> dict[str, Any]:
    from agentloom.research.run_page import duration_of, usage_of

    usage = usage_of(record, store.events(record.id))
    wall = duration_of(record)  # the pause before a resume is not run time
    return {"id": record.id, "kind": record.kind, "name": record.name, "status": record.status,
            "created": record.created, "finished": record.finished, "wall_s": wall,
            "model": _model(store, record), "usd": usage.get("usd"), "tokens": usage.get("tokens", 0),
            "question": _question(record)}


def _report_with_links(markdown: str) -> str:
    from agentloom.research.html_export import report_html

    return _CITE.sub(r'<a href="#" class="cite" data-n="\1">[\1]</a>', report_html(markdown))


def _detail(store: RunStore, record: RunRecord) -> dict[str, Any]:
    from agentloom.research.html_export import render_chart
    from agentloom.research.run_page import report_markdown, timeline_of

    out = _summary(store, record) | {"meta": record.meta, "error": record.error}
    if record.finished:
        timeline = timeline_of(store, record)
        out["timeline"] = {"summary": timeline.summary(), "svg": render_chart(timeline),
                           "parallelism": round(timeline.parallelism, 3), "max_concurrency": timeline.max_concurrency,
                           "critical_calls": sum(1 for r in timeline.critical_rows if r.is_call)}
        report = report_markdown(store, record)
        out["report_html"] = _report_with_links(report) if report else None
    return out


def create_app(settings: UiSettings) -> Starlette:
    """The app; wrap-free on loopback, behind ``TokenGate`` when ``settings.token`` is set."""
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, JSONResponse, StreamingResponse
    from starlette.routing import Route

    from agentloom.web._page import PAGE

    store, live = _Store(settings.home), LiveRuns()

    def record_or_none(run_id: str) -> RunRecord | None:
        from agentloom.errors import RunNotFoundError

        opened = store.get()
        if opened is None:
            return None
        try:
            return opened.get_run(run_id)
        except RunNotFoundError:
            return None

    async def page(request: Request) -> Response:
        return HTMLResponse(PAGE)

    async def list_runs(request: Request) -> Response:
        opened = store.get()
        records = await asyncio.to_thread(opened.list_runs, 200) if opened is not None else []
        rows = [await asyncio.to_thread(_summary, opened, r) for r in records] if opened is not None else []
        status, model = request.query_params.get("status", ""), request.query_params.get("model", "")
        q = request.query_params.get("q", "").lower()
        rows = [r for r in rows if (not status or r["status"] == status) and (not model or model.lower() in r["model"].lower())
                and (not q or q in r["question"].lower() or q in r["id"])]
        return JSONResponse(rows)

    async def run_detail(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        record = await asyncio.to_thread(record_or_none, run_id)
        running = live.runs.get(run_id)
        if record is None and running is None:
            return JSONResponse({"error": f"no run with id {run_id}"}, status_code=404)
        out: dict[str, Any] = {"id": run_id, "status": "running", "question": running.question if running else ""}
        if record is not None:
            opened = store.get()
            assert opened is not None
            out = await asyncio.to_thread(_detail, opened, record)
            if record.status == "waiting":
                out["approvals"] = await asyncio.to_thread(_pending, opened, run_id)
        if running is not None:
            out |= {"live": True, "limits": running.limits, "live_status": running.status, "live_error": running.error}
            if not running.done:
                out["status"] = "running"
        return JSONResponse(out)

    async def events(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        running = live.runs.get(run_id)
        if running is None and await asyncio.to_thread(record_or_none, run_id) is None:
            return JSONResponse({"error": f"no run with id {run_id}"}, status_code=404)

        def read() -> tuple[list[dict[str, Any]], bool]:
            opened = store.get()
            assert opened is not None
            opened_record = opened.get_run(run_id)
            return opened.events(run_id), opened_record.finished is not None

        feed = follow_live(running) if running is not None else follow_stored(read)

        async def body() -> AsyncIterator[str]:
            yield f"event: hello\ndata: {json.dumps({'source': 'live' if running else 'store'})}\n\n"
            async for item in feed:
                yield ": keep-alive\n\n" if item is None else f"data: {json.dumps(item, default=str)}\n\n"
            yield "event: end\ndata: {}\n\n"

        return StreamingResponse(body(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    async def answer(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        body = await _json_body(request)
        if isinstance(body, JSONResponse):
            return body
        opened = store.get()
        if opened is None or not await asyncio.to_thread(_pending, opened, run_id):
            return JSONResponse({"error": f"run {run_id} is not waiting for approval"}, status_code=409)
        plan = body.get("plan")
        if plan is not None and not isinstance(plan, dict):
            return JSONResponse({"error": "plan must be an object with sub_tasks and width"}, status_code=400)
        try:
            _answer(opened, live, run_id, bool(body.get("approve")), body.get("reason") or None, plan)
        except ConfigError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"id": run_id}, status_code=202)

    async def citation(request: Request) -> Response:
        run_id, n = request.path_params["run_id"], int(request.path_params["n"])
        opened = store.get()
        raw = await asyncio.to_thread(opened.artifact, run_id, "citations.json") if opened is not None else None
        if not raw:
            return JSONResponse({"error": "this run recorded no citations"}, status_code=404)
        data = json.loads(raw)
        found = [c for c in data.get("citations", []) if c.get("n") == n]
        if not found:
            return JSONResponse({"error": f"the report has no citation [{n}]"}, status_code=404)
        try:
            return JSONResponse(await asyncio.to_thread(passage_in_context, found[0], list(data.get("corpus") or [])))
        except SourceRefused as exc:
            return JSONResponse({"error": str(exc)}, status_code=403)

    async def export(request: Request) -> Response:
        from agentloom.research.run_page import export_page

        record = await asyncio.to_thread(record_or_none, request.path_params["run_id"])
        if record is None:
            return JSONResponse({"error": "no such run"}, status_code=404)
        opened = store.get()
        assert opened is not None
        page_html = await asyncio.to_thread(export_page, opened, record)
        headers = {"Content-Disposition": f'attachment; filename="loom-run-{record.id}.html"'} if "download" in request.query_params else {}
        return HTMLResponse(page_html, headers=headers)

    async def start(request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            question = str(body.get("question") or "").strip()
            limits = dict(_DEFAULT_LIMITS)
            for key in ("usd", "tokens", "seconds"):
                if body.get(key) not in (None, ""):
                    limits[key] = float(body[key])
        except (ValueError, TypeError, AttributeError):
            return JSONResponse({"error": "the body must be a JSON object with a question"}, status_code=400)
        if not question:
            return JSONResponse({"error": "the question is empty"}, status_code=400)
        run_id = _start_research(settings, store, live, question, limits, str(body.get("width") or "auto"),
                                 str(body.get("depth") or "auto"), {"plan": True} if body.get("approve_plan") else None)
        return JSONResponse({"id": run_id}, status_code=201)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await live.close()
            store.close()

    routes = [
        Route("/", page), Route("/runs/{run_id}", page),
        Route("/api/runs", list_runs), Route("/api/runs", start, methods=["POST"]),
        Route("/api/runs/{run_id}", run_detail), Route("/api/runs/{run_id}/events", events),
        Route("/api/runs/{run_id}/citations/{n:int}", citation), Route("/api/runs/{run_id}/export", export),
        Route("/api/runs/{run_id}/answer", answer, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    if settings.token:
        app.add_middleware(TokenGate, token=settings.token)
    return app


async def _json_body(request: Request) -> dict[str, Any] | Any:
    """The request's JSON object, or the error response (a JSON content type is required, so a
    page on another site cannot post here without a CORS preflight)."""
    from starlette.responses import JSONResponse

    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return JSONResponse({"error": "send JSON (Content-Type: application/json)"}, status_code=415)
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return JSONResponse({"error": "the body must be a JSON object"}, status_code=400)
    return body


def _pending(store: RunStore, run_id: str) -> list[dict[str, Any]]:
    """The approval gates ``run_id`` waits at, each with its description (empty when not waiting)."""
    from agentloom import approvals

    return [{"id": r.id, "gate": r.gate, "node": r.node, "data": dict(r.data), "plan": r.plan, "describe": r.describe()}
            for r in approvals.get(run_id, store=store).requests]


def _answer(store: RunStore, live: LiveRuns, run_id: str, approve: bool, reason: str | None, plan: dict[str, Any] | None) -> None:
    """Answer a waiting run and run it on in this process, streaming its events like a new run."""
    from agentloom import approvals
    from agentloom.graph.approval import check_plan_edit

    if plan is not None:
        for request in approvals.get(run_id, store=store).requests:
            if request.gate == "plan":
                check_plan_edit(dict(request.data), plan)  # a bad edit is refused before anything runs
    handle = approvals.get(run_id, store=store)

    def body(listener: Any) -> Any:
        return handle.resume(approve, reason=reason, plan=plan, listeners=[listener], by="loom ui")

    live.start(LiveRun(run_id=run_id, question="", limits={}), body)


def _start_research(settings: UiSettings, store: _Store, live: LiveRuns, question: str, limits: dict[str, float],
                    width: str, depth: str, approve: dict[str, Any] | None = None) -> str:
    from agentloom.budget import Budget
    from agentloom.research.run import research
    from agentloom.runstore import new_run_id

    run_id = new_run_id()
    run = LiveRun(run_id=run_id, question=question, limits=limits)
    budget = Budget.from_limits({k: (int(v) if k == "tokens" else v) for k, v in limits.items()}, name="research")
    opened = store.get(create=True)

    def body(listener: Any) -> Any:
        return research(question, corpus=settings.corpus or None, model=settings.model, width=width, depth=depth,
                        budget=budget, run_id=run_id, store=opened, listeners=[listener], approve=approve)

    live.start(run, body)
    return run_id
