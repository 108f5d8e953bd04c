"""A fake OpenAI Responses API (POST /v1/responses, streaming SSE), as the Codex CLI 0.171.0 uses it.

codex is pointed at the fake with a custom provider in $CODEX_HOME/config.toml
(model_provider = "fake", [model_providers.fake] base_url = "http://127.0.0.1:PORT/v1",
env_key = "OPENAI_API_KEY", wire_api = "responses").  On the wire (seen): one POST /v1/responses
per model turn, stream=true, store=false, `Authorization: Bearer <$OPENAI_API_KEY>`,
`originator: codex_exec`, `user-agent: codex_exec/0.171.0 (...)`, `x-codex-turn-metadata: {json}`
(request_kind "turn", session/turn ids, cwd's latest commit).  No GET /v1/models, no login.
The request carries the whole history every time (store=false): the system prompt is the first
`input` item (role developer), the cwd is in a user item `<environment_context><cwd>/x</cwd>`, tool
results come back as `function_call_output` / `custom_tool_call_output` items.

The tools offered depend on the model (all three seen):
  gpt-6.2-sol (codex's default)  "code mode": no top-level `tools`; an input item
        {"type": "additional_tools", "tools": [{"type": "namespace", "name": "functions",
        "tools": [{"type": "custom", "name": "exec", ...}, ...]}, ...]}. `exec` takes raw
        JavaScript that calls nested tools: `await tools.apply_patch("*** Begin Patch...")`,
        `await tools.exec_command({cmd: "..."})`, `text(...)` for output.
  gpt-5.5                        top-level function `exec_command` {cmd}, custom (freeform)
        `apply_patch`, write_stdin, view_image, goals, tool_search, web_search.
  unknown model slug             fallback metadata: `exec_command` but no apply_patch.
`plan()` picks whatever is offered, in the order apply_patch > exec (code mode) > exec_command > shell.

The stream is the real event sequence: response.created, response.in_progress, then per output
item response.output_item.added, (response.content_part.added, response.output_text.delta x2,
response.output_text.done, response.content_part.done | response.function_call_arguments.delta/.done
| response.custom_tool_call_input.delta/.done), response.output_item.done, and finally
response.completed whose response.usage is {input_tokens, input_tokens_details.cached_tokens,
output_tokens, output_tokens_details.reasoning_tokens, total_tokens}.  Each SSE event is
`event: <type>\\ndata: <json with the same "type" and a sequence_number>\\n\\n`.

`respond_responses(method, path, body, mode, opts)` answers one request in the given scripted mode
(edit, text, rate_limit, usage_limit, hang, error500) with OpenAI's real error bodies
(openai_chat.py) and rate-limit headers.  What codex 0.171.0 did with them (seen):
  rate_limit   429 + retry-after: retried after retry-after seconds, stream_max_retries times (without
               a retry-after header: not retried), then exit 1 "exceeded retry limit, last status:
               429 Too Many Requests, request id: <x-request-id>"
  usage_limit  429 insufficient_quota: never retried, exit 1 "Quota exceeded. Check your plan and
               billing details."; opts["usage_limit_kind"] = "chatgpt" sends the ChatGPT backend's
               usage_limit_reached body instead: "You’ve hit your usage limit. ... try again at 7:01 AM."
  error500     retried by both loops, then exit 1 "We’re currently experiencing high demand, which
               may cause temporary errors."
  hang         codex waits for ever (no header timeout): the caller needs its own timeout.
"""
from __future__ import annotations

import json
import re
import shlex
import time
import uuid
from collections.abc import Iterator
from typing import Any

from .gemini import Reply
from .openai_chat import error500_body, rate_limit_body, usage_limit_body

DEFAULT_EDIT_PATH = "FAKE_EDIT.md"
DEFAULT_EDIT_CONTENT = "edited by the fake openai responses model\n"
DEFAULT_TEXT = "Hello from the fake OpenAI Responses model."
COMMIT_CMD = "git add -A && git commit -q -m 'fake model edit'"
TOOL_OUTPUT_TYPES = {"function_call_output", "custom_tool_call_output"}


