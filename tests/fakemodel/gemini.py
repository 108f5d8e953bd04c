"""Fake Gemini API (generativelanguage v1beta) for driving the real gemini-cli.

Endpoints gemini-cli 0.61.0 calls (seen on the wire, GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:PORT):
  POST /v1beta/models/{model}:streamGenerateContent?alt=sse   main agent turns (SSE, `data: {...}\\n\\n`)
  POST /v1beta/models/{model}:generateContent                 side calls via generateJson: the model
        router's complexity classifier (only when no -m is given), the next-speaker check, loop checks;
        they carry generationConfig.responseJsonSchema and we answer with JSON that fits it
  POST /v1beta/models/{model}:countTokens                     {"totalTokens": N}
  GET  /v1beta/models , /v1beta/models/{model}                listing / model info (not seen yet; cheap)

Modes (server.py's scripted modes):
  edit        1st main turn: functionCall write_file{file_path, content} (absolute path inside the
              workspace gemini-cli reports in its <session_context>); 2nd (after a functionResponse):
              functionCall run_shell_command `git add -A && git commit -m ...` when opts["commit"];
              then a closing text turn.  opts["read"]=PATH puts a read_file call first.  Stateless: the step is the number of functionResponse turns
              already in the request's contents.
  text        one text answer, finishReason STOP.
  rate_limit  HTTP 429 RESOURCE_EXHAUSTED, per-minute quota, RetryInfo retryDelay (gemini-cli's
              RetryableQuotaError: it retries after the delay).
  usage_limit HTTP 429 RESOURCE_EXHAUSTED, per-day quota (quotaId ...PerDay...: gemini-cli's
              TerminalQuotaError "You have exhausted your daily quota on this model.").
  hang        accept, never answer (the caller's reply says hang=True; the server keeps the socket
              open until the client goes or a bound passes).
  error500    HTTP 500 INTERNAL, the real Google body.

This module is framework-free: `respond(method, path, query, body_json, mode, opts)` returns a
Reply(status, headers, body, chunks, hang); server.py serves it.
"""
from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

DEFAULT_EDIT_PATH = "FAKE_EDIT.md"
DEFAULT_EDIT_CONTENT = "edited by the fake gemini model\n"
DEFAULT_TEXT = "Hello from the fake Gemini model."
RATE_LIMIT_RETRY_S = 2          # kept short so a CLI that honours RetryInfo retries quickly


@dataclass
class Reply:
    status: int = 200
    headers: dict = field(default_factory=lambda: {"content-type": "application/json; charset=UTF-8"})
    body: bytes = b""
    chunks: Iterable[bytes] | None = None   # SSE chunks, written and flushed one by one
    hang: bool = False
    usage: dict | None = None               # token counts we reported, for the recorder


# --------------------------------------------------------------------------- errors (real bodies)

def error_body(code: int, status: str, message: str, details: list | None = None) -> dict:
    err = {"code": code, "message": message, "status": status}
    if details is not None:
        err["details"] = details
    return {"error": err}


