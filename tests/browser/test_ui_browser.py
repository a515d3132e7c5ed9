"""``loom ui`` in a real browser: Debian's chromium (``/usr/bin/chromium``) driven by Playwright,
against the app served by uvicorn on loopback. Never downloads a browser. Skipped when chromium
or Playwright is missing, unless ``AGENTLOOM_REQUIRE_REAL=1`` (``.ci/run``), which fails instead."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("AGENTLOOM_CHROMIUM", "/usr/bin/chromium")
QUESTION = "How is Marrowick supplied with water?"


def _missing(reason: str) -> None:
    if os.environ.get("AGENTLOOM_REQUIRE_REAL", "") not in ("", "0", "false"):
        pytest.fail(f"browser tests required (AGENTLOOM_REQUIRE_REAL=1): {reason}")
    pytest.skip(reason)


@pytest.fixture()
def server(loom_home: Path) -> Iterator[str]:
    """``loom ui``'s app served by uvicorn on a free loopback port; its base URL."""
    try:
        import uvicorn
    except ImportError:
        _missing("uvicorn is missing: pip install -e '.[ui]'")
    from agentloom.web import UiSettings, create_app

    config = uvicorn.Config(create_app(UiSettings(home=loom_home)), host="127.0.0.1", port=0, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture()
def page(server: str) -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        _missing(f"no chromium at {CHROMIUM}: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is missing: pip install playwright (the browser is Debian's chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                                     args=["--no-sandbox"])
        try:
            tab = browser.new_page()
            tab.set_default_timeout(30_000)
            # every state the run view passes through, recorded in the page as it is drawn
            tab.add_init_script("""
              window.__seen = [];
              new MutationObserver(() => {
                const st = document.querySelector('#status'), br = document.querySelectorAll('.branch');
                if (st) window.__seen.push({status: st.textContent, branches: br.length,
                  running: document.querySelectorAll('.branch .status-running').length,
                  plan: !!document.querySelector('#plan-width')});
              }).observe(document, {subtree: true, childList: true, characterData: true});
            """)
            tab.goto(server + "/")
            yield tab
        finally:
            browser.close()


def _start(page: Any, approve: bool = False) -> str:
    page.fill("#q", QUESTION)
    page.fill("#width", "3")
    if approve:
        page.check("#approve-plan")
    page.click("button[type=submit]")
    page.wait_for_url("**/runs/*")
    return str(page.url.rsplit("/", 1)[1])


def test_start_a_run_watch_it_live_and_open_a_citation(page: Any, server: str) -> None:
    run_id = _start(page)
    assert page.text_content("#source") in ("…", "live")
    page.wait_for_selector("#status.status-ok")
    seen = page.evaluate("window.__seen")
    live = [s for s in seen if s["status"] == "running" and s["branches"] > 0]
    assert live, "the page never drew a branch while the run was running"
    assert any(s["running"] > 0 for s in live), "no branch was shown running"
    assert any(s["plan"] for s in live)
    assert page.text_content("#source") == "live"
    assert page.text_content("#plan-width") == "3"
    assert len(page.query_selector_all(".branch")) == 3
    assert "critical path" in page.text_content("#tl-summary")
    assert page.query_selector("#chart svg rect.crit")
    tokens = page.get_attribute("[data-budget=tokens]", "data-budget")
    assert tokens == "tokens" and "0 actual" not in page.text_content("[data-budget=tokens]")

    page.click("#report a.cite >> nth=0")
    page.wait_for_selector("#passage .cited")
    where = page.text_content("#passage .where")
    assert where and ":L" in where and where.split(":L")[0].endswith(".md")
    cited = " ".join(page.locator("#passage .cited").all_text_contents())
    assert "Marrowick" in cited or "cubic metres" in cited

    page.goto(server + "/")
    page.wait_for_selector(f"tr[data-id='{run_id}']")
    page.fill("#f-q", "no such question at all")
    page.wait_for_selector(f"tr[data-id='{run_id}']", state="detached")


def test_approve_a_gated_run_with_an_edited_plan(page: Any) -> None:
    _start(page, approve=True)
    page.wait_for_selector("#status.status-waiting")
    page.wait_for_selector("#approvals pre.gate")
    assert "projected" in page.text_content("#approvals pre.gate")
    page.fill("#sub-tasks", "Which plants desalinate water for Marrowick?\nHow much water can they produce per day?")
    page.fill("#plan-width-edit", "2")
    page.click("#approve")
    page.wait_for_selector("#status.status-ok")
    teams = {t.get_attribute("data-team") for t in page.query_selector_all(".branch")}
    assert {"team-0", "team-1"} <= teams
    assert page.query_selector("#report a.cite")
