"""What an attempt is told: its prompt, and what was set aside from earlier attempts before it began."""

from __future__ import annotations

from pathlib import Path

from orchestrator.base import log
from orchestrator.formats.config import BREAKDOWN_ROLE
from orchestrator.formats.layout import WORKTREE_PROMPT_NAME
from orchestrator.formats.task import Task
from orchestrator.git import landing
from orchestrator.git.repo import Repo
from orchestrator.store.attempts import Attempt, Spec

_log = log.get("orchestrator.runner")


def set_aside_leftovers(repo: Repo, spec: Spec, attempt: Attempt) -> Path | None:
    """An attempt starts from the branch's last commit: what an earlier attempt left uncommitted in
    the worktree it reuses is saved as a patch in this attempt's directory (and named in its prompt),
    not handed on as if it were work."""
    patch = attempt.leftover_path
    if not repo.set_aside(Path(spec.worktree), patch, ignoring=(*spec.noise_paths, WORKTREE_PROMPT_NAME)):
        return None
    _log.info("leftovers_set_aside", task=spec.task_id, attempt=spec.attempt, patch=str(patch))
    return patch


def merge_base_for_landing(repo: Repo, spec: Spec, task: Task) -> tuple[str, ...] | None:
    """A branch the merge queue sent back starts its attempt with the base merged in, so the agent
    works on what would land: None (not sent back, or it has the base already), () (merged cleanly),
    or the files left in conflict for the agent to resolve."""
    if not task.land_attempts or spec.phase == "review":
        return None
    merged = landing.merge_base_into(repo, Path(spec.worktree), spec.base_branch)
    if merged is not None:
        _log.info("landing_base_merged", task=spec.task_id, attempt=spec.attempt, conflicts=list(merged))
    return merged


def render_prompt(title: str, body: str, feedback: tuple[str, ...], spec: Spec | None = None,
                  attempt: Attempt | None = None, *, leftover: Path | None = None,
                  landing_merge: tuple[str, ...] | None = None) -> str:
    parts = []
    if feedback:
        parts.append("## Feedback on earlier attempts\n\n" + "\n".join(f"- {f}" for f in feedback) + "\n")
    if landing_merge is not None and spec is not None:
        if landing_merge:
            parts.append(f"## Merge conflict to resolve\n\n{spec.base_branch} has been merged into your branch and "
                         f"these files conflict: {', '.join(landing_merge)}. Resolve the conflict markers, keep what "
                         "both sides meant, then `git add` them and `git commit` to finish the merge.\n")
        else:
            parts.append(f"## Merged\n\n{spec.base_branch} has been merged into your branch (a merge commit). "
                         "Make the project's check pass on it (the feedback above has its output), and commit.\n")
    if leftover is not None:
        parts.append("## Left over from an earlier attempt\n\nAn earlier attempt ended with uncommitted changes. "
                     "Your worktree starts from the branch's last commit without them; they are saved as a patch "
                     f"at {leftover} (`git apply {leftover}` brings them back, if they help).\n")
    if spec is not None and attempt is not None and spec.phase == "review":
        parts.append(f"## Review\n\nReview the work on branch {spec.branch} against {spec.base_branch}; the diff "
                     f"is in {attempt.diff_path}. Exit 0 to accept. To reject, write "
                     '{"status": "rejected", "reason": "..."} to $ORCH_RESULT_FILE or exit non-zero.\n')
    elif spec is not None and attempt is not None and spec.role == BREAKDOWN_ROLE:
        parts.append("## Breakdown\n\nSplit this task into smaller tasks: write one Markdown task file per "
                     "subtask (frontmatter with title, optional depends_on among the ids you choose) into "
                     f"{attempt.outbox}. No commits are needed.\n")
    parts.append(f"# {title}\n\n{body.strip()}\n")
    return "\n".join(parts)
