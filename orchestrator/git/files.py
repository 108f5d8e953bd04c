"""What git's own files say, read without starting git (each git process is a few milliseconds of a
runner's overhead per task).

Every reader gives exactly what the git command it stands for would give, or None: the files do not
say it plainly (a reftable, a packed object, a symbolic ref pointing at another symbolic ref, a config
with includes, ...) and the caller asks git. Where a reader and git could disagree the reader must
decline; tests/unit/git/test_files.py and tests/integration/git/test_files_vs_git.py build each shape
of repository and compare with git itself.
"""

from __future__ import annotations

import os
import re
import zlib
from pathlib import Path

SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
NULL_IDS = frozenset({"0" * 40, "0" * 64})
_SPACE = " \t\n\r\v\f"  # C's isspace(): what git trims, never Python's wider str.strip()
_MISSING = (FileNotFoundError, NotADirectoryError, IsADirectoryError)


def read(path: Path) -> str | None:
    """A small file's text as git reads it (bytes, never a decoding error), None when absent."""
    try:
        return os.fsdecode(path.read_bytes())
    except _MISSING:
        return None


def reftable(common: Path) -> bool:
    """extensions.refStorage=reftable: refs are not files at all."""
    return (common / "reftable").exists()


def packed_ref(common: Path, ref: str) -> str | None:
    """ref's object in packed-refs, or None (a packed ref is never symbolic)."""
    for line in (read(common / "packed-refs") or "").splitlines():
        sha, _, name = line.partition(" ")
        if name == ref and SHA.fullmatch(sha):
            return sha
    return None


def head_says(common: Path, head: str | None) -> str | None:
    """What a HEAD file's text means, as `git symbolic-ref --quiet HEAD` says it: "refs/heads/x" on a
    branch (also an unborn one), "" when detached; None when git must say it: a HEAD outside
    refs/heads/, or onto a branch that is itself a symbolic ref (git follows the chain)."""
    if head is None or reftable(common):
        return None
    head = head.rstrip(_SPACE)
    if SHA.fullmatch(head):
        return ""
    if not head.startswith("ref: refs/heads/") or any(c in head[5:] for c in _SPACE):
        return None
    target = head[len("ref: "):]
    if not plain_branch_name(target.removeprefix("refs/heads/")):
        return None
    loose = read(common / target)
    if loose is not None and not SHA.fullmatch(loose.rstrip(_SPACE)):
        return None  # symbolic (or broken): git resolves it
    return target


def head_file(private: Path) -> str | None:
    """A git directory's HEAD text; None when absent or a symbolic link (core.preferSymlinkRefs:
    reading through it would give the branch's commit, not the branch)."""
    path = private / "HEAD"
    return None if path.is_symlink() else read(path)


def private_dir(worktree: Path) -> Path | None:
    """A worktree's own git directory: its .git directory, or the one its .git file names (read as
    git reads it: "gitdir: " then the path, only line ends trimmed); None when there is neither."""
    dot = Path(worktree) / ".git"
    if dot.is_dir():
        return dot
    text = read(dot)
    if text is None or not text.startswith("gitdir: "):
        return None
    path = text[len("gitdir: "):].rstrip("\r\n")
    return Path(worktree) / path if path else None


def linked_worktrees(common: Path) -> dict[Path, str | None] | None:
    """`git worktree list` without its main checkout: path -> branch, None when detached; None when
    the files do not say it plainly (a reftable, a relative or empty gitdir, a missing or unusual
    HEAD). $common/worktrees/<id>/gitdir names the worktree's .git, its HEAD the branch."""
    if reftable(common):
        return None
    try:
        ids = os.listdir(common / "worktrees")
    except _MISSING:
        return {}
    found: dict[Path, str | None] = {}
    for ident in ids:  # git lists every entry, a dot-named one too
        admin = common / "worktrees" / ident
        gitdir = read(admin / "gitdir")
        if gitdir is None:
            continue  # git skips an entry without a gitdir file (or one that is not a directory)
        gitdir = gitdir.rstrip(_SPACE)
        if not os.path.isabs(gitdir):
            return None  # relative (worktree.useRelativePaths) or empty: git resolves or skips it
        ref = head_says(common, head_file(admin))
        if ref is None:
            return None
        found[Path(gitdir.removesuffix("/.git"))] = ref.removeprefix("refs/heads/") or None
    return found


