"""Per-agent git worktrees for templates with ``isolation: worktree`` (a daemon extension).

Parallel agents in one checkout overwrite each other's files. With ``isolation: worktree`` every
supervised pane of a workspace gets its own ``git worktree`` on branch ``wzp/<ws>/<pane>``,
created from the repository's current HEAD under ``paths.worktrees_dir()/<ws>/<pane>``; the
pane's working directory points into it (a workspace dir below the repository top keeps its
relative place). The commit each worktree started from is recorded, so ``wzp diff ws/pane``
shows the agent's changes against it.

``wzp workspace delete`` removes the worktrees and refuses while one holds uncommitted changes
or commits that no other branch, tag or remote-tracking ref contains, unless ``force`` is
given. The branch is always kept, so committed work survives even a forced delete.

Git runs through ``subprocess.run`` with timeouts, in a worker thread so the daemon's loop
keeps serving. (The daemon reaps only its own watchers' pids, so ``subprocess`` is safe.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wzp_supervisor import paths, protocol
from wzp_supervisor.protocol import ProtocolError
from wzp_supervisor.templates import PaneSpec

if TYPE_CHECKING:
    from wzp_supervisor.config import WorkspaceTemplate
    from wzp_supervisor.daemon import Daemon
    from wzp_supervisor.supervisor import ManagedProcess

log = logging.getLogger("wzp.worktrees")

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
    args: Sequence[str], cwd: Path, *, check: bool = True, timeout: float = GIT_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run ``git ARGS`` in ``cwd`` (argv, never a shell); GitError on failure or timeout."""
    argv = ["git", "-C", os.fspath(cwd), *args]
    try:
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **_GIT_ENV},
            stdin=subprocess.DEVNULL,
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
    if stat:
        return git(["diff", "--stat", tree.base], path).stdout
    text = git(["diff", "--no-color", "--no-ext-diff", tree.base], path).stdout
    untracked = git(["ls-files", "--others", "--exclude-standard", "-z"], path).stdout
    for name in filter(None, untracked.split("\0")):
        # exit code 1 means "there are differences" for --no-index
        extra = git(["diff", "--no-color", "--no-index", "--", os.devnull, name], path, check=False)
        text += extra.stdout
    return text


