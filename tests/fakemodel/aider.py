"""Aider's side of the fake OpenAI Chat Completions API: answers in the edit format aider asked for.

Seen on the wire (aider-chat 0.86.2, litellm 1.81.10, openai-python 2.20.0; `--model openai/fake-model`,
OPENAI_API_BASE=http://127.0.0.1:PORT/v1, `--no-stream`):
  - only POST /v1/chat/completions, `stream` absent (litellm drops stream=False), `temperature: 0`, no
    `tools` (aider edits through text blocks it parses itself, never tool calls), headers
    `User-Agent: OpenAI/Python 2.20.0`, `x-stainless-retry-count: N` (openai SDK retries), and
    `Authorization: Bearer <OPENAI_API_KEY>`.  No GET /v1/models.
  - main turn: messages[0] is system "Act as an expert software developer. ..." (the coder's
    main_system, plus the edit-format rules), then example exchanges, the repo map ("Here are summaries
    of some files present in my git repository."), and last the user's message (the --message-file
    text) with the edit format's system_reminder appended to it.
  - commit message: after an edit aider auto-commits; the message comes from the *weak* model (the
    main model when aider knows no weak model for it), a separate non-streamed call whose system is
    prompts.commit_system "You are an expert software engineer that generates concise, one-line Git
    commit messages based on the provided diffs." and whose user message holds the diff.
  - chat summary: prompts.summarize "*Briefly* summarize this partial conversation about programming."
    (only once the history grows past the weak model's budget; not in a one-message run).
  - the repo map is built locally (tree-sitter); it costs no request.

Edit formats, told apart by the rules aider sends (edit_format, then what we answer):
  whole         "*file listing* format": `path\\n<fence>\\n<entire content>\\n<fence close>`
  diff          "*SEARCH/REPLACE block*", filename line before the fence: `path\\n<fence>\\n<<<<<<< SEARCH ...`
  diff-fenced   the same but the filename inside the fence: `<fence>\\npath\\n<<<<<<< SEARCH ...`
  udiff         "unified diffs" / `--- a\\n+++ b\\n@@ ... @@`: ```` ```diff\\n--- path\\n+++ path\\n@@ ... @@ ````
  patch         "V4A diff format": `*** Begin Patch\\n*** Add File: path\\n+line ...\\n*** End Patch`
The fence is the one aider chose (``` by default; ````, <source>... when files contain ```).

opts (server.py's): path, content, search (old text, for an existing file), commit_message (answer to
the commit-message call, default "feat: add PATH"), text, done_text, lead (sentence before the block).

`respond_text(body, mode, opts)` gives the assistant text for one aider request; openai_chat.py wraps it
in a chat.completion.  Stateless: once an assistant message in the request already holds our edit (a
reflection turn after lint/test or a failed edit), the answer is a plain closing text, except after
"I added these files to the chat: PATH" (an existing file outside the chat: aider did not apply the
edit, it added the file; the same edit then applies).
"""
from __future__ import annotations

import re
from typing import Any

DEFAULT_EDIT_PATH = "FAKE_EDIT.md"
DEFAULT_EDIT_CONTENT = "edited by the fake openai-compatible model\n"
DEFAULT_TEXT = "Hello from the fake OpenAI-compatible model."

MAIN_SYSTEM_START = "Act as an expert software"          # every coder's main_system (code, ask, architect...)
COMMIT_SYSTEM_START = "You are an expert software engineer that generates concise, one-line Git commit messages"
SUMMARIZE_START = "*Briefly* summarize this partial conversation"
# an edit of an existing file that is not in the chat is not applied: aider asks "Add file to the chat?"
# (--yes-always: yes) and sends this as the next main turn; the edit has to come again
FILES_ADDED = "I added these files to the chat:"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):      # [{"type": "text", "text": ...}, ...]
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _messages(body: dict | None) -> list[dict]:
    return [m for m in (body or {}).get("messages", []) or [] if isinstance(m, dict)]


def _system(body: dict | None) -> str:
    return "\n".join(_text(m.get("content")) for m in _messages(body) if m.get("role") == "system")


def _last_user(body: dict | None) -> str:
    users = [m for m in _messages(body) if m.get("role") == "user"]
    return _text(users[-1].get("content")).lstrip() if users else ""


def side_call(body: dict | None) -> str | None:
    """'commit_message' or 'summarize' for aider's own utility calls, else None."""
    system = _system(body).lstrip()
    if system.startswith(COMMIT_SYSTEM_START):
        return "commit_message"
    if system.startswith(SUMMARIZE_START) or any(
            _text(m.get("content")).lstrip().startswith(SUMMARIZE_START) for m in _messages(body)):
        return "summarize"
    return None


def is_aider_request(body: dict | None) -> bool:
    return side_call(body) is not None or _system(body).lstrip().startswith(MAIN_SYSTEM_START)


def is_main_turn(body: dict | None) -> bool:
    return is_aider_request(body) and side_call(body) is None


