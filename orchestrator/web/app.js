// The dashboard's only script: fetch JSON, build DOM with textContent (never innerHTML from data).
"use strict";
const STATES = ["blocked", "incoming", "claimed", "provisional", "done", "failed"];
const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; };
const get = (url) => fetch(url, {cache: "no-store"}).then((r) => r.json());
const age = (s) => s == null ? "" : s < 90 ? `${s}s` : s < 5400 ? `${Math.round(s / 60)}m` : s < 172800 ? `${Math.round(s / 3600)}h` : `${Math.round(s / 86400)}d`;

function card(c) {
  const a = el("a", "card"); a.href = `/task/${encodeURIComponent(c.id)}`; a.dataset.task = c.id;
  const title = el("div", "title"); title.append(el("span", `pri ${c.priority}`, c.priority), " ", c.title); a.append(title);
  a.append(el("div", "meta", `${c.id} · ${c.agent || c.role} · attempt ${c.attempt} · ${age(c.age_seconds)}`));
  if (c.reason) a.append(el("div", "reason", c.reason));
  return a;
}

async function refreshBoard() {
  const [b, s, st] = await Promise.all([get("/api/board"), get("/api/status"), get("/api/stats")]);
  const board = document.getElementById("board"); board.replaceChildren();
  for (const state of STATES) {
    const col = el("div", `column ${state}`); col.dataset.state = state;
    const h = el("h2"); h.append(el("span", null, state), el("span", "count", String(b.columns[state].count))); col.append(h);
    for (const c of b.columns[state].cards) col.append(card(c));
    board.append(col);
  }
  document.getElementById("summary").textContent =
    `${s.running.length} running · daemon ${s.daemon_pid ? "pid " + s.daemon_pid : "not running"} · last tick ${s.last_tick || "never"}`;
  const alerts = document.getElementById("alerts"); alerts.replaceChildren();
  if (!s.config_ok) alerts.append(el("div", "alert", `CONFIG INVALID: ${s.config_error}`));
  if (s.paused_all) alerts.append(el("div", "alert", `ALL PAUSED: ${s.paused_all}`));
  const stats = document.getElementById("stats"); stats.replaceChildren();
  for (const [name, r] of Object.entries(st.agents)) {
    const bad = Object.values(r.failures).reduce((x, y) => x + y, 0);
    const row = el("div", "bar"); row.append(el("span", "name", name));
    const ok = el("span", "ok"); ok.style.width = `${r.successes * 12}px`; row.append(ok);
    const ko = el("span", "bad"); ko.style.width = `${bad * 12}px`; row.append(ko);
    const tokens = r.input_tokens + r.output_tokens;
    row.append(el("span", "dim", `${r.successes} ok, ${bad} failed, median ${r.duration_seconds.median ?? "-"}s` +
      (tokens ? `, ${tokens} tokens, $${r.cost_usd.toFixed(2)}` : "")));
    stats.append(row);
  }
}

function startBoard() { refreshBoard(); setInterval(refreshBoard, 2000); }

let logOffset = 0, logAttempt = null;
async function refreshTask(id) {
  const t = await get(`/api/task/${encodeURIComponent(id)}`);
  if (t.error) { document.getElementById("task-title").textContent = t.error; return; }
  document.getElementById("task-id").textContent = t.id;
  document.getElementById("task-state").textContent = t.state;
  document.getElementById("task-title").textContent = t.title;
  document.getElementById("task-meta").textContent = `${t.priority} · ${t.role} · branch ${t.branch} · ${t.attempts} counted attempts` + (t.tokens ? ` · ${t.tokens} tokens, $${t.cost_usd.toFixed(4)}` : "") + (t.last_error ? ` · last error: ${t.last_error}` : "");
  const hist = document.getElementById("history"); hist.replaceChildren();
  for (const e of t.history) {
    const tr = el("tr"); tr.append(el("td", "dim", e.ts), el("td", null, e.event), el("td", null, e.from ? `${e.from} → ${e.to}` : (e.to || "")),
      el("td", null, e.actor + (e.agent ? ` (${e.agent})` : "")), el("td", null, e.reason || "")); hist.append(tr);
  }
  const runs = document.getElementById("runs"); runs.replaceChildren();
  for (const r of t.runs) {
    const used = r.input_tokens == null ? "" : ` · ${r.input_tokens} in / ${r.output_tokens} out tokens` +
      (r.cost_usd == null ? "" : `, $${r.cost_usd.toFixed(4)}`) + (r.model ? ` (${r.model})` : "");
    runs.append(el("div", null, `#${r.attempt} ${r.agent || "?"}: ${r.outcome || "running"}${used}${r.reason ? " — " + r.reason : ""}`));
  }
  const latest = t.runs.length ? t.runs[t.runs.length - 1].attempt : null;
  if (latest !== logAttempt) { logAttempt = latest; logOffset = 0; document.getElementById("log").textContent = ""; }
  if (latest) {
    const chunk = await get(`/api/log/${encodeURIComponent(id)}/${latest}?offset=${logOffset}`);
    document.getElementById("log").textContent += chunk.text; logOffset = chunk.offset;
    document.getElementById("log-state").textContent = chunk.running ? "(live)" : "";
  }
}

async function loadDiff(id) {
  const d = await get(`/api/diff/${encodeURIComponent(id)}`);
  const pre = document.getElementById("diff"); pre.replaceChildren();
  for (const line of (d.diff || "(no changes on the branch yet)").split("\n")) {
    const cls = line.startsWith("+") && !line.startsWith("+++") ? "add" : line.startsWith("-") && !line.startsWith("---") ? "del" : line.startsWith("@@") ? "hunk" : null;
    pre.append(el("span", cls, line + "\n"));
  }
}

function startTask() {
  const id = decodeURIComponent(location.pathname.split("/").pop());
  refreshTask(id); loadDiff(id); setInterval(() => refreshTask(id), 2000);
}
