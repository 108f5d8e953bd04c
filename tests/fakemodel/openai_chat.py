"""A fake OpenAI Chat Completions API (streaming and not, tool calls), as opencode 1.18.33 uses it.

opencode is pointed at the fake with a custom provider (npm "@ai-sdk/openai-compatible", bundled in
the opencode binary, so nothing is installed at run time) whose options.baseURL is
http://127.0.0.1:PORT/v1.  On the wire (seen): only POST /v1/chat/completions, stream=true,
stream_options.include_usage=true, `Authorization: Bearer <options.apiKey>`; the first request of a
run is the title generator (system "You are a title generator..."; no tools), the next ones are the
build agent (tools: bash, edit, glob, grep, read, skill, task, todowrite, webfetch, write).
opencode does NOT call GET /v1/models (models come from opencode.json); the listing below is only
for completeness / other clients.

aider (aider-chat 0.86.2, through litellm) also comes here: aider.py tells its requests apart and
answers in the edit format it asked for (see that module for what aider sends).

`respond_chat(method, path, body, mode, opts)` answers one request in the given scripted mode
(edit, text, rate_limit, usage_limit, hang, error500) with OpenAI's real bodies.
"""
from __future__ import annotations

import json
import re
import time
import uuid

from . import aider
from .gemini import Reply

DEFAULT_EDIT_PATH = "FAKE_EDIT.md"
DEFAULT_EDIT_CONTENT = "edited by the fake openai-compatible model\n"
DEFAULT_TEXT = "Hello from the fake OpenAI-compatible model."


def _json(status: int, obj) -> Reply:
    return Reply(status=status, body=json.dumps(obj).encode())


def models_listing(ids=("fake-model",)) -> dict:
    return {"object": "list", "data": [{"id": i, "object": "model", "created": 1700000000,
                                        "owned_by": "fake"} for i in ids]}


# real OpenAI error bodies
def rate_limit_body(model: str) -> dict:
    return {"error": {"message": f"Rate limit reached for {model} in organization org-fake on requests per min "
                                 "(RPM): Limit 3, Used 3, Requested 1. Please try again in 20s. Visit "
                                 "https://platform.openai.com/account/rate-limits to learn more.",
                      "type": "requests", "param": None, "code": "rate_limit_exceeded"}}


def usage_limit_body() -> dict:
    return {"error": {"message": "You exceeded your current quota, please check your plan and billing details. "
                                 "For more information on this error, read the docs: "
                                 "https://platform.openai.com/docs/guides/error-codes/api-errors.",
                      "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}}


def error500_body() -> dict:
    return {"error": {"message": "The server had an error while processing your request. Sorry about that!",
                      "type": "server_error", "param": None, "code": None}}


def _tokens(obj) -> int:
    return max(1, len(json.dumps(obj)) // 4)


def _tool_results(body: dict) -> int:
    return sum(1 for m in body.get("messages", []) if m.get("role") == "tool")


def _tools(body: dict) -> set:
    return {t.get("function", {}).get("name") for t in body.get("tools", []) or []}


def plan(body: dict, mode: str, opts: dict) -> dict:
    """{'text': str} or {'tool': name, 'args': dict} for this turn."""
    if aider.is_aider_request(body):          # aider edits through text blocks, never tool calls
        return {"text": aider.respond_text(body, mode, opts)}
    tools = _tools(body)
    if mode != "edit" or not tools:           # title generator has no tools: give it a title
        if not tools:
            return {"text": opts.get("title", "Fake task")}
        return {"text": opts.get("text", DEFAULT_TEXT)}
    calls = [("write", {"filePath": opts.get("path_abs") or opts.get("path", DEFAULT_EDIT_PATH),
                        "content": opts.get("content", DEFAULT_EDIT_CONTENT)})]
    if opts.get("commit"):
        calls.append(("bash", {"command": "git add -A && git commit -q -m 'fake model edit'",
                               "description": "Commit the change"}))
    step = _tool_results(body)
    if step < len(calls):
        name, args = calls[step]
        if name not in tools:
            return {"text": f"[fake] tool {name} not offered; tools: {sorted(tools)}"}
        return {"tool": name, "args": args}
    return {"text": opts.get("done_text", "Done: wrote the file.")}


def respond_chat(method: str, path: str, body: dict | None, mode: str, opts: dict) -> Reply:
    body = body or {}
    if method == "GET" and re.fullmatch(r"/v1/models/?", path):
        return _json(200, models_listing())
    if not (method == "POST" and path.rstrip("/") == "/v1/chat/completions"):
        return _json(404, {"error": {"message": f"Unknown request URL: {method} {path}.",
                                     "type": "invalid_request_error", "param": None, "code": "unknown_url"}})
    model = body.get("model", "fake-model")
    if mode == "rate_limit":
        r = _json(429, rate_limit_body(model))
        r.headers.update({"retry-after": str(opts.get("retry_s", 2)), "x-ratelimit-reset-requests": "2s"})
        return r
    if mode == "usage_limit":
        return _json(429, usage_limit_body())
    if mode == "error500":
        return _json(500, error500_body())
    if mode == "hang":
        return Reply(hang=True)
    p = plan(body, mode, opts)
    cid = "chatcmpl-" + uuid.uuid4().hex[:24]
    created = int(time.time())
    pt, ct = _tokens(body.get("messages")), _tokens(p)
    usage = {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}
    if "tool" in p:
        call = {"id": "call_" + uuid.uuid4().hex[:20], "type": "function",
                "function": {"name": p["tool"], "arguments": json.dumps(p["args"])}}
        msg, finish = {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
    else:
        msg, finish = {"role": "assistant", "content": p["text"]}, "stop"
    if not body.get("stream"):
        r = _json(200, {"id": cid, "object": "chat.completion", "created": created, "model": model,
                        "choices": [{"index": 0, "message": msg, "finish_reason": finish}], "usage": usage})
        r.usage = usage
        return r

    def chunks():
        def ev(choices, **extra):
            d = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                 "choices": choices}
            d.update(extra)
            return b"data: " + json.dumps(d).encode() + b"\n\n"
        yield ev([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        if "tool" in p:
            c = dict(call)
            yield ev([{"index": 0, "delta": {"tool_calls": [dict(index=0, **c)]}, "finish_reason": None}])
        else:
            yield ev([{"index": 0, "delta": {"content": p["text"]}, "finish_reason": None}])
        yield ev([{"index": 0, "delta": {}, "finish_reason": finish}])
        if (body.get("stream_options") or {}).get("include_usage"):
            yield ev([], usage=usage)
        yield b"data: [DONE]\n\n"

    return Reply(status=200, headers={"content-type": "text/event-stream"}, chunks=chunks(), usage=usage)
