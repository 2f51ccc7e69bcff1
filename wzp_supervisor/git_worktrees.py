"""Git plumbing for per-agent worktrees: create, remove, inspect and diff them.

Each agent of an isolated workspace gets a ``git worktree`` on branch ``wzp/<ws>/<pane>``,
created from the repository's current HEAD. Git runs through ``subprocess.run`` with timeouts
and never prompts; callers in the daemon run these in a worker thread.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wzp_supervisor import paths

GIT_TIMEOUT = 60.0
"""Seconds any single git command may take."""

BRANCH_PREFIX = "wzp"
STATE_KEY = "worktrees"

# Git must never prompt or pick up a pager, and must speak English for our messages.
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat", "PAGER": "cat", "LC_ALL": "C"}


class GitError(Exception):
    """A git command failed; ``message`` says which and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def git(
    args: Sequence[str],
    cwd: Path,
    *,
    check: bool = True,
    timeout: float = GIT_TIMEOUT,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``git ARGS`` in ``cwd`` (argv, never a shell); GitError on failure or timeout.

    ``env`` adds variables (``GIT_INDEX_FILE``, say); ``stdin`` is text fed to git.
    """
    argv = ["git", "-C", os.fspath(cwd), *args]
    try:
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **_GIT_ENV, **(env or {})},
            input=stdin,
            stdin=subprocess.DEVNULL if stdin is None else None,
            check=False,
        )
    except FileNotFoundError:
        raise GitError("git is not installed (isolation: worktree needs it)") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"`git {' '.join(args)}` took longer than {timeout:g}s") from None
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        reason = detail[-1] if detail else f"exit code {result.returncode}"
        raise GitError(f"`git {' '.join(args)}` failed in {cwd}: {reason}")
    return result


def branch_name(workspace: str, pane: str) -> str:
    """The branch of an agent's worktree: ``wzp/<workspace>/<pane>``."""
    return f"{BRANCH_PREFIX}/{workspace}/{pane}"


def worktree_path(workspace: str, pane: str, root: Path | None = None) -> Path:
    """Where the worktree of ``workspace/pane`` lives: under ``root`` (``workspaces.
    worktree_root``), else under the state dir."""
    return (root or paths.worktrees_dir()) / workspace / pane


def repo_top(directory: Path) -> Path:
    """The top of the git work tree holding ``directory``; GitError when there is none."""
    result = git(["rev-parse", "--show-toplevel"], directory, check=False)
    if result.returncode != 0:
        raise GitError(
            f"{directory} is not inside a git repository; `isolation: worktree` needs one "
            "(run `git init` and commit, or use a template without isolation)"
        )
    return Path(result.stdout.strip())


def head_commit(top: Path) -> str:
    """The commit HEAD points at; GitError for a repository without commits."""
    result = git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], top, check=False)
    if result.returncode != 0:
        raise GitError(f"the git repository {top} has no commits yet; commit once first")
    return result.stdout.strip()


def branch_exists(top: Path, branch: str) -> bool:
    """Whether ``refs/heads/<branch>`` exists in the repository at ``top``."""
    result = git(["show-ref", "--verify", "--quiet", f"refs/heads/{branch}"], top, check=False)
    return result.returncode == 0


def is_worktree_of(path: Path, branch: str) -> bool:
    """Whether ``path`` is the top of a git worktree with ``branch`` checked out."""
    if not path.is_dir():
        return False
    top = git(["rev-parse", "--show-toplevel"], path, check=False)
    if top.returncode != 0 or Path(top.stdout.strip()) != path.resolve():
        return False
    head = git(["symbolic-ref", "--quiet", "HEAD"], path, check=False)
    return head.stdout.strip() == f"refs/heads/{branch}"


def uncommitted(path: Path) -> list[str]:
    """``git status --porcelain`` lines of a worktree (untracked files included)."""
    out = git(["status", "--porcelain", "--untracked-files=normal"], path).stdout
    return [line for line in out.splitlines() if line.strip()]


def unshared_commits(path: Path, branch: str) -> int:
    """How many commits of ``branch`` no other branch, tag or remote-tracking ref contains."""
    args = ["rev-list", "--count", "HEAD", "--not", f"--exclude={branch}", "--branches"]
    out = git([*args, "--remotes", "--tags"], path).stdout
    return int(out.strip() or "0")