def rate_limit_body(model: str, retry_s: float = RATE_LIMIT_RETRY_S) -> dict:
    """Per-minute free-tier quota, as the Gemini API sends it (Help + QuotaFailure + RetryInfo)."""
    msg = ("You exceeded your current quota, please check your plan and billing details. For more "
           "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. "
           "To monitor your current usage, head to: https://ai.dev/rate-limit. \n"
           "* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, "
           f"limit: 10, model: {model}\nPlease retry in {retry_s:.6f}s.")
    return error_body(429, "RESOURCE_EXHAUSTED", msg, [
        {"@type": "type.googleapis.com/google.rpc.Help",
         "links": [{"description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
         "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                         "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                         "quotaDimensions": {"location": "global", "model": model},
                         "quotaValue": "10"}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{int(retry_s)}s"},
    ])


def usage_limit_body(model: str) -> dict:
    """Per-day quota exhausted (what a user who ran out of daily requests gets)."""
    msg = ("You exceeded your current quota, please check your plan and billing details. For more "
           "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. "
           "To monitor your current usage, head to: https://ai.dev/rate-limit. \n"
           "* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, "
           f"limit: 250, model: {model}\nPlease retry in 50823.410223118s.")
    return error_body(429, "RESOURCE_EXHAUSTED", msg, [
        {"@type": "type.googleapis.com/google.rpc.Help",
         "links": [{"description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
         "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                         "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                         "quotaDimensions": {"location": "global", "model": model},
                         "quotaValue": "250"}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "50823s"},
    ])


def error500_body() -> dict:
    return error_body(500, "INTERNAL", "Internal error encountered.")


def _json_reply(status: int, obj: Any) -> Reply:
    return Reply(status=status, body=json.dumps(obj, indent=2).encode())


# --------------------------------------------------------------------------- request reading

def count_tokens_of(obj: Any) -> int:
    """Deterministic stand-in for a tokenizer: ~4 characters a token."""
    return max(1, len(json.dumps(obj, ensure_ascii=False)) // 4)


def _parts(req: dict) -> list[dict]:
    return [p for c in req.get("contents", []) for p in c.get("parts", [])]


def function_responses(req: dict) -> list[dict]:
    return [p["functionResponse"] for p in _parts(req) if "functionResponse" in p]


def workspace_dir(req: dict) -> str | None:
    """gemini-cli states its workspace in the first user turn (<session_context>)."""
    for p in _parts(req):
        t = p.get("text") or ""
        m = re.search(r"Workspace Directories:\*\*\s*\n\s*-\s*(\S.*)", t)
        if m:
            return m.group(1).strip()
        m = re.search(r"I'm currently working in the directory:\s*(\S+)", t)
        if m:
            return m.group(1).strip()
    return None


def declared_tools(req: dict) -> set[str]:
    return {fd.get("name") for t in req.get("tools", []) for fd in t.get("functionDeclarations", [])}


def fill_schema(schema: dict | None) -> Any:
    """A small value that fits a responseJsonSchema (OBJECT/STRING/INTEGER/... in either case)."""
    if not schema:
        return {}
    typ = str(schema.get("type", "object")).lower()
    if schema.get("enum"):
        return schema["enum"][0]
    if typ == "object":
        props = schema.get("properties", {})
        out = {k: fill_schema(v) for k, v in props.items()}
        # known utility calls get answers that keep the run short and quiet
        if "next_speaker" in out:
            out["next_speaker"] = "user"
        if "complexity_score" in out:
            out["complexity_score"] = 10
        return out
    if typ == "array":
        return []
    if typ in ("integer", "number"):
        return 1
    if typ == "boolean":
        return False
    return "fake"


# --------------------------------------------------------------------------- responses

def _usage(req: dict, out_obj: Any) -> dict:
    p = count_tokens_of({"c": req.get("contents"), "s": req.get("systemInstruction"), "t": req.get("tools")})
    c = count_tokens_of(out_obj)
    return {"promptTokenCount": p, "candidatesTokenCount": c, "totalTokenCount": p + c,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": p}]}


def _candidate(parts: list[dict], finish: str | None = "STOP") -> dict:
    cand = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish:
        cand["finishReason"] = finish
    return cand


def plan_turn(req: dict, mode: str, opts: dict) -> list[dict]:
    """The model parts for this main turn."""
    if mode != "edit":
        return [{"text": opts.get("text", DEFAULT_TEXT)}]
    step = len(function_responses(req))
    tools = declared_tools(req)
    rel = opts.get("path", DEFAULT_EDIT_PATH)
    ws = workspace_dir(req)
    path = rel if rel.startswith("/") or not ws else f"{ws.rstrip('/')}/{rel}"
    calls: list[dict] = [{"functionCall": {"name": "write_file",
                                           "args": {"file_path": path,
                                                    "content": opts.get("content", DEFAULT_EDIT_CONTENT)}}}]
    if opts.get("read"):       # read the task file first (absolute path, or relative to the workspace)
        rp = opts["read"] if opts["read"].startswith("/") or not ws else f"{ws.rstrip('/')}/{opts['read']}"
        calls.insert(0, {"functionCall": {"name": "read_file", "args": {"file_path": rp}}})
    if opts.get("commit"):
        calls.append({"functionCall": {"name": "run_shell_command",
                                       "args": {"command": "git add -A && git commit -q -m 'fake model edit'",
                                                "description": "Commit the change."}}})
    if step < len(calls):
        call = calls[step]
        if call["functionCall"]["name"] not in tools:
            # the CLI did not offer the tool (not --approval-mode yolo?): say so instead of calling it
            return [{"text": f"[fake] tool {call['functionCall']['name']} not offered; tools: {sorted(tools)}"}]
        return [call]
    return [{"text": opts.get("done_text", f"Done: wrote {rel}.")}]


def generate(req: dict, model: str, mode: str, opts: dict, stream: bool) -> Reply:
    if mode == "rate_limit":
        return _json_reply(429, rate_limit_body(model, opts.get("retry_s", RATE_LIMIT_RETRY_S)))
    if mode == "usage_limit":
        return _json_reply(429, usage_limit_body(model))
    if mode == "error500":
        return _json_reply(500, error500_body())
    if mode == "hang":
        return Reply(hang=True)

    schema = (req.get("generationConfig") or {}).get("responseJsonSchema") \
        or (req.get("generationConfig") or {}).get("responseSchema")
    if schema is not None:  # noqa: SIM108 (a generateJson utility call: router, next speaker, loop check)
        parts = [{"text": json.dumps(fill_schema(schema))}]
    else:
        parts = plan_turn(req, mode, opts)
    usage = _usage(req, parts)
    if opts.get("usage"):      # scripted token counts, e.g. {"promptTokenCount": 100, "thoughtsTokenCount": 7,
        usage.update(opts["usage"])   # "cachedContentTokenCount": 50, "totalTokenCount": 157}
        usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": usage["promptTokenCount"]}]
    resp_id = uuid.uuid4().hex[:22]
    if not stream:
        obj = {"candidates": [_candidate(parts)], "usageMetadata": usage,
               "modelVersion": model, "responseId": resp_id}
        r = _json_reply(200, obj)
        r.usage = usage
        return r

    def chunks() -> Iterator[bytes]:
        # text comes in two pieces to exercise the CLI's stream assembly; the last chunk carries
        # finishReason and usageMetadata, as the real API does
        evs: list[dict] = []
        if len(parts) == 1 and "text" in parts[0] and len(parts[0]["text"]) > 8:
            t = parts[0]["text"]
            evs.append({"candidates": [_candidate([{"text": t[:8]}], None)], "modelVersion": model,
                        "responseId": resp_id,
                        "usageMetadata": {"promptTokenCount": usage["promptTokenCount"],
                                          "totalTokenCount": usage["promptTokenCount"]}})
            evs.append({"candidates": [_candidate([{"text": t[8:]}])], "usageMetadata": usage,
                        "modelVersion": model, "responseId": resp_id})
        else:
            evs.append({"candidates": [_candidate(parts)], "usageMetadata": usage,
                        "modelVersion": model, "responseId": resp_id})
        for ev in evs:
            yield b"data: " + json.dumps(ev).encode() + b"\r\n\r\n"

    return Reply(status=200, headers={"content-type": "text/event-stream"}, chunks=chunks(), usage=usage)


MODELS = ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite",
          "gemini-3.1-pro-preview", "gemini-3.5-flash-lite"]


def model_info(name: str) -> dict:
    return {"name": f"models/{name}", "baseModelId": name, "version": "001", "displayName": name,
            "inputTokenLimit": 1048576, "outputTokenLimit": 65536,
            "supportedGenerationMethods": ["generateContent", "countTokens", "streamGenerateContent"]}


PATH_RE = re.compile(r"^/v1(?:beta|alpha)?/models/(?P<model>[^/:?]+):(?P<verb>[A-Za-z]+)$")


def respond(method: str, path: str, query: dict, body: dict | None, mode: str = "text",
            opts: dict | None = None) -> Reply:
    """Everything gemini-cli can ask, by method and path (path without the query string)."""
    opts = opts or {}
    body = body or {}
    if method == "GET" and re.fullmatch(r"/v1(beta|alpha)?/models/?", path):
        return _json_reply(200, {"models": [model_info(m) for m in MODELS]})
    m = re.fullmatch(r"/v1(?:beta|alpha)?/models/([^/:]+)", path)
    if method == "GET" and m:
        return _json_reply(200, model_info(m.group(1)))
    m = PATH_RE.match(path)
    if method == "POST" and m:
        model, verb = m.group("model"), m.group("verb")
        if verb == "countTokens":
            gr = body.get("generateContentRequest") or body
            return _json_reply(200, {"totalTokens": count_tokens_of(gr.get("contents", gr))})
        if verb == "generateContent":
            return generate(body, model, mode, opts, stream=False)
        if verb == "streamGenerateContent":
            return generate(body, model, mode, opts, stream=True)
        if verb in ("embedContent", "batchEmbedContents"):
            n = len(body.get("requests", [body]))
            vec = {"values": [0.0] * 8}
            return _json_reply(200, {"embeddings": [vec] * n} if verb == "batchEmbedContents"
                               else {"embedding": vec})
    return _json_reply(404, error_body(404, "NOT_FOUND", f"Method not found: {method} {path}"))


def is_side_call(body: dict | None) -> bool:
    """generateJson utility calls (router/next-speaker/loop check): a scripted failure mode should
    usually hit only the main agent turns, so a driver can choose to answer these normally."""
    gc = (body or {}).get("generationConfig") or {}
    return "responseJsonSchema" in gc or "responseSchema" in gc


