"""A fake Anthropic Messages API (streaming SSE and not, tool_use), for driving the real Claude Code CLI.

Claude Code 2.1.332 (npm @anthropic-ai/claude-code, a native binary) is pointed at the fake with
ANTHROPIC_BASE_URL=http://127.0.0.1:PORT and ANTHROPIC_API_KEY=<anything>.  On the wire (seen, `-p`
headless mode with --output-format json):
  POST /v1/messages?beta=true   every request; stream=true; nothing else at all: no count_tokens, no
        GET /v1/models, no haiku title/quota side call (the other endpoints below are for other clients).
        Headers: anthropic-version: 2023-06-01, x-api-key, x-app: cli, User-Agent claude-cli/2.1.332
        (external, sdk-cli), X-Claude-Code-Session-Id, X-Stainless-* (Retry-Count stays 0: Claude Code
        retries in its own loop), anthropic-beta: claude-code-20250219,interleaved-thinking-2025-05-14,
        context-management-2025-06-27,... (model dependent).
        Body: model (default claude-opus-5-5), max_tokens, thinking, context_management, output_config,
        metadata.user_id, system (list of text blocks), tools (12, incl. Bash/Edit/Write/Read), messages.
        The working directory is stated as ' - Primary working directory: /abs/path', in a message
        with role "system" (opus/sonnet/haiku 5.5) or in the top-level system prompt (older models).
  A run of mode edit+commit is exactly 3 requests: -> Write tool_use, -> Bash tool_use, -> closing text.
  On a generic 400 invalid_request_error it re-sends up to 5 times with betas/thinking.display/tool
  search stripped (gateway fallback), so a "main turn" is recognised by its tools, not their count.

Modes (server.py's scripted modes):
  edit        Write{file_path: <workdir>/<opts path>, content}, then when opts["commit"]
              Bash{command: git add -A && git commit ...}, then a closing text (stop_reason end_turn).
              Stateless: the step is the number of tool_result blocks already in the messages.
  text        one text answer.
  rate_limit  429 rate_limit_error (real body, request_id) + retry-after (opts retry_s, default 1) and
              anthropic-ratelimit-* headers.  Claude Code retries 10 times (CLAUDE_CODE_MAX_RETRIES),
              exponential backoff 0.5 s .. ~32 s; retry-after is a floor; 60 s was waited,
              120 s and more: no retry at all.
  usage_limit opts["usage_limit_kind"]: "credit" (default) 400 "Your credit balance is too low ..."
              (not retried; result "Credit balance is too low"), "spend" 400 "You have reached your
              specified API usage limits ...", "subscription" 429 + anthropic-ratelimit-unified-status:
              rejected (the Claude.ai plan limiter; retried like a 429 with an API key).
  overloaded  529 overloaded_error + retry-after.
  hang        accept, never answer (API_TIMEOUT_MS bounds Claude Code's wait; default 600 s).
  error500    500 api_error "Internal server error" (retried like 429).

`respond_messages(method, path, body, mode, opts)` returns a gemini.Reply; server.py serves it.
"""
from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

from .gemini import Reply

DEFAULT_EDIT_PATH = "FAKE_EDIT.md"
DEFAULT_EDIT_CONTENT = "edited by the fake anthropic model\n"
DEFAULT_TEXT = "Hello from the fake Anthropic model."
DEFAULT_COMMIT_CMD = "git add -A && git commit -q -m 'fake model edit'"
RATE_LIMIT_RETRY_S = 1          # retry-after we send on 429/529; short so retries are quick
MAIN_TOOLS = {"Bash", "Edit", "Write"}


# --------------------------------------------------------------------------- errors (real bodies)

def _request_id() -> str:
    return "req_011C" + uuid.uuid4().hex[:20]


def error_body(err_type: str, message: str) -> dict:
    """{"type":"error","error":{"type":...,"message":...},"request_id":"req_..."} as the API sends it."""
    return {"type": "error", "error": {"type": err_type, "message": message}, "request_id": _request_id()}


