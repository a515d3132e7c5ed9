"""The one HTML page of ``loom ui``: plain HTML, CSS and a little JavaScript (no build step).
It reads the JSON routes and the run's server-sent events, and ticks running times itself."""

from __future__ import annotations

__all__ = ["PAGE"]

_CSS = """
:root { --fg:#1d2327; --muted:#5f6b73; --line:#e3e7ea; --ok:#3aa876; --run:#4c8bd6; --bad:#d9534f; --warn:#e8871e; }
body { font: 14px/1.5 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: var(--fg);
       margin: 0 auto; max-width: 1200px; padding: 16px 24px; }
a { color: var(--run); } h1 { font-size: 1.4em; margin: 0 0 8px; } h2 { font-size: 1.15em; border-bottom: 1px solid var(--line); }
table.runs { border-collapse: collapse; width: 100%; } .runs th, .runs td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); }
.runs td.num { text-align: right; font-variant-numeric: tabular-nums; }
.filters input, .filters select, form input { margin-right: 8px; padding: 3px 6px; }
.status-ok, .status-done { color: var(--ok); } .status-running { color: var(--run); } .status-error, .status-failed { color: var(--bad); }
.status-budget_exhausted, .status-cancelled, .status-interrupted { color: var(--warn); }
.meta { color: var(--muted); } .grid { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.bar { background: #eef1f3; border-radius: 4px; height: 14px; position: relative; margin: 2px 0 8px; }
.bar .actual { background: var(--run); height: 100%; border-radius: 4px; position: absolute; left: 0; top: 0; }
.bar .projected { border-right: 2px dashed var(--warn); height: 100%; position: absolute; left: 0; top: 0; }
.branch { border: 1px solid var(--line); border-radius: 6px; padding: 4px 8px; margin: 4px 0; }
.branch .time { float: right; font-variant-numeric: tabular-nums; }
ul.feed { max-height: 220px; overflow-y: auto; padding-left: 18px; }
.chart { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; padding: 6px; }
svg text { font: 11px ui-monospace, Menlo, Consolas, monospace; } svg .span { fill: #b9c3cc; } svg .call { fill: #4c8bd6; }
svg .memory { fill: #3aa876; } svg .error { fill: #d9534f; } svg .crit { fill: #e8871e; opacity: .85; } svg .axis { stroke: #e3e7ea; }
#passage { position: fixed; right: 16px; bottom: 16px; width: 560px; max-height: 60vh; overflow: auto; background: #fff;
           border: 1px solid #aab; border-radius: 6px; box-shadow: 0 4px 18px rgba(0,0,0,.18); padding: 8px 12px; }
#passage pre { margin: 0; font: 12px ui-monospace, Menlo, Consolas, monospace; white-space: pre-wrap; }
#passage .cited { background: #fff3c4; display: block; } #passage .ln { color: var(--muted); user-select: none; }
.hidden { display: none; }
"""