def registration(common: Path, worktree: Path) -> Path | None:
    """The directory git keeps for the linked worktree at `worktree` ($common/worktrees/<id>, which
    its .git file names and whose gitdir names that .git file back), when deleting it is exactly
    what `git worktree prune` would do once the worktree is gone: not locked (prune keeps a locked
    one), both files plain. None otherwise: the caller runs git."""
    private = private_dir(worktree)
    if private is None or Path(os.path.dirname(private)) != common / "worktrees" or (private / "locked").exists():
        return None
    gitdir = read(private / "gitdir")
    if gitdir is None or gitdir.rstrip(_SPACE) != str(Path(worktree) / ".git"):
        return None
    return private


def head_reflog(private: Path) -> list[str]:
    """`git reflog show --format=%H HEAD` from logs/HEAD: the commits HEAD pointed at, newest first
    (a reflog line is "<old> <new> <who> <when>\\t<message>"). Unlike git it does not look up each
    commit: an entry whose commit was pruned since is listed here and skipped by git."""
    text = read(private / "logs" / "HEAD") or ""
    visited = []
    for line in text.splitlines():
        old, _, rest = line.partition(" ")
        new, _, rest = rest.partition(" ")
        if SHA.fullmatch(old) and SHA.fullmatch(new) and new not in NULL_IDS and rest:
            visited.append(new)
    visited.reverse()
    return visited


def outranks_branch(common: Path, name: str) -> bool:
    """Would git's revision parsing take `name` for something before refs/heads/<name> (a file
    $GIT_DIR/<name>, refs/<name>, a tag refs/tags/<name>)? Then only git can say what it counts."""
    for ref in (name, f"refs/{name}", f"refs/tags/{name}"):
        if (common / ref).exists() or packed_ref(common, ref) is not None:
            return True
    return False


def line_length(common: Path, tip: str, stop: str, limit: int = 64) -> int | None:
    """`git rev-list --count stop..tip` where tip leads back to stop through loose commits of one
    parent each (an agent's fresh commits): that line is exactly what tip has and stop has not, since
    stop cannot reach back into it. None where the files cannot tell: a packed object, a merge, a root,
    more than `limit`, or anything that changes parents (shallow, grafts, replace refs, a reftable)."""
    if reftable(common) or any((common / name).exists() for name in ("shallow", "info/grafts", "refs/replace")) \
            or " refs/replace/" in (read(common / "packed-refs") or ""):
        return None
    for count in range(limit + 1):
        if tip == stop:
            return count
        parents = _parents(common, tip)
        if parents is None or len(parents) != 1:
            return None
        tip = parents[0]
    return None


def _parents(common: Path, commit: str) -> list[str] | None:
    """A loose commit's parents as git parses them (the "parent" lines right after "tree"), or None."""
    try:
        raw = zlib.decompress((common / "objects" / commit[:2] / commit[2:]).read_bytes())
    except (OSError, zlib.error):
        return None
    header, _, body = raw.partition(b"\0")
    if not header.startswith(b"commit "):
        return None
    lines = body.split(b"\n\n", 1)[0].split(b"\n")
    if not lines[0].startswith(b"tree "):
        return None
    parents = []
    for line in lines[1:]:
        if not line.startswith(b"parent "):
            break
        parents.append(line[len(b"parent "):].decode("ascii", "replace"))
    return parents if all(SHA.fullmatch(p) for p in parents) else None


