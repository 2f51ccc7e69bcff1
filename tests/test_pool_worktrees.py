"""A git worktree per pool worker (``pools.<name>.worktree: true``): the real CLI in ``-p``
stream-json mode under a real daemon, against the loopback model stub, in a real repository."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psutil
import pytest

from tests.conftest import WzpEnv
from tests.model_stub import ModelStub
from tests.pool_support import daemon_log, hub, start_daemon, the_pool, wait_all, wait_until
from tests.support import kill_daemon
from wzp_supervisor.config import ConfigError, parse_config_text
from wzp_supervisor.preflight import config_warnings

pytestmark = pytest.mark.timeout(600)


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, check=check, timeout=60
    )


def make_repo(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "t@example.invalid")
    git(path, "config", "user.name", "t")
    (path / "README").write_text("hello\n")
    git(path, "add", "README")
    git(path, "commit", "-q", "-m", "first")
    return path


def test_each_worker_has_its_own_worktree_and_only_a_clean_one_is_removed(
    wzp_env: WzpEnv, model_stub: ModelStub
) -> None:
    repo = make_repo(wzp_env.root / "repo")
    start_daemon(
        wzp_env,
        model_stub,
        min=0,
        max=2,
        idle_timeout=1,
        worktree=True,
        cwd=str(repo),
        allowed_tools=["Bash"],
    )
    model_stub.reply_tool_use("Bash", {"command": "echo work > made.txt", "description": "w"})
    model_stub.reply_slowly("a slow answer in words", seconds=2)
    model_stub.reply_slowly("a slow answer in words", seconds=2)
    ids = [hub("task.submit", prompt=f"job-{i}", pool="batch")["task"]["id"] for i in range(2)]
    tasks = wait_all(ids)
    assert [t["state"] for t in tasks] == ["done", "done"], tasks
    trees = [Path(t["result"]["worktree"]) for t in tasks]
    assert trees[0] != trees[1]
    root = wzp_env.state_dir / "worktrees" / "pool-batch"
    for task, tree in zip(tasks, trees, strict=True):
        worker = task["result"]["worker"].rpartition("/")[2]
        assert tree == root / worker
        branch = git(tree, "symbolic-ref", "--short", "HEAD").stdout.strip()
        assert branch == f"wzp/pool-batch/{worker}"
    [dirty] = [tree for tree in trees if (tree / "made.txt").exists()]
    [clean] = [tree for tree in trees if tree != dirty]
    clean_branch = f"refs/heads/wzp/pool-batch/{clean.name}"

    def both_released() -> bool:
        gone = git(repo, "show-ref", "--verify", clean_branch, check=False).returncode != 0
        kept = f"pool worktree {dirty} kept" in daemon_log(wzp_env)
        return not the_pool()["workers"] and not clean.exists() and gone and kept

    # a clean worker's worktree and branch go; a dirty one's stay (never lose work)
    wait_until(both_released, "the idle workers reaped and their worktrees released")
    assert (dirty / "made.txt").read_text() == "work\n"
    dirty_branch = f"refs/heads/wzp/pool-batch/{dirty.name}"
    assert git(repo, "show-ref", "--verify", dirty_branch, check=False).returncode == 0
    # the next daemon's workers take free numbers: the kept worktree is not reused
    wzp_env.wzp("down", check=True, timeout=60)
    wzp_env.wzp("up", check=True, timeout=60)
    again = hub("task.submit", prompt="again", pool="batch", wait=True, timeout=50)
    assert again["done"] and again["task"]["state"] == "done", again
    assert Path(again["task"]["result"]["worktree"]) != dirty
    assert not (Path(again["task"]["result"]["worktree"]) / "made.txt").exists()
    shown = wzp_env.wzp("task", "show", again["task"]["id"], check=True).stdout
    assert f"worktree:  {again['task']['result']['worktree']}" in shown
    prompts = wzp_env.root / "prompts.txt"
    prompts.write_text("mapped\n")
    mapped = wzp_env.wzp("task", "map", "--pool", "batch", str(prompts), timeout=120)
    assert mapped.returncode == 0, mapped.stderr
    [line] = [json.loads(text) for text in mapped.stdout.splitlines()]
    assert line["worktree"] and Path(line["worktree"]).parent == root


def test_worktrees_left_by_a_killed_daemon_are_released_by_the_next(
    wzp_env: WzpEnv, model_stub: ModelStub
) -> None:
    repo = make_repo(wzp_env.root / "repo")
    start_daemon(wzp_env, model_stub, min=2, max=2, worktree=True, cwd=str(repo))
    wait_until(
        lambda: [w["state"] for w in the_pool()["workers"]] == ["idle", "idle"],
        "two warm workers in their worktrees",
    )
    first = [Path(w["worktree"]) for w in the_pool()["workers"]]
    pids = [w["pid"] for w in the_pool()["workers"]]
    (first[0] / "notes.txt").write_text("unsaved work\n")  # one holds work, one does not
    kill_daemon(wzp_env)
    for pid in pids:  # a worker ends with its stdin once its daemon is gone
        wait_until(lambda pid=pid: not psutil.pid_exists(pid), f"worker {pid} gone")
    assert all(tree.is_dir() for tree in first)  # nobody released them

    wzp_env.wzp("up", check=True, timeout=60)
    clean_branch = f"refs/heads/wzp/pool-batch/{first[1].name}"

    def swept() -> bool:
        gone = git(repo, "show-ref", "--verify", clean_branch, check=False).returncode != 0
        return (
            not first[1].exists()
            and gone
            and f"pool worktree {first[0]} kept" in daemon_log(wzp_env)
        )

    wait_until(swept, "the clean leftover worktree and its branch removed, the other kept")
    assert (first[0] / "notes.txt").read_text() == "unsaved work\n"
    wait_until(lambda: len(the_pool()["workers"]) == 2, "two new workers")
    numbers = sorted(int(Path(w["worktree"]).name[1:]) for w in the_pool()["workers"])
    assert numbers[0] > max(int(tree.name[1:]) for tree in first), numbers


def test_a_worktree_pool_outside_a_repository_fails_its_tasks_naming_the_key(
    wzp_env: WzpEnv, model_stub: ModelStub
) -> None:
    plain = wzp_env.root / "plain"
    plain.mkdir()
    start_daemon(wzp_env, model_stub, min=0, max=1, worktree=True, cwd=str(plain))
    reply = hub("task.submit", prompt="x", pool="batch", wait=True, timeout=30)
    assert reply["done"] and reply["task"]["state"] == "failed"
    assert "pools.batch.worktree:" in reply["task"]["error"]
    assert "not inside a git repository" in reply["task"]["error"]
    assert hub("ping")["pid"] == wzp_env.daemon_pid()


def test_worktree_config_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config_text("framework: {}\npools:\n  b: {worktree: true}\n", "x.yaml")
    assert str(err.value).startswith("x.yaml:3: pools.b.worktree: worktree: true needs cwd")
    with pytest.raises(ConfigError) as err:
        parse_config_text("framework: {}\npools:\n  b: {worktree: 1, cwd: /}\n", "x.yaml")
    assert str(err.value).startswith("x.yaml:3: pools.b.worktree: must be true or false")
    config = parse_config_text(
        f"pools:\n  b:\n    cwd: {tmp_path}\n    worktree: true\n    command: [/bin/true]\n",
        "x.yaml",
    )
    shown = [str(w) for w in config_warnings(config, {"PATH": "/usr/bin"})]
    assert any(
        s.startswith("x.yaml:4: warning: pools.b.worktree: ") and "not inside a git" in s
        for s in shown
    ), shown
    make_repo(tmp_path / "r")
    inside = parse_config_text(
        f"pools:\n  b:\n    cwd: {tmp_path / 'r'}\n    worktree: true\n    command: [/bin/true]\n",
        "x.yaml",
    )
    assert not [w for w in config_warnings(inside, {"PATH": "/usr/bin"}) if "worktree" in w.key]
