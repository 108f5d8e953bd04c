// The board and the task page: fetch JSON, build DOM with textContent (never innerHTML from data).
// The buttons and their forms are in actions.js.
"use strict";
const get = (url) => fetch(url, {cache: "no-store"}).then((r) => r.json());
const age = (s) => s == null ? "" : s < 90 ? `${s}s` : s < 5400 ? `${Math.round(s / 60)}m` : s < 172800 ? `${Math.round(s / 3600)}h` : `${Math.round(s / 86400)}d`;

function card(c, state) {
  const d = el("div", "card"); d.dataset.task = c.id; d.dataset.state = state;
  const a = el("a", "title"); a.href = withToken(`/task/${encodeURIComponent(c.id)}`);
  a.append(el("span", `pri ${c.priority}`, c.priority), " ", c.title); d.append(a);
  const meta = el("div", "meta", `${c.id} · ${c.agent || c.role} · attempt ${c.attempt} · `);
  meta.append(el("span", "age", age(c.age_seconds))); d.append(meta);
  if (c.reason) d.append(el("div", "reason", c.reason));
  d.append(taskActions(c.id, state, refreshBoard));
  return d;
}

// The board is rebuilt only when a card changed (not for its age), so a button is not replaced under
// the pointer between press and release; an open reject/cancel form moves into the rebuilt card.
let boardSig = null, boardSeq = 0;
function renderBoard(b) {
  const board = document.getElementById("board");
  const sig = JSON.stringify(b, (k, v) => k === "age_seconds" ? undefined : v);
  if (sig !== boardSig) {
    boardSig = sig;
    const open = board.querySelector("form.confirm");
    const focused = open && open.contains(document.activeElement) ? document.activeElement : null;
    const columns = Object.keys(b.columns).map((state) => {  // the server's order of the states
      const col = el("div", `column ${state}`); col.dataset.state = state;
      const h = el("h2"); h.append(el("span", null, state), el("span", "count", String(b.columns[state].count))); col.append(h);
      for (const c of b.columns[state].cards) col.append(card(c, state));
      return col;
    });
    board.replaceChildren(...columns);
    const home = open && [...board.querySelectorAll(".actions")].find((x) => x.dataset.task === open.dataset.task && x.dataset.state === open.dataset.state);
    if (home) { home.append(open); if (focused) focused.focus(); }
  }
  const cards = new Map([...board.querySelectorAll(".card")].map((x) => [x.dataset.task, x]));
  for (const state of Object.keys(b.columns)) for (const c of b.columns[state].cards) {
    const span = cards.get(c.id)?.querySelector(".age");
    if (span) span.textContent = age(c.age_seconds);
  }
}

let agentsSig = null;
function renderAgents(s) {
  const sig = JSON.stringify([s.agents, s.paused_all]);
  if (sig === agentsSig) return;
  agentsSig = sig;
  const row = (name, what, paused, agent, canResume) => {
    const r = el("div", paused ? "agent paused" : "agent"); r.dataset.agent = agent || "";
    r.append(el("span", "name", name), el("span", "dim", what));
    const box = el("span", "actions"); r.append(box);
    if (TOKEN && canResume) box.append(pauseButton(agent, paused, refreshBoard));
    return r;
  };
  const rows = [row("all agents", s.paused_all ? `paused: ${s.paused_all}` : "taking work", !!s.paused_all, null, true)];
  for (const a of s.agents) {
    rows.push(row(a.name, `${a.role}${a.paused ? " · " + a.paused_reason : ""}`, a.paused, a.name, !a.paused_in_config));
  }
  document.getElementById("agents").replaceChildren(...rows);
  document.getElementById("roles").replaceChildren(...[...new Set(s.agents.map((a) => a.role))].map((r) => { const o = el("option"); o.value = r; return o; }));
}

async function refreshBoard() {
  const seq = ++boardSeq;
  const [b, s, st] = await Promise.all([get("/api/board"), get("/api/status"), get("/api/stats")]);
  if (seq !== boardSeq) return; // a newer refresh started meanwhile: its answer wins
  renderBoard(b);
  renderAgents(s);
  document.getElementById("summary").textContent =
    `${s.running.length} running · daemon ${s.daemon_pid ? "pid " + s.daemon_pid : "not running"} · last tick ${s.last_tick || "never"}` +
    (s.merge_queue ? ` · merge queue: ${s.merge_queue.waiting} to land, ${s.merge_queue.lander_pid ? "lander pid " + s.merge_queue.lander_pid : "no lander running"}` : "");
  const alerts = document.getElementById("alerts"); alerts.replaceChildren();
  if (!s.config_ok) alerts.append(el("div", "alert", `CONFIG INVALID: ${s.config_error}`));
  if (s.paused_all) alerts.append(el("div", "alert", `ALL PAUSED: ${s.paused_all}`));
  if (readOnlyAlert()) alerts.append(readOnlyAlert());
  const stats = document.getElementById("stats"); stats.replaceChildren();
  for (const [name, r] of Object.entries(st.agents)) {
    const bad = Object.values(r.failures).reduce((x, y) => x + y, 0);
    const bar = el("div", "bar"); bar.append(el("span", "name", name));
    const ok = el("span", "ok"); ok.style.width = `${r.successes * 12}px`; bar.append(ok);
    const ko = el("span", "bad"); ko.style.width = `${bad * 12}px`; bar.append(ko);
    const tokens = r.input_tokens + r.output_tokens;
    bar.append(el("span", "dim", `${r.successes} ok, ${bad} failed, median ${r.duration_seconds.median ?? "-"}s` +
      (tokens ? `, ${tokens} tokens, $${r.cost_usd.toFixed(2)}` : "")));
    stats.append(bar);
  }
}

function startBoard() {
  startEnqueue(refreshBoard);
  refreshBoard();
  setInterval(() => refreshBoard().catch((e) => { document.getElementById("summary").textContent = `not reachable: ${e.message}`; }), 2000);
}

let logOffset = 0, logAttempt = null, actionsState = null;
async function refreshTask(id) {
  const t = await get(`/api/task/${encodeURIComponent(id)}`);
  if (t.error) { document.getElementById("task-title").textContent = t.error; return; }
  document.getElementById("task-id").textContent = t.id;
  document.getElementById("task-state").textContent = t.state;
  document.getElementById("task-title").textContent = t.title;
  document.getElementById("task-meta").textContent = `${t.priority} · ${t.role} · branch ${t.branch} · ${t.attempts} counted attempts` + (t.tokens ? ` · ${t.tokens} tokens, $${t.cost_usd.toFixed(4)}` : "") + (t.last_error ? ` · last error: ${t.last_error}` : "");
  if (t.state !== actionsState) { // rebuilt only when the state changes: an open form stays open
    actionsState = t.state;
    document.getElementById("task-actions").replaceChildren(taskActions(t.id, t.state, () => Promise.all([refreshTask(id), loadDiff(id)])));
  }
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
  document.getElementById("home").href = withToken("/");
  const alert = readOnlyAlert();
  if (alert) document.getElementById("alerts").append(alert);
  refreshTask(id); loadDiff(id); setInterval(() => refreshTask(id), 2000);
}

// No inline script (the page's Content-Security-Policy allows none): the body says which page this is.
if (document.body.dataset.page === "board") startBoard(); else startTask();