def edit_format(body: dict | None) -> str | None:
    """Which edit format aider's rules ask for (see the module docstring), None if it asked for none
    (ask mode, or not aider at all)."""
    rules = _system(body) + "\n" + "\n".join(
        _text(m.get("content")) for m in _messages(body) if m.get("role") == "user")
    if "*** Begin Patch" in rules:
        return "patch"
    if "SEARCH/REPLACE" in rules:
        return "diff-fenced" if re.search(r"python\nmathweb/flask/app\.py\n<<<<<<< SEARCH", _all(body)) else "diff"
    if "unified diff" in rules or re.search(r"^--- \S+\n\+\+\+ \S+\n@@ ", rules, re.M):
        return "udiff"
    if "*file listing*" in rules:
        return "whole"
    return None


def _all(body: dict | None) -> str:
    return "\n".join(_text(m.get("content")) for m in _messages(body))


def fence(body: dict | None) -> tuple[str, str]:
    """The fence aider chose, read back from its own examples."""
    text = _all(body)
    hit = (re.search(r"path/to/filename\.js\n(\S+)\n", text)                       # whole
           or re.search(r"mathweb/flask/app\.py\n(\S+?)python\n<<<<<<< SEARCH", text)  # diff
           or re.search(r"\n(\S+?)python\nmathweb/flask/app\.py\n<<<<<<< SEARCH", text))  # diff-fenced
    opening = hit.group(1) if hit else "```"
    if opening.startswith("<") and opening.endswith(">"):
        return opening, "</" + opening[1:]
    return opening, opening


def _body_lines(content: str) -> str:
    return content if content.endswith("\n") else content + "\n"


def edit_block(fmt: str, path: str, content: str, fences: tuple[str, str] = ("```", "```"),
               search: str = "", exists: bool = False) -> str:
    """One block creating `path` with `content` in edit format `fmt`; with `search` (text the file holds)
    changing it: `search` is replaced by `content` (SEARCH/REPLACE, udiff, patch), while whole sends
    `content` as the entire file, so give search = the whole old file to mean the same in every format."""
    opening, closing = fences
    content = _body_lines(content)
    search = _body_lines(search) if search else ""
    if fmt == "whole":
        return f"{path}\n{opening}\n{content}{closing}\n"
    if fmt == "diff":
        return f"{path}\n{opening}\n<<<<<<< SEARCH\n{search}=======\n{content}>>>>>>> REPLACE\n{closing}\n"
    if fmt == "diff-fenced":
        return f"{opening}\n{path}\n<<<<<<< SEARCH\n{search}=======\n{content}>>>>>>> REPLACE\n{closing}\n"
    if fmt == "udiff":
        minus = "".join("-" + line for line in search.splitlines(keepends=True))
        plus = "".join("+" + line for line in content.splitlines(keepends=True))
        return f"```diff\n--- {path}\n+++ {path}\n@@ ... @@\n{minus}{plus}```\n"
    if fmt == "patch":
        plus = "".join("+" + line for line in content.splitlines(keepends=True))
        if exists or search:    # an existing file; or see respond_text: after aider's own "ADD Error"
            minus = "".join("-" + line for line in search.splitlines(keepends=True))
            return f"*** Begin Patch\n*** Update File: {path}\n@@\n{minus}{plus}*** End Patch\n"
        return f"*** Begin Patch\n*** Add File: {path}\n{plus}*** End Patch\n"
    raise ValueError(f"unknown aider edit format {fmt!r}")


def respond_text(body: dict | None, mode: str, opts: dict) -> str:
    """The assistant's text for one aider request in scripted mode `mode` (error modes are answered
    by openai_chat.py before this is reached)."""
    kind = side_call(body)
    path = opts.get("path", DEFAULT_EDIT_PATH)
    if kind == "commit_message":
        return opts.get("commit_message", f"feat: add {path}")
    if kind == "summarize":
        return "I asked you to make a change; you made it."
    fmt = edit_format(body)
    if mode != "edit" or fmt is None:
        return opts.get("text", DEFAULT_TEXT)
    # aider 0.86.2's patch format cannot create a file in one go: before applying it creates the file
    # empty ("Create new file?"), then its Add fails with "ADD Error: File already exists: PATH" (the
    # empty file is committed); aider reflects that error back and the Update we send then works.
    exists = fmt == "patch" and "ADD Error: File already exists" in _all(body)
    block = edit_block(fmt, path, opts.get("content", DEFAULT_EDIT_CONTENT), fence(body),
                       opts.get("search", ""), exists)
    sent = any(m.get("role") == "assistant" and block.strip() in _text(m.get("content"))
               for m in _messages(body))          # aider stores replies stripped
    if sent and not _last_user(body).startswith(FILES_ADDED):
        return opts.get("done_text", f"Done: {path} is written.")
    if fmt == "patch":                 # aider's patch parser wants the reply to start with the sentinel
        return block
    lead = opts.get("lead", f"I will write `{path}`.")
    return f"{lead}\n\n{block}"
