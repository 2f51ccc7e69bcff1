"""A git worktree per pool worker (``pools.<name>.worktree: true``), on ``git_worktrees``.

Worker ``w<N>`` of pool ``P`` works in ``<root>/pool-P/w<N>`` on branch ``wzp/pool-P/w<N>``,
made from the current HEAD of the repository holding the pool's ``cwd`` (``<root>`` is
``workspaces.worktree_root``, else the state dir: where agents' worktrees live too). When the
worker ends its worktree is removed only if it holds nothing: no uncommitted change and no
commit that no other branch, tag or remote-tracking ref has (then its branch goes too);
otherwise it is kept for the changes to be picked up. Blocking git calls: run them in a thread.
"""

from __future__ import annotations

import os
from pathlib import Path

from wzp_supervisor import paths
from wzp_supervisor.git_worktrees import (
    GitError,
    Worktree,
    branch_name,
    create_worktree,
    git,
    head_commit,
    is_worktree_of,
    remove_worktree,
    repo_top,
    uncommitted,
    unshared_commits,
)


def pool_tree_name(pool: str) -> str:
    """The directory (under the worktree root) and branch part of ``pool``'s worktrees."""
    return f"pool-{pool}"


def free_index(pool: str, root: Path | None, start: int) -> int:
    """The first worker number from ``start`` whose worktree directory is not taken (kept
    worktrees of an earlier daemon keep their numbers)."""
    base = (root or paths.worktrees_dir()) / pool_tree_name(pool)
    index = start
    while (base / f"w{index}").exists():
        index += 1
    return index


def leftover_pool_worktrees(pool: str, cwd: Path, root: Path | None) -> list[tuple[int, Worktree]]:
    """The worktrees an earlier daemon's workers of ``pool`` left (a daemon killed before it
    could release them), with their worker numbers; none when ``cwd`` is not in a repository."""
    base = (root or paths.worktrees_dir()) / pool_tree_name(pool)
    if not base.is_dir():
        return []
    try:
        top = repo_top(cwd)
    except GitError:
        return []
    found = []
    for entry in sorted(base.iterdir()):
        index = entry.name[1:]
        if not (entry.name.startswith("w") and index.isdigit()):
            continue
        branch = branch_name(pool_tree_name(pool), entry.name)
        if is_worktree_of(entry, branch):
            tree = Worktree(
                pool_tree_name(pool), entry.name, os.fspath(top), os.fspath(entry), branch, ""
            )
            found.append((int(index), tree))
    return found


def create_pool_worktree(
    pool: str, cwd: Path, index: int, root: Path | None
) -> tuple[Worktree, Path]:
    """The worktree of worker ``w<index>`` and the directory the worker runs in (``cwd``'s
    place inside it); GitError naming ``pools.<pool>.worktree`` when it cannot be made."""
    try:
        top = repo_top(cwd)
        head_commit(top)
        tree, _ = create_worktree(top, pool_tree_name(pool), f"w{index}", root)
    except GitError as exc:
        if "not inside a git repository" in exc.message:
            raise GitError(
                f"pools.{pool}.worktree: {cwd} (pools.{pool}.cwd) is not inside a git "
                "repository; worktrees need one"
            ) from None
        raise GitError(f"pools.{pool}.worktree: {exc.message}") from None
    rel = os.path.relpath(os.path.realpath(cwd), os.path.realpath(top))
    return tree, Path(os.path.normpath(Path(tree.path) / rel))


def release_pool_worktree(tree: Worktree) -> str | None:
    """Remove ``tree`` and its branch when they hold no work; else why it is kept."""
    path = Path(tree.path)
    if not path.is_dir():
        return None
    try:
        dirty = uncommitted(path)
        ahead = unshared_commits(path, tree.branch)
    except GitError as exc:
        return exc.message
    if dirty or ahead:
        what = []
        if dirty:
            what.append(f"{len(dirty)} uncommitted change(s)")
        if ahead:
            what.append(f"{ahead} commit(s) on {tree.branch} found on no other branch")
        return " and ".join(what)
    remove_worktree(tree)
    git(["branch", "-D", tree.branch], Path(tree.repo), check=False)
    return None