def rate_limit_body() -> dict:
    return error_body("rate_limit_error",
                      "This request would exceed the rate limit for your organization "
                      "(00000000-0000-0000-0000-000000000000) of 50 requests per minute. For details, refer "
                      "to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for "
                      "current usage. Please reduce the prompt length or the maximum tokens requested, or try "
                      "again later. You may also contact sales at https://www.anthropic.com/contact-sales to "
                      "discuss your options for a rate limit increase.")


def credit_balance_body() -> dict:
    """API-key accounts out of credit: HTTP 400 invalid_request_error (not retried)."""
    return error_body("invalid_request_error",
                      "Your credit balance is too low to access the Anthropic API. Please go to Plans & "
                      "Billing to upgrade or purchase credits.")


def spend_limit_body() -> dict:
    """API-key accounts over their workspace's monthly spend limit: HTTP 400 invalid_request_error."""
    return error_body("invalid_request_error",
                      "You have reached your specified API usage limits. You will regain access on "
                      "2099-01-01 at 00:00 UTC.")


def overloaded_body() -> dict:
    return error_body("overloaded_error", "Overloaded")


def error500_body() -> dict:
    return error_body("api_error", "Internal server error")


def not_found_body(method: str, path: str) -> dict:
    return error_body("not_found_error", f"Not Found: {method} {path}")


def _json(status: int, obj: Any, headers: dict | None = None) -> Reply:
    r = Reply(status=status, body=json.dumps(obj).encode())
    r.headers = {"content-type": "application/json", "request-id": obj.get("request_id") or _request_id(),
                 **(headers or {})}
    return r


def _ratelimit_headers(reset_s: float, remaining: int = 0) -> dict:
    reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + reset_s))
    return {"retry-after": str(int(reset_s)),
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-requests-remaining": str(remaining),
            "anthropic-ratelimit-requests-reset": reset,
            "anthropic-ratelimit-input-tokens-limit": "30000",
            "anthropic-ratelimit-input-tokens-remaining": "30000",
            "anthropic-ratelimit-input-tokens-reset": reset,
            "anthropic-ratelimit-output-tokens-limit": "8000",
            "anthropic-ratelimit-output-tokens-remaining": "8000",
            "anthropic-ratelimit-output-tokens-reset": reset}


def _unified_rejected_headers(reset_s: float) -> dict:
    """The subscription (Claude Pro/Max) 5-hour window limiter saying no."""
    reset = str(int(time.time() + reset_s))
    return {"anthropic-ratelimit-unified-status": "rejected",
            "anthropic-ratelimit-unified-reset": reset,
            "anthropic-ratelimit-unified-5h-status": "rejected",
            "anthropic-ratelimit-unified-5h-reset": reset,
            "anthropic-ratelimit-unified-5h-utilization": "1.0",
            "anthropic-ratelimit-unified-representative-claim": "five_hour",
            "anthropic-ratelimit-unified-fallback-percentage": "0.5",
            "anthropic-ratelimit-unified-overage-status": "rejected",
            "anthropic-ratelimit-unified-overage-disabled-reason": "org_level_disabled"}


def error_reply(mode: str, opts: dict) -> Reply | None:
    """The reply for a failure mode, or None for a mode that answers normally."""
    retry_s = float(opts.get("retry_s", RATE_LIMIT_RETRY_S))
    if mode == "rate_limit":
        return _json(429, rate_limit_body(), _ratelimit_headers(retry_s))
    if mode == "usage_limit":
        kind = opts.get("usage_limit_kind", "credit")
        if kind == "subscription":      # 429 + unified-status: rejected, as Claude.ai plans get it
            return _json(429, error_body("rate_limit_error", "Error"), _unified_rejected_headers(3 * 3600))
        if kind == "spend":
            return _json(400, spend_limit_body())
        return _json(400, credit_balance_body())
    if mode == "overloaded":
        return _json(529, overloaded_body(), {"retry-after": str(int(retry_s)), "x-should-retry": "true"})
    if mode == "error500":
        return _json(500, error500_body(), {"x-should-retry": "true"})
    if mode == "hang":
        return Reply(hang=True)
    return None


