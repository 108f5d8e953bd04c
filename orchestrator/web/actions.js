// What the page may change, and how: every change is a POST of JSON carrying the token of this start
// of the dashboard (in the address `dashboard` printed). The server checks it, and Host and Origin,
// then calls the same API the command line does. Without a token the page only reads.
"use strict";
const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; };
const TOKEN = new URLSearchParams(location.search).get("token") || "";
const withToken = (path) => TOKEN ? `${path}?token=${encodeURIComponent(TOKEN)}` : path;

// The buttons a task gets in each state, on the board and on its own page alike.
// reject and cancel open a small form first (a reason; a second click to confirm).
const TASK_ACTIONS = {
  provisional: [["accept", "Accept"], ["land", "Accept + land"], ["reject", "Reject…"]],
  failed: [["retry", "Retry"]], blocked: [["retry", "Retry"], ["cancel", "Cancel…"]],
  incoming: [["cancel", "Cancel…"]], claimed: [["cancel", "Cancel…"]], landing: [["cancel", "Cancel…"]],
};

async function post(path, body) {
  const r = await fetch(path, {method: "POST", cache: "no-store", body: JSON.stringify(body || {}),
                               headers: {"Content-Type": "application/json", "X-Orchestrator-Token": TOKEN}});
  let data = {};
  try { data = await r.json(); } catch (e) { data = {}; }
  if (!r.ok) throw new Error(data.error || `${r.status} ${r.statusText}`);
  return data;
}

function notify(text, isError) {
  const line = el("div", isError ? "note error" : "note", text);
  line.setAttribute("role", isError ? "alert" : "status");
  document.getElementById("notice").replaceChildren(line);
}

function readOnlyAlert() {
  return TOKEN ? null : el("div", "alert", "read-only: this address has no token. Open the one `dashboard` " +
                                           "printed (it ends in ?token=...) to accept, reject, retry, cancel, pause or enqueue.");
}

// Send one action; the buttons next to it wait meanwhile; the answer (or the refusal) is shown.
async function run(button, path, body, after) {
  const scope = button.closest(".actions") || button.parentElement;
  const buttons = [...scope.querySelectorAll("button")];
  buttons.forEach((b) => { b.disabled = true; });
  try { notify((await post(path, body)).message); } catch (e) { notify(e.message, true); }
  buttons.forEach((b) => { b.disabled = false; });
  await after();
}

function taskActions(id, state, after) {
  const box = el("div", "actions"); box.dataset.task = id; box.dataset.state = state;
  if (!TOKEN) return box;
  for (const [name, label] of TASK_ACTIONS[state] || []) {
    const b = el("button", `act ${name}`, label); b.type = "button"; b.dataset.action = name;
    b.setAttribute("aria-label", `${label.replace("…", "")} ${id}`);
    b.addEventListener("click", () => name === "reject" || name === "cancel" ? openConfirm(box, id, name, after)
                                                                             : run(b, `/api/task/${encodeURIComponent(id)}/${name}`, {}, after));
    box.append(b);
  }
  return box;
}

// The confirmation of a destructive action, inline (a headless browser can drive it, window.confirm not).
function openConfirm(box, id, name, after) {
  document.querySelectorAll("form.confirm").forEach((f) => f.remove());
  const form = el("form", "confirm"); form.dataset.task = id; form.dataset.state = box.dataset.state; form.dataset.confirm = name;
  let focus;
  if (name === "reject") {
    const reason = el("textarea"); reason.id = `reason-${id}`; reason.name = "reason"; reason.rows = 2; reason.required = true;
    const label = el("label", null, `What should the next attempt of ${id} change?`); label.htmlFor = reason.id;
    form.append(label, reason); focus = reason;
  } else {
    form.append(el("p", null, `Cancel ${id}? A running attempt is stopped; the task goes to failed/.`));
  }
  const yes = el("button", "danger", name === "reject" ? "Send back" : "Yes, cancel it"); yes.type = "submit"; yes.dataset.confirm = "yes";
  const no = el("button", null, "Keep it"); no.type = "button"; no.dataset.confirm = "no";
  no.addEventListener("click", () => form.remove());
  form.append(yes, no);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const body = name === "reject" ? {reason: form.elements.namedItem("reason").value} : {};
    run(yes, `/api/task/${encodeURIComponent(id)}/${name}`, body, after);
  });
  box.append(form);
  (focus || yes).focus();
}

function pauseButton(agent, paused, after) {
  const label = paused ? "Resume" : "Pause";
  const b = el("button", "act", label); b.type = "button"; b.dataset.action = paused ? "resume" : "pause";
  b.setAttribute("aria-label", `${label} ${agent || "all agents"}`);
  b.addEventListener("click", () => run(b, `/api/${paused ? "resume" : "pause"}`, agent ? {agent} : {}, after));
  return b;
}

function startEnqueue(after) {
  const form = document.getElementById("enqueue-form");
  if (!TOKEN) { document.getElementById("enqueue").hidden = true; return; }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const value = (name) => form.elements.namedItem(name).value;
    const submit = form.querySelector("button[type=submit]"); submit.disabled = true;
    try {
      notify((await post("/api/enqueue", {title: value("title"), body: value("body"), priority: value("priority"), role: value("role")})).message);
      form.reset();
    } catch (e) { notify(e.message, true); }
    submit.disabled = false;
    await after();
  });
}
