"""Per-agent git worktrees for templates with ``isolation: worktree`` (a daemon feature).

Parallel agents in one checkout overwrite each other's files. With ``isolation: worktree`` every
supervised pane of a workspace gets its own ``git worktree`` on branch ``wzp/<ws>/<pane>``,
created from the repository's current HEAD under ``paths.worktrees_dir()/<ws>/<pane>``; the
pane's working directory points into it (a workspace dir below the repository top keeps its
relative place). The commit each worktree started from is recorded, so ``wzp diff ws/pane``
shows the agent's changes against it.

``wzp workspace delete`` removes the worktrees and refuses while one holds uncommitted changes
or commits that no other branch, tag or remote-tracking ref contains, unless ``force`` is
given. The branch is always kept, so committed work survives even a forced delete.

Git (``git_worktrees``) runs in a worker thread so the daemon's loop keeps serving. (The
daemon reaps only its own watchers' pids, so ``subprocess`` is safe.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from wzp_supervisor import paths, protocol
from wzp_supervisor.config import WorkspaceTemplate
from wzp_supervisor.features import DaemonContext, FeatureBase, SavedState
from wzp_supervisor.git_worktrees import (
    STATE_KEY,
    GitError,
    Worktree,
    create_worktree,
    diff,
    head_commit,
    remove_worktree,
    repo_top,
    uncommitted,
    unshared_commits,
    worktree_path,
)
from wzp_supervisor.managed_process import ManagedProcess
from wzp_supervisor.protocol import ProtocolError
from wzp_supervisor.states import ProcessInfo
from wzp_supervisor.templates import PaneSpec

log = logging.getLogger("wzp.worktrees")


class Worktrees(FeatureBase):
    """Worktrees on workspace create/delete (a workspace hook), state, and ``diff``."""

    def __init__(self, ctx: DaemonContext) -> None:
        self.ctx = ctx
        self.trees: dict[str, dict[str, Worktree]] = {}

    @property
    def root(self) -> Path | None:
        """``workspaces.worktree_root`` of the current config (None: the state dir)."""
        root: Path | None = self.ctx.config().worktree_root
        return root

    # -- feature ---------------------------------------------------------

    def restore(self, state: SavedState) -> None:
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
        self.ctx.hub.register("diff", self.handle_diff)
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

    def decorate(self, processes: list[ProcessInfo]) -> None:
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
        self.ctx.schedule_save()

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
        self.ctx.schedule_save()

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
        limit = max(1024, self.ctx.config().communication.max_message_bytes - 4096)
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