@dataclass
class Worktree:
    """One agent's worktree as recorded in state."""

    workspace: str
    pane: str
    repo: str  # top of the source repository
    path: str  # the worktree's top
    branch: str
    base: str  # commit the branch started from (or its merge base with HEAD when reused)

    def to_state(self) -> dict[str, str]:
        return {"repo": self.repo, "path": self.path, "branch": self.branch, "base": self.base}

    @classmethod
    def from_state(cls, workspace: str, pane: str, data: dict[str, Any]) -> Worktree:
        return cls(
            workspace,
            pane,
            str(data["repo"]),
            str(data["path"]),
            str(data["branch"]),
            str(data["base"]),
        )


def create_worktree(
    top: Path, workspace: str, pane: str, root: Path | None = None
) -> tuple[Worktree, bool]:
    """Create (or adopt) the worktree of ``workspace/pane`` from the repository at ``top``.

    A branch kept from an earlier workspace of the same name is checked out again, with its
    merge base with HEAD as the diff base; a worktree already in place for the branch (left by
    a create that failed half-way) is adopted. The flag says whether it was created now.
    """
    branch = branch_name(workspace, pane)
    path = worktree_path(workspace, pane, root)
    head = head_commit(top)
    if is_worktree_of(path, branch):
        base = git(["merge-base", head, branch], top).stdout.strip()
        return Worktree(workspace, pane, os.fspath(top), os.fspath(path), branch, base), False
    if path.exists() and any(path.iterdir()):
        raise GitError(f"{path} exists and is not the worktree of {branch}; move it away first")
    path.parent.mkdir(parents=True, exist_ok=True)
    git(["worktree", "prune"], top)
    if branch_exists(top, branch):
        git(["worktree", "add", os.fspath(path), branch], top)
        base = git(["merge-base", head, branch], top).stdout.strip()
    else:
        git(["worktree", "add", "-b", branch, os.fspath(path), head], top)
        base = head
    return Worktree(workspace, pane, os.fspath(top), os.fspath(path), branch, base), True


def remove_worktree(tree: Worktree) -> None:
    """Remove a worktree (its files, even uncommitted ones); the branch is kept."""
    top, path = Path(tree.repo), Path(tree.path)
    if top.is_dir():
        if path.exists():
            git(["worktree", "remove", "--force", "--force", os.fspath(path)], top, check=False)
        git(["worktree", "prune"], top, check=False)
    if path.exists():  # not a registered worktree any more (or the repo is gone)
        shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()  # the workspace's directory, once empty


def diff(tree: Worktree, stat: bool = False) -> str:
    """The agent's changes against its base: commits, uncommitted edits and new files."""
    path = Path(tree.path)
    untracked = git(["ls-files", "--others", "--exclude-standard", "-z"], path).stdout
    if stat:
        return _stat_with_untracked(path, tree.base, untracked)
    text = git(["diff", "--no-color", "--no-ext-diff", tree.base], path).stdout
    for name in filter(None, untracked.split("\0")):
        # exit code 1 means "there are differences" for --no-index
        extra = git(["diff", "--no-color", "--no-index", "--", os.devnull, name], path, check=False)
        text += extra.stdout
    return text


def _stat_with_untracked(path: Path, base: str, untracked: str) -> str:
    """``git diff --stat BASE`` counting new untracked files, the worktree's index untouched.

    The untracked files are marked intent-to-add in a throw-away copy of the index, so git
    sees them as new files in one summary.
    """
    if not untracked:
        return git(["diff", "--stat", base], path).stdout
    index = Path(
        git(["rev-parse", "--path-format=absolute", "--git-path", "index"], path).stdout.strip()
    )
    with tempfile.TemporaryDirectory(prefix="wzp-diff-") as tmp:
        scratch = Path(tmp) / "index"
        if index.is_file():
            shutil.copyfile(index, scratch)
        env = {"GIT_INDEX_FILE": os.fspath(scratch), "GIT_LITERAL_PATHSPECS": "1"}
        add = ["add", "--intent-to-add", "--pathspec-from-file=-", "--pathspec-file-nul"]
        git(add, path, env=env, stdin=untracked)
        return git(["diff", "--stat", base], path, env=env).stdout