_JS = r"""
const $ = (s) => document.querySelector(s);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
const secs = (v) => v == null ? "-" : v >= 60 ? `${Math.floor(v/60)}m${String(Math.floor(v%60)).padStart(2,"0")}s` : `${v.toFixed(1)}s`;
const usd = (v) => v == null ? "-" : `$${Number(v).toFixed(4)}`;
async function getJSON(url, opts) { const r = await fetch(url, opts); const j = await r.json(); if (!r.ok) throw new Error(j.error || r.status); return j; }

// ---------------------------------------------------------------- runs list
async function showList() {
  $("#list").classList.remove("hidden");
  const p = new URLSearchParams({status: $("#f-status").value, model: $("#f-model").value, q: $("#f-q").value});
  const rows = await getJSON("/api/runs?" + p);
  $("#runs-body").innerHTML = rows.map((r) => `<tr data-id="${esc(r.id)}">
    <td><a href="/runs/${esc(r.id)}">${esc(r.id)}</a></td><td class="status-${esc(r.status)}">${esc(r.status)}</td>
    <td>${esc(r.model || "-")}</td><td class="num">${usd(r.usd)}</td><td class="num">${r.tokens}</td>
    <td class="num">${secs(r.wall_s)}</td><td>${esc(r.question)}</td></tr>`).join("") ||
    `<tr><td colspan="7" class="meta">no runs match</td></tr>`;
}
async function startRun(ev) {
  ev.preventDefault();
  const body = {question: $("#q").value, width: $("#width").value, depth: $("#depth").value,
                tokens: $("#b-tokens").value, seconds: $("#b-seconds").value, usd: $("#b-usd").value,
                approve_plan: $("#approve-plan").checked};
  try {
    const r = await getJSON("/api/runs", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    location.href = "/runs/" + r.id;
  } catch (e) { $("#start-error").textContent = e.message; }
}

// ---------------------------------------------------------------- one run, live
const S = {plan: null, branches: {}, open: {}, feed: [], tokens: 0, usd: 0, t0: null, tEnd: null, limits: {}, planned: 0};
function teamOf(e) { return e.team || "main"; }
function onEvent(e) {
  if (S.t0 == null || e.start < S.t0) S.t0 = e.start;
  const team = teamOf(e);
  if (e.kind === "decision" && e.name === "plan" || e.type === "PlanMade") {
    S.plan = {width: e.data.width, depth: e.data.depth, why: e.data.reason || ""};
    S.planned = Number(e.data.width) || S.planned;
  } else if ((e.type === "BranchStarted" || e.type === "SpanStarted") && e.team && !S.branches[team]) {
    S.branches[team] = {span: e.span_id, name: e.name, start: e.start, end: null, status: "running", calls: 0, since: e.start};
  } else if (e.type === "ToolCall") {
    S.open[e.data.call_id || e.span_id] = {team, what: `tool ${e.name}`, start: e.start};
  } else if (e.team && S.branches[team] && S.branches[team].span === e.span_id && !e.kind.endsWith("_start")) {
    const b = S.branches[team]; b.end = e.end; b.status = e.status;
  } else if (e.type === "ModelCall" || e.type === "ToolResult") {
    delete S.open[e.span_id]; delete S.open[e.data.call_id];
    if (e.type === "ModelCall") { S.tokens += (e.data.input_tokens || 0) + (e.data.output_tokens || 0); S.usd += Number(e.data.usd || 0); }
    const b = S.branches[team]; if (b) { b.calls += 1; b.since = e.end || e.start; }
    if (e.type === "ToolResult" && (e.status === "cached" || e.status === "coalesced"))
      S.feed.push(`memory hit (${e.status}): ${e.name}${e.team ? " [" + e.team + "]" : ""}`);
  } else if (e.type === "MemoryHit") {
    S.feed.push(`memory hit: ${e.name}${e.data.via ? " via " + e.data.via : ""}`);
  } else if (e.type === "Verdict") {
    const d = e.data || {};
    S.feed.push(`verdict ${e.name}: ${d.passed === false ? "failed" : "passed"}${d.score != null ? " score " + Number(d.score).toFixed(2) : ""}${d.feedback ? " — " + d.feedback : ""}`);
  } else if (e.type === "RunFinished") { S.tEnd = e.end || e.start; }
  if (e.end && e.end > (S.tLast || 0)) S.tLast = e.end;
}
function bar(label, actual, projected, limit, fmt) {
  const pct = (v) => limit ? Math.min(100, 100 * v / limit) : 0;
  return `<div class="budget" data-budget="${label}">${label}: ${fmt(actual)} actual, ${fmt(projected)} projected${limit ? " of " + fmt(limit) : " (no limit)"}
    <div class="bar"><div class="actual" style="width:${pct(actual)}%"></div><div class="projected" style="width:${pct(projected)}%"></div></div></div>`;
}
function drawLive() {
  const now = S.tEnd || (S.running ? Date.now() / 1000 : (S.tLast || Date.now() / 1000));
  const elapsed = S.t0 ? Math.max(0, now - S.t0) : 0;
  $("#plan").innerHTML = S.plan ? `width <b id="plan-width">${esc(S.plan.width)}</b>, depth <b>${esc(S.plan.depth)}</b><br><span class="meta">why: ${esc(S.plan.why)}</span>` : `<span class="meta">waiting for the plan…</span>`;
  const open = Object.values(S.open);
  $("#branches").innerHTML = Object.entries(S.branches).map(([team, b]) => {
    // an agent is always in a model call or a tool call: with no tool call open, it is waiting on the model
    const cur = open.filter((o) => o.team === team).map((o) => `${esc(o.what)} (${secs(now - o.start)})`).join(", ")
      || (b.end ? "" : `model call (${secs(now - b.since)})`);
    const t = (b.end || now) - b.start;
    return `<div class="branch" data-team="${esc(team)}"><span class="time">${secs(t)}</span><b>${esc(team)}</b> ${esc(b.name)}
      <span class="status-${esc(b.status)}">${esc(b.status)}</span> · ${b.calls} calls<br>
      <span class="meta">now: <span class="current">${cur || "done"}</span></span></div>`;
  }).join("") || `<span class="meta">no branches yet</span>`;
  const done = Object.values(S.branches).filter((b) => b.end).length, total = Math.max(S.planned, Object.keys(S.branches).length);
  const scale = done && total > done && S.running ? total / done : 1;
  $("#budgets").innerHTML = bar("usd", S.usd, S.usd * scale, S.limits.usd, usd) +
    bar("tokens", S.tokens, Math.round(S.tokens * scale), S.limits.tokens, (v) => String(Math.round(v))) +
    bar("time", elapsed, elapsed * scale, S.limits.seconds, secs);
  $("#feed").innerHTML = S.feed.map((f) => `<li>${esc(f)}</li>`).join("") || `<li class="meta">none yet</li>`;
  $("#elapsed").textContent = secs(elapsed);
}
async function showRun(id) {
  $("#run").classList.remove("hidden");
  $("#run-id").textContent = id;
  $("#export").href = `/api/runs/${id}/export`;
  const d = await getJSON(`/api/runs/${id}`);
  S.limits = d.limits || {};
  $("#question").textContent = d.question || "";
  setStatus(d.status);
  if (d.approvals && d.approvals.length) showApprovals(id, d.approvals);
  if (d.timeline) showFinished(d);
  S.running = d.status === "running";
  const es = new EventSource(`/api/runs/${id}/events`);
  es.onmessage = (m) => { onEvent(JSON.parse(m.data)); drawLive(); };
  es.addEventListener("hello", (m) => { $("#source").textContent = JSON.parse(m.data).source; });
  es.addEventListener("end", async () => {
    es.close(); S.running = false;
    for (let i = 0; i < 20; i++) {
      const f = await getJSON(`/api/runs/${id}`);
      if (f.status !== "running" && f.timeline) {
        setStatus(f.status); showFinished(f);
        if (f.approvals && f.approvals.length) showApprovals(id, f.approvals);
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    drawLive();
  });
  setInterval(() => { if (S.running) drawLive(); }, 250);
  drawLive();
}
function showApprovals(id, requests) {
  const box = $("#approvals"); box.classList.remove("hidden");
  const plan = requests.find((r) => r.gate === "plan");
  box.innerHTML = `<h2>Waiting for approval</h2>` + requests.map((r) => `<pre class="gate">${esc(r.describe)}</pre>`).join("") +
    (plan ? `<p>Edit the plan before approving — sub-questions, one a line:</p>
      <textarea id="sub-tasks" rows="5" cols="90">${esc((plan.plan.sub_tasks || []).join("\n"))}</textarea>
      <p>width <input id="plan-width-edit" size="4" value="${esc(plan.plan.width ?? "")}"></p>` : "") +
    `<p><button id="approve">Approve</button> <button id="deny">Deny</button> reason <input id="deny-reason" size="40">
     <span id="answer-error" class="status-error"></span></p>`;
  const send = async (approve) => {
    const body = {approve, reason: $("#deny-reason").value};
    if (approve && plan) {
      const tasks = $("#sub-tasks").value.split("\n").map((t) => t.trim()).filter(Boolean);
      const edited = {sub_tasks: tasks}; const w = $("#plan-width-edit").value.trim(); if (w) edited.width = Number(w);
      if (JSON.stringify(tasks) !== JSON.stringify(plan.plan.sub_tasks || []) || (w && Number(w) !== plan.plan.width)) body.plan = edited;
    }
    try {
      await getJSON(`/api/runs/${id}/answer`, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
      location.reload();
    } catch (e) { $("#answer-error").textContent = e.message; }
  };
  $("#approve").onclick = () => send(true); $("#deny").onclick = () => send(false);
}
function setStatus(s) { const el = $("#status"); el.textContent = s; el.className = "status-" + s; }
function showFinished(d) {
  $("#finished").classList.remove("hidden");
  $("#tl-summary").textContent = d.timeline.summary;
  $("#chart").innerHTML = d.timeline.svg;
  $("#report").innerHTML = d.report_html || `<p class="meta">This run recorded no report.</p>`;
  for (const a of document.querySelectorAll("#report a.cite")) a.addEventListener("click", (ev) => { ev.preventDefault(); openCitation(a.dataset.n); });
}
async function openCitation(n) {
  const id = $("#run-id").textContent, box = $("#passage");
  box.classList.remove("hidden");
  try {
    const c = await getJSON(`/api/runs/${id}/citations/${n}`);
    if (!c.path && c.url) { box.innerHTML = `<b>[${n}]</b> <a href="${esc(c.url)}" target="_blank" rel="noopener">${esc(c.title || c.url)}</a>`; return; }
    box.innerHTML = `<b>[${n}]</b> <span class="where">${esc(c.path)}:L${c.line_start}-L${c.line_end}</span> <a href="#" id="close-passage">close</a>
      <pre>${c.lines.map(([no, text, cited]) => `<span class="${cited ? "cited" : ""}"><span class="ln">${String(no).padStart(4)} </span>${esc(text)}</span>`).join("\n")}</pre>`;
  } catch (e) { box.innerHTML = `<b>[${n}]</b> ${esc(e.message)} <a href="#" id="close-passage">close</a>`; }
  const close = $("#close-passage"); if (close) close.onclick = (ev) => { ev.preventDefault(); box.classList.add("hidden"); };
}

const m = location.pathname.match(/^\/runs\/([^/]+)$/);
if (m) showRun(decodeURIComponent(m[1])); else {
  showList();
  for (const el of document.querySelectorAll(".filters input, .filters select")) el.addEventListener("input", showList);
  $("#start").addEventListener("submit", startRun);
}
"""

PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>loom ui</title><style>{_CSS}</style></head>
<body>
<h1><a href="/">agentloom runs</a></h1>
<section id="list" class="hidden">
  <form id="start"><input id="q" size="60" placeholder="Ask a research question" required>
    width <input id="width" value="auto" size="4"> depth <input id="depth" value="auto" size="4">
    tokens <input id="b-tokens" size="7" placeholder="400000"> seconds <input id="b-seconds" size="4" placeholder="300">
    usd <input id="b-usd" size="5" placeholder="none"> <label><input type="checkbox" id="approve-plan"> let me approve the plan</label> <button type="submit">Start run</button> <span id="start-error" class="status-error"></span></form>
  <p class="filters">status <select id="f-status"><option value="">any</option><option>running</option><option>ok</option>
    <option>error</option><option>budget_exhausted</option><option>cancelled</option></select>
    model <input id="f-model" size="14"> question <input id="f-q" size="30"></p>
  <table class="runs"><thead><tr><th>run</th><th>status</th><th>model</th><th>cost</th><th>tokens</th><th>wall</th><th>question</th></tr></thead>
  <tbody id="runs-body"></tbody></table>
</section>
<section id="run" class="hidden">
  <h2>run <span id="run-id"></span> · <span id="status"></span> · <span id="elapsed"></span>
    · <a id="export" target="_blank">export HTML</a></h2>
  <p id="question"></p><p class="meta">events from: <span id="source">…</span></p>
  <div class="grid"><div><h3>Plan</h3><div id="plan"></div><h3>Branches</h3><div id="branches"></div></div>
    <div><h3>Budget</h3><div id="budgets"></div><h3>Memory hits and verdicts</h3><ul class="feed" id="feed"></ul></div></div>
  <div id="approvals" class="hidden"></div>
  <div id="finished" class="hidden"><h2>Timeline</h2><p class="meta" id="tl-summary"></p><div class="chart" id="chart"></div>
    <h2>Report</h2><div id="report"></div></div>
</section>
<div id="passage" class="hidden"></div>
<script>{_JS}</script>
</body></html>
"""