def _json(status: int, obj: Any) -> Reply:
    return Reply(status=status, body=json.dumps(obj).encode())


def _tokens(obj: Any) -> int:
    return max(1, len(json.dumps(obj)) // 4)


# --------------------------------------------------------------------------- request reading

def offered_tools(body: dict) -> dict[str, str]:
    """name -> type ("function" / "custom" / ...) of every tool offered, top level, in namespaces,
    and in code mode's `additional_tools` input items."""
    found: dict[str, str] = {}

    def walk(tools: list[dict]) -> None:
        for t in tools or []:
            if t.get("type") == "namespace":
                walk(t.get("tools", []))
            elif t.get("name"):
                found.setdefault(t["name"], t.get("type", "function"))

    walk(body.get("tools") or [])
    for item in body.get("input") or []:
        if isinstance(item, dict) and item.get("type") == "additional_tools":
            walk(item.get("tools", []))
    return found


def tool_outputs(body: dict) -> list[dict]:
    return [i for i in body.get("input") or [] if isinstance(i, dict) and i.get("type") in TOOL_OUTPUT_TYPES]


def _texts(body: dict) -> Iterator[str]:
    for item in body.get("input") or []:
        if not isinstance(item, dict):
            continue
        content = item.get("content")
        if isinstance(content, str):
            yield content
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                yield part["text"]


def workdir(body: dict) -> str | None:
    """codex states its cwd in a user item: <environment_context>\\n  <cwd>/path</cwd>."""
    for text in _texts(body):
        hit = re.search(r"<cwd>([^<]+)</cwd>", text)
        if hit:
            return hit.group(1).strip()
    return None


def turn_metadata(body: dict) -> dict:
    raw = (body.get("client_metadata") or {}).get("x-codex-turn-metadata")
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {}


def is_main_turn(body: Any) -> bool:
    """An agent turn (request_kind "turn"); other request kinds (compaction, ...) are side calls."""
    if not isinstance(body, dict):
        return False
    return turn_metadata(body).get("request_kind", "turn") == "turn"


# --------------------------------------------------------------------------- what to answer

def add_file_patch(path: str, content: str) -> str:
    lines = content.splitlines() or [""]
    return "*** Begin Patch\n*** Add File: " + path + "\n" + "".join(f"+{ln}\n" for ln in lines) + "*** End Patch\n"


def _shell_write(path: str, content: str) -> str:
    return f"printf %s {shlex.quote(content)} > {shlex.quote(path)}"


def plan(body: dict, mode: str, opts: dict) -> dict:
    """{'text': str} or {'call': 'function'|'custom', 'name': str, 'input': str} for this turn.
    Stateless: the step is the number of tool outputs already in the request's input."""
    if mode != "edit":
        return {"text": opts.get("text", DEFAULT_TEXT)}
    tools = offered_tools(body)
    path = opts.get("path", DEFAULT_EDIT_PATH)
    content = opts.get("content", DEFAULT_EDIT_CONTENT)
    patch = add_file_patch(path, content)
    steps: list[dict]
    if tools.get("apply_patch") == "custom":
        steps = [{"call": "custom", "name": "apply_patch", "input": patch}]
        if opts.get("commit"):
            steps.append({"call": "function", "name": "exec_command", "input": json.dumps({"cmd": COMMIT_CMD})})
    elif tools.get("exec") == "custom":        # code mode: one JavaScript cell does it all
        js = f"const r = await tools.apply_patch({json.dumps(patch)});\ntext(r);\n"
        if opts.get("commit"):
            js += f"const c = await tools.exec_command({{cmd: {json.dumps(COMMIT_CMD)}}});\ntext(c);\n"
        steps = [{"call": "custom", "name": "exec", "input": js}]
    elif "exec_command" in tools:
        cmd = _shell_write(path, content) + (" && " + COMMIT_CMD if opts.get("commit") else "")
        steps = [{"call": "function", "name": "exec_command", "input": json.dumps({"cmd": cmd})}]
    elif "shell" in tools:
        cmd = _shell_write(path, content) + (" && " + COMMIT_CMD if opts.get("commit") else "")
        steps = [{"call": "function", "name": "shell", "input": json.dumps({"command": ["bash", "-lc", cmd]})}]
    else:
        return {"text": f"[fake] no edit tool offered; tools: {sorted(tools)}"}
    step = len(tool_outputs(body))
    if step < len(steps):
        return steps[step]
    return {"text": opts.get("done_text", f"Done: wrote {path}.")}


# --------------------------------------------------------------------------- SSE

class _Stream:
    """Builds the event sequence of one streamed response."""

    def __init__(self, body: dict, model: str) -> None:
        self.seq = 0
        self.response: dict[str, Any] = {
            "id": "resp_" + uuid.uuid4().hex, "object": "response", "created_at": int(time.time()),
            "status": "in_progress", "background": False, "error": None, "incomplete_details": None,
            "instructions": body.get("instructions"), "max_output_tokens": None, "model": model,
            "output": [], "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": None, "reasoning": {"effort": None, "summary": None},
            "store": body.get("store", False), "temperature": 1.0,
            "text": {"format": {"type": "text"}, "verbosity": "medium"}, "tool_choice": "auto",
            "tools": [], "top_p": 1.0, "truncation": "disabled", "usage": None, "user": None, "metadata": {}}

    def event(self, typ: str, **data: Any) -> bytes:
        payload = {"type": typ, "sequence_number": self.seq, **data}
        self.seq += 1
        return f"event: {typ}\ndata: {json.dumps(payload)}\n\n".encode()

    def message(self, index: int, text: str) -> tuple[list[bytes], dict]:
        item_id = "msg_" + uuid.uuid4().hex
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
        done = {"id": item_id, "type": "message", "status": "completed", "content": [part], "role": "assistant"}
        ids = {"item_id": item_id, "output_index": index, "content_index": 0}
        cut = max(1, len(text) // 2)
        evs = [self.event("response.output_item.added", output_index=index,
                          item={**done, "status": "in_progress", "content": []}),
               self.event("response.content_part.added", **ids, part={**part, "text": ""}),
               self.event("response.output_text.delta", **ids, delta=text[:cut], logprobs=[]),
               self.event("response.output_text.delta", **ids, delta=text[cut:], logprobs=[]),
               self.event("response.output_text.done", **ids, text=text, logprobs=[]),
               self.event("response.content_part.done", **ids, part=part),
               self.event("response.output_item.done", output_index=index, item=done)]
        return evs, done

    def function_call(self, index: int, name: str, arguments: str) -> tuple[list[bytes], dict]:
        item_id = "fc_" + uuid.uuid4().hex
        done = {"id": item_id, "type": "function_call", "status": "completed", "arguments": arguments,
                "call_id": "call_" + uuid.uuid4().hex[:24], "name": name}
        ids = {"item_id": item_id, "output_index": index}
        evs = [self.event("response.output_item.added", output_index=index,
                          item={**done, "status": "in_progress", "arguments": ""}),
               self.event("response.function_call_arguments.delta", **ids, delta=arguments),
               self.event("response.function_call_arguments.done", **ids, arguments=arguments),
               self.event("response.output_item.done", output_index=index, item=done)]
        return evs, done

    def custom_tool_call(self, index: int, name: str, text: str) -> tuple[list[bytes], dict]:
        item_id = "ctc_" + uuid.uuid4().hex
        done = {"id": item_id, "type": "custom_tool_call", "status": "completed", "input": text,
                "call_id": "call_" + uuid.uuid4().hex[:24], "name": name}
        ids = {"item_id": item_id, "output_index": index}
        evs = [self.event("response.output_item.added", output_index=index,
                          item={**done, "status": "in_progress", "input": ""}),
               self.event("response.custom_tool_call_input.delta", **ids, delta=text),
               self.event("response.custom_tool_call_input.done", **ids, input=text),
               self.event("response.output_item.done", output_index=index, item=done)]
        return evs, done


def _usage(body: dict, out: Any, opts: dict) -> dict:
    inp, outp = _tokens(body.get("input")) + _tokens(body.get("tools")), _tokens(out)
    usage: dict[str, Any] = {"input_tokens": inp, "input_tokens_details": {"cached_tokens": 0},
                             "output_tokens": outp, "output_tokens_details": {"reasoning_tokens": 0},
                             "total_tokens": inp + outp}
    scripted = opts.get("usage") or {}   # e.g. {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 50}}
    usage.update(scripted)
    if scripted and "total_tokens" not in scripted:
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
    return usage


def _rate_limit_headers(retry_s: float) -> dict:
    return {"retry-after": str(int(retry_s)), "retry-after-ms": str(int(retry_s * 1000)),
            "x-ratelimit-limit-requests": "3", "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": f"{int(retry_s)}s",
            "x-ratelimit-limit-tokens": "40000", "x-ratelimit-remaining-tokens": "39000",
            "x-ratelimit-reset-tokens": "1.5s", "x-request-id": "req_" + uuid.uuid4().hex}


def chatgpt_usage_limit_body(resets_in_s: int) -> dict:
    return {"error": {"type": "usage_limit_reached", "message": "The usage limit has been reached",
                      "plan_type": "plus", "resets_at": int(time.time()) + resets_in_s,
                      "resets_in_seconds": resets_in_s}}


def respond_responses(method: str, path: str, body: dict | None, mode: str, opts: dict) -> Reply:
    body = body or {}
    if method == "GET" and re.fullmatch(r"/v1/models/?", path):
        from .openai_chat import models_listing
        return _json(200, models_listing())
    if not (method == "POST" and path.rstrip("/") == "/v1/responses"):
        return _json(404, {"error": {"message": f"Invalid URL ({method} {path})",
                                     "type": "invalid_request_error", "param": None, "code": None}})
    model = body.get("model", "fake-model")
    if mode == "rate_limit":
        r = _json(429, rate_limit_body(model))
        r.headers.update(_rate_limit_headers(opts.get("retry_s", 2)))
        return r
    if mode == "usage_limit":
        # API-key accounts get insufficient_quota; opts["usage_limit_kind"] = "chatgpt" sends what the
        # ChatGPT backend sends a plan that ran out (codex's own "You've hit your usage limit" case)
        kind = opts.get("usage_limit_kind", "api")
        r = _json(429, chatgpt_usage_limit_body(opts.get("resets_in_s", 3600)) if kind == "chatgpt"
                  else usage_limit_body())
        r.headers["x-request-id"] = "req_" + uuid.uuid4().hex
        return r
    if mode == "error500":
        r = _json(500, error500_body())
        r.headers["x-request-id"] = "req_" + uuid.uuid4().hex
        return r
    if mode == "hang":
        return Reply(hang=True)

    p = plan(body, mode, opts)
    stream = _Stream(body, model)
    created = dict(stream.response)
    head = [stream.event("response.created", response=created),
            stream.event("response.in_progress", response=created)]
    if "text" in p:
        evs, item = stream.message(0, p["text"])
    elif p["call"] == "custom":
        evs, item = stream.custom_tool_call(0, p["name"], p["input"])
    else:
        evs, item = stream.function_call(0, p["name"], p["input"])
    usage = _usage(body, item, opts)
    final = {**stream.response, "status": "completed", "output": [item], "usage": usage}
    tail = [stream.event("response.completed", response=final)]
    if not body.get("stream"):
        r = _json(200, final)
        r.usage = usage
        return r
    return Reply(status=200, headers={"content-type": "text/event-stream; charset=utf-8"},
                 chunks=head + evs + tail, usage=usage)