class Worktrees:
    """Daemon extension: worktrees on workspace create/delete, state, and the ``diff`` request."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.trees: dict[str, dict[str, Worktree]] = {}
        daemon.workspaces.hooks.append(self)

    @property
    def root(self) -> Path | None:
        """``workspaces.worktree_root`` of the current config (None: the state dir)."""
        root: Path | None = self.daemon.config.worktree_root
        return root

    # -- daemon extension interface ---------------------------------------------------------

    def restore(self, state: dict[str, Any]) -> None:
        """Load the recorded worktrees."""
        for workspace, panes in (state.get(STATE_KEY) or {}).items():
            try:
                self.trees[workspace] = {
                    pane: Worktree.from_state(workspace, pane, data) for pane, data in panes.items()
                }
            except (KeyError, TypeError, AttributeError):
                log.error("ignoring unreadable worktree records of %s", workspace)

    async def start(self) -> None:
        """Register ``diff`` and re-create worktrees that vanished while the daemon was down."""
        self.daemon.hub.register("diff", self.handle_diff)
        for panes in self.trees.values():
            for tree in panes.values():
                if Path(tree.path).is_dir():
                    continue
                try:
                    await asyncio.to_thread(
                        create_worktree,
                        Path(tree.repo),
                        tree.workspace,
                        tree.pane,
                        Path(tree.path).parent.parent,
                    )
                    log.warning("re-created the missing worktree %s", tree.path)
                except GitError as exc:
                    log.error("worktree %s is missing: %s", tree.path, exc.message)

    def state_contribution(self) -> dict[str, Any]:
        """The worktree records, saved in state.json."""
        return {
            STATE_KEY: {
                ws: {pane: tree.to_state() for pane, tree in panes.items()}
                for ws, panes in self.trees.items()
            }
        }

    def decorate_processes(self, processes: list[dict[str, Any]]) -> None:
        """Add ``worktree`` and ``branch`` to the listing of isolated processes."""
        for proc in processes:
            tree = self.lookup(str(proc.get("target", "")))
            if tree is not None:
                proc["worktree"] = tree.path
                proc["branch"] = tree.branch

    # -- workspace hooks --------------------------------------------------------------------

    def adjust_specs(
        self, name: str, template: WorkspaceTemplate, directory: Path, specs: list[PaneSpec]
    ) -> list[PaneSpec]:
        """Point each supervised pane's cwd at its worktree (same place relative to the top)."""
        if template.isolation != "worktree":
            return specs
        recorded = self.trees.get(name, {})
        top: Path | None = None
        if not recorded:
            with contextlib.suppress(GitError):
                top = repo_top(directory)
        out = []
        for spec in specs:
            tree = recorded.get(spec.pane)
            if not spec.supervised or (recorded and tree is None):
                out.append(spec)
                continue
            if tree is not None:
                cwd = _relocate(spec.cwd, Path(tree.repo), Path(tree.path))
            else:
                cwd = _relocate(
                    spec.cwd, top or directory, worktree_path(name, spec.pane, self.root)
                )
            out.append(replace(spec, cwd=cwd))
        return out

    async def before_create(
        self, name: str, template: WorkspaceTemplate, directory: Path, specs: list[PaneSpec]
    ) -> None:
        """Create one worktree per supervised pane; a clear error when the dir is not git."""
        if template.isolation != "worktree":
            return
        trees: list[Worktree] = []
        created: list[Worktree] = []  # new now: undone on failure (adopted ones are kept)
        try:
            top = await asyncio.to_thread(repo_top, directory)
            await asyncio.to_thread(head_commit, top)
            for spec in specs:
                if spec.supervised:
                    tree, new = await asyncio.to_thread(
                        create_worktree, top, name, spec.pane, self.root
                    )
                    trees.append(tree)
                    if new:
                        created.append(tree)
        except GitError as exc:
            for tree in created:
                await asyncio.to_thread(remove_worktree, tree)
            raise ProtocolError(protocol.INVALID, exc.message) from None
        self.trees[name] = {tree.pane: tree for tree in trees}
        for tree in trees:
            log.info("worktree %s on branch %s (base %s)", tree.path, tree.branch, tree.base[:12])
        self.daemon.schedule_save()

    async def check_delete(self, name: str, procs: list[ManagedProcess], force: bool) -> None:
        """Refuse to delete a workspace whose worktrees hold unsaved work, unless ``force``."""
        if force or name not in self.trees:
            return
        problems: list[str] = []
        for tree in self.trees[name].values():
            path = Path(tree.path)
            if not path.is_dir():
                continue
            try:
                dirty = await asyncio.to_thread(uncommitted, path)
                ahead = await asyncio.to_thread(unshared_commits, path, tree.branch)
            except GitError as exc:
                problems.append(f"{tree.workspace}/{tree.pane}: {exc.message}")
                continue
            if dirty:
                problems.append(f"{tree.pane}: {len(dirty)} uncommitted change(s) in {path}")
            if ahead:
                problems.append(
                    f"{tree.pane}: {ahead} commit(s) on {tree.branch} found on no other branch"
                )
        if problems:
            raise ProtocolError(
                protocol.CONFLICT,
                f"workspace {name!r} has unsaved work: "
                + "; ".join(problems)
                + ". Commit and merge it, or delete with --force (branches are kept)",
            )

    async def after_delete(self, name: str, procs: list[ManagedProcess], force: bool) -> None:
        """Remove the workspace's worktrees (branches are kept)."""
        for tree in self.trees.pop(name, {}).values():
            await asyncio.to_thread(remove_worktree, tree)
            log.info("removed worktree %s (branch %s kept)", tree.path, tree.branch)
        with contextlib.suppress(OSError):
            ((self.root or paths.worktrees_dir()) / name).rmdir()
        self.daemon.schedule_save()

    # -- diff -------------------------------------------------------------------------------

    def lookup(self, target: str) -> Worktree | None:
        """The worktree of ``ws/pane``, if it has one."""
        workspace, _, pane = target.partition("/")
        return self.trees.get(workspace, {}).get(pane)

    async def handle_diff(self, msg: dict[str, Any]) -> dict[str, Any]:
        """``diff {target, stat?}``: ``git diff`` of the agent's worktree against its base."""
        target = protocol.field(msg, "target", str)
        stat = bool(msg.get("stat", False))
        if "/" not in target:
            raise ProtocolError(protocol.INVALID, f"{target!r}: diff needs a ws/pane target")
        tree = self.lookup(target)
        if tree is None:
            raise ProtocolError(
                protocol.NOT_FOUND,
                f"{target} has no worktree (its template does not use isolation: worktree)",
            )
        if not Path(tree.path).is_dir():
            raise ProtocolError(protocol.NOT_FOUND, f"the worktree {tree.path} is missing")
        try:
            text = await asyncio.to_thread(diff, tree, stat)
        except GitError as exc:
            raise ProtocolError(protocol.INTERNAL, exc.message) from None
        limit = max(1024, self.daemon.config.communication.max_message_bytes - 4096)
        encoded = text.encode()
        truncated = len(encoded) > limit
        if truncated:
            text = encoded[:limit].decode(errors="ignore")
        return {
            "target": target,
            "diff": text,
            "base": tree.base,
            "branch": tree.branch,
            "path": tree.path,
            "truncated": truncated,
        }


def _relocate(cwd: Path, top: Path, root: Path) -> Path:
    """``cwd`` moved from the repository at ``top`` into the worktree at ``root``.

    The worktree mirrors the repository from its top, so a workspace directory below the top
    keeps its relative place; a directory outside the repository is left alone.
    """
    rel = Path(os.path.relpath(os.path.realpath(cwd), os.path.realpath(top)))
    if rel.parts and rel.parts[0] == "..":
        return cwd
    return Path(os.path.normpath(root / rel))