# --------------------------------------------------------------------------- request reading

def count_tokens_of(obj: Any) -> int:
    """Deterministic stand-in for a tokenizer: ~4 characters a token."""
    return max(1, len(json.dumps(obj, ensure_ascii=False)) // 4)


def declared_tools(body: dict) -> set[str]:
    return {str(t.get("name")) for t in body.get("tools") or [] if isinstance(t, dict)}


def is_main_turn(body: dict | None) -> bool:
    """The agent's own turn offers Claude Code's editing tools; side calls (titles, quota) offer none."""
    return bool(MAIN_TOOLS & declared_tools(body or {}))


def _blocks(body: dict) -> list[dict]:
    out: list[dict] = []
    for m in body.get("messages") or []:
        c = m.get("content")
        if isinstance(c, list):
            out.extend(b for b in c if isinstance(b, dict))
    return out


def tool_results(body: dict) -> list[dict]:
    return [b for b in _blocks(body) if b.get("type") == "tool_result"]


def working_dir(body: dict) -> str | None:
    """Claude Code's system prompt carries an <env> block with 'Working directory: /abs/path'."""
    texts: list[str] = []
    system = body.get("system")
    if isinstance(system, str):
        texts.append(system)
    elif isinstance(system, list):
        texts.extend(b.get("text", "") for b in system if isinstance(b, dict))
    texts.extend(b.get("text", "") for b in _blocks(body) if b.get("type") == "text")
    for m in body.get("messages") or []:
        if isinstance(m.get("content"), str):
            texts.append(m["content"])
    for t in texts:
        hit = re.search(r"working directory: (/[^\s<]+)", t or "", re.IGNORECASE)
        if hit:
            return hit.group(1).rstrip("/")
    return None


# --------------------------------------------------------------------------- planning a turn

def plan(body: dict, mode: str, opts: dict) -> list[dict]:
    """The assistant content blocks for this turn (text and/or tool_use)."""
    tools = declared_tools(body)
    if not is_main_turn(body):      # side call: a short, harmless text
        return [{"type": "text", "text": opts.get("side_text", "Fake task")}]
    if mode != "edit":
        return [{"type": "text", "text": opts.get("text", DEFAULT_TEXT)}]
    rel = opts.get("path", DEFAULT_EDIT_PATH)
    wd = working_dir(body)
    path = rel if rel.startswith("/") or not wd else f"{wd}/{rel}"
    calls: list[tuple[str, dict]] = [("Write", {"file_path": path,
                                                "content": opts.get("content", DEFAULT_EDIT_CONTENT)})]
    if opts.get("commit"):
        calls.append(("Bash", {"command": opts.get("commit_cmd", DEFAULT_COMMIT_CMD),
                               "description": "Commit the change"}))
    step = len(tool_results(body))
    if step < len(calls):
        name, args = calls[step]
        if name not in tools:
            return [{"type": "text", "text": f"[fake] tool {name} not offered; tools: {sorted(tools)}"}]
        return [{"type": "text", "text": f"Step {step + 1}: using {name}."},
                {"type": "tool_use", "id": "toolu_01" + uuid.uuid4().hex[:22], "name": name, "input": args}]
    return [{"type": "text", "text": opts.get("done_text", f"Done: wrote {rel}.")}]


def _usage(body: dict, content: list[dict], opts: dict) -> dict:
    usage = {"input_tokens": count_tokens_of({"s": body.get("system"), "m": body.get("messages"),
                                               "t": body.get("tools")}),
             "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
             "output_tokens": count_tokens_of(content),
             "service_tier": "standard"}
    usage.update(opts.get("usage") or {})   # scripted counts, e.g. {"input_tokens": 100, "output_tokens": 7}
    return usage


def _sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def stream_chunks(msg: dict) -> Iterator[bytes]:
    """The event sequence the API sends: message_start, ping, per block start/delta.../stop,
    message_delta (stop_reason + final usage), message_stop."""
    usage = msg["usage"]
    start = dict(msg, content=[], stop_reason=None, stop_sequence=None,
                 usage=dict(usage, output_tokens=1))
    yield _sse("message_start", {"type": "message_start", "message": start})
    for i, block in enumerate(msg["content"]):
        if block["type"] == "text":
            yield _sse("content_block_start", {"type": "content_block_start", "index": i,
                                               "content_block": {"type": "text", "text": ""}})
            if i == 0:
                yield _sse("ping", {"type": "ping"})
            text = block["text"]
            for piece in (text[:8], text[8:]):      # two deltas, to exercise the client's assembly
                if piece:
                    yield _sse("content_block_delta", {"type": "content_block_delta", "index": i,
                                                       "delta": {"type": "text_delta", "text": piece}})
        else:
            yield _sse("content_block_start", {"type": "content_block_start", "index": i,
                                               "content_block": {"type": "tool_use", "id": block["id"],
                                                                 "name": block["name"], "input": {}}})
            raw = json.dumps(block["input"])
            cut = len(raw) // 2
            for piece in ("", raw[:cut], raw[cut:]):   # the API's first input_json_delta is often empty
                yield _sse("content_block_delta", {"type": "content_block_delta", "index": i,
                                                   "delta": {"type": "input_json_delta", "partial_json": piece}})
        yield _sse("content_block_stop", {"type": "content_block_stop", "index": i})
    yield _sse("message_delta", {"type": "message_delta",
                                 "delta": {"stop_reason": msg["stop_reason"], "stop_sequence": None},
                                 "usage": {"input_tokens": usage["input_tokens"],
                                           "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
                                           "cache_read_input_tokens": usage["cache_read_input_tokens"],
                                           "output_tokens": usage["output_tokens"]}})
    yield _sse("message_stop", {"type": "message_stop"})


def messages(body: dict, mode: str, opts: dict) -> Reply:
    failure = error_reply(mode, opts)
    if failure is not None:
        return failure
    content = plan(body, mode, opts)
    usage = _usage(body, content, opts)
    msg = {"id": "msg_01" + uuid.uuid4().hex[:22], "type": "message", "role": "assistant",
           "model": body.get("model", "claude-sonnet-4-5"), "content": content,
           "stop_reason": "tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn",
           "stop_sequence": None, "usage": usage}
    rid = _request_id()
    if not body.get("stream"):
        r = _json(200, msg, {"request-id": rid})
        r.usage = usage
        return r
    return Reply(status=200, headers={"content-type": "text/event-stream; charset=utf-8",
                                      "cache-control": "no-cache", "request-id": rid},
                 chunks=stream_chunks(msg), usage=usage)


MODELS = ["claude-opus-4-5", "claude-sonnet-4-5", "claude-haiku-4-5"]


def respond_messages(method: str, path: str, body: dict | None, mode: str = "text",
                     opts: dict | None = None) -> Reply:
    """Everything Claude Code can ask on ANTHROPIC_BASE_URL, by method and path (no query string)."""
    opts = opts or {}
    body = body or {}
    p = path.rstrip("/")
    if method == "POST" and p == "/v1/messages":
        return messages(body, mode, opts)
    if method == "POST" and p == "/v1/messages/count_tokens":
        return _json(200, {"input_tokens": count_tokens_of({"s": body.get("system"), "m": body.get("messages"),
                                                            "t": body.get("tools")})})
    if method == "GET" and p == "/v1/models":
        data = [{"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
                for m in MODELS]
        return _json(200, {"data": data, "has_more": False, "first_id": MODELS[0], "last_id": MODELS[-1]})
    return _json(404, not_found_body(method, path))