def plain_checkout(top: Path) -> Path | None:
    """top/.git when top is plainly the top of an ordinary checkout (what `git rev-parse
    --is-inside-work-tree` answers "true" for there): a real .git directory git accepts as one (a valid
    HEAD, objects/ and refs/), ours (git's safe.directory check then never refuses it), with a config
    that neither makes it bare nor puts its work tree elsewhere. None: ask git."""
    dot = top / ".git"
    try:
        if dot.is_symlink() or not dot.is_dir() or (dot / "commondir").exists():
            return None
        if {os.stat(top).st_uid, os.lstat(dot).st_uid} != {os.geteuid()}:
            return None
    except OSError:
        return None
    head = (head_file(dot) or "").rstrip(_SPACE)
    if not (SHA.fullmatch(head) or (head.startswith("ref:") and head[4:].lstrip(_SPACE).startswith("refs/"))):
        return None
    if not ((dot / "objects").is_dir() and (dot / "refs").is_dir()):
        return None
    config = _plain_config(read(dot / "config") or "")
    if config is None:
        return None
    if config.get("extensions.worktreeconfig", "false") not in _FALSE:
        worktree_config = _plain_config(read(dot / "config.worktree") or "")
        if worktree_config is None or any(key.startswith("extensions.") for key in worktree_config):
            return None
    return dot


_FALSE = {"false", "no", "off", "0"}
# The extensions git 2.x reads in a format-0 repository; objectFormat only from format 1 on (a format-0
# repository naming it is refused). Any other one: git decides (it may refuse the repository).
_EXTENSIONS_V0 = {"extensions.worktreeconfig", "extensions.noop", "extensions.preciousobjects",
                  "extensions.partialclone"}
_EXTENSIONS = {"0": _EXTENSIONS_V0, "1": _EXTENSIONS_V0 | {"extensions.objectformat"}}
_ENTRY = re.compile(r"([A-Za-z][A-Za-z0-9-]*)\s*(?:=\s*(.*))?")


def _plain_config(text: str) -> dict[str, str] | None:
    """A repository config's entries ("section.key" -> value) when none of them makes the answer
    git's to give: no includes, core.bare false or unset, no core.worktree, a repository format git
    2.x reads, only extensions it knows; None otherwise, and for anything this simple reader cannot
    parse for certain (a continued line, a quoted value in core, an unknown line)."""
    entries: dict[str, str] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip(_SPACE)
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                return None
            section = re.split(r"[\s.\"]", line[1:-1].strip(_SPACE), maxsplit=1)[0].lower()
            if section in ("include", "includeif"):
                return None
            continue
        entry = _ENTRY.fullmatch(line)
        if entry is None or line.endswith("\\"):
            return None
        key, value = f"{section}.{entry[1].lower()}", (entry[2] or "true").strip(_SPACE)
        if section in ("core", "extensions") and re.search(r"[\"#;\\]", value):
            return None
        entries[key] = value.lower()
    if entries.get("core.bare", "false") not in _FALSE or "core.worktree" in entries:
        return None
    known = _EXTENSIONS.get(entries.get("core.repositoryformatversion", "0"))
    if known is None or any(key.startswith("extensions.") and key not in known for key in entries):
        return None
    return entries


_REFNAME_BAD = re.compile(r"\.\.|@\{|//|(^|/)\.|\.lock(/|$)|[/.]$|^/|[\x00-\x20\x7f~^:?*\[\\]")


def plain_branch_name(name: str) -> bool:
    """A name git takes as refs/heads/<name> as it is (check-ref-format's rules): only such a name is
    looked up as a file; for anything else (refs/heads/../x, say) git answers."""
    return bool(name) and name != "@" and not _REFNAME_BAD.search(name)


def branch_from_files(common: Path, branch: str) -> tuple[bool, str | None]:
    """refs/heads/<branch> from the ref files: (True, its object id or None when there is no such
    branch), or (False, None) when git must say (a reftable, a symbolic or unreadable ref, an unusual
    name)."""
    if reftable(common) or not plain_branch_name(branch):
        return False, None
    ref = f"refs/heads/{branch}"
    loose = read(common / ref)
    if loose is not None:
        value = loose.rstrip(_SPACE)
        return (True, value) if SHA.fullmatch(value) else (False, None)
    packed = packed_ref(common, ref)
    if packed is not None:
        return True, packed
    return (False, None) if (common / ref).exists() else (True, None)
