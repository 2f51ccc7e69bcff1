"""Per-agent git worktrees (issue #8): created on workspace create, protected and removed on
delete, shown by `wzp diff`; real daemon, real git."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.conftest import WzpEnv
from wzp_supervisor.git_worktrees import branch_name
from wzp_supervisor.worktrees import _relocate

PY = sys.executable
SLEEP = "import time; time.sleep(10000)"
# writes a file into its own working directory (its worktree), then sleeps
SCRIBBLE = "open('agent-note.txt', 'w').write('hello from the agent\\n'); " + SLEEP


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("project\n")
    (path / "sub").mkdir()
    (path / "sub" / "code.py").write_text("x = 1\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "initial")
    return path


def config(code_a1: str = SLEEP, code_a2: str = SLEEP, isolation: str = "worktree") -> str:
    return f"""
workspaces:
  default_template: iso
  templates:
    iso:
      layout: main_and_stack
      isolation: {isolation}
      panes:
        - name: a1
          position: left
          command: [{json.dumps(PY)}, '-c', {json.dumps(code_a1)}]
        - name: a2
          position: top_right
          command: [{json.dumps(PY)}, '-c', {json.dumps(code_a2)}]
        - name: mon
          position: bottom_right
          command: [top]
          supervised: false
"""


def agent_cwd(env: WzpEnv, target: str) -> str:
    """The working directory of the agent (the holder's child) of ``target``."""

    def find() -> str | None:
        proc = env.process(target)
        if proc["state"] != "running" or not proc["pid"]:
            return None
        children = psutil.Process(proc["pid"]).children()
        return children[0].cwd() if children else None

    cwd: str = env.wait_for(find, what=f"{target}'s agent running")
    return cwd


def worktrees_of(repo: Path) -> list[str]:
    out = git(repo, "worktree", "list", "--porcelain")
    return [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("worktree ")]


def has_branch(repo: Path, branch: str) -> bool:
    return bool(git(repo, "branch", "--list", branch).strip())


def test_one_worktree_per_agent_created_restored_and_removed(wzp_env: WzpEnv) -> None:
    repo = make_repo(wzp_env.root / "repo")
    wzp_env.write_config(config())
    wzp_env.wzp("up", check=True)
    wzp_env.wzp("workspace", "create", "demo", "--dir", str(repo / "sub"), check=True)

    trees = {pane: wzp_env.state_dir / "worktrees" / "demo" / pane for pane in ("a1", "a2")}
    for pane, tree in trees.items():
        # the workspace dir was repo/sub: the agent works in the same place of its worktree
        assert agent_cwd(wzp_env, f"demo/{pane}") == str(tree / "sub")
        assert (tree / "sub" / "code.py").read_text() == "x = 1\n"
        assert has_branch(repo, f"wzp/demo/{pane}")
        assert git(tree, "rev-parse", "--abbrev-ref", "HEAD").strip() == f"wzp/demo/{pane}"
    assert sorted(worktrees_of(repo)) == sorted([str(repo), *map(str, trees.values())])
    listing = {p["target"]: p for p in wzp_env.status()["processes"]}
    assert listing["demo/a1"]["worktree"] == str(trees["a1"])
    assert listing["demo/a1"]["branch"] == "wzp/demo/a1"

    # a daemon restart puts the agents back into their worktrees
    wzp_env.wzp("down", check=True)
    wzp_env.wzp("up", check=True)
    assert agent_cwd(wzp_env, "demo/a2") == str(trees["a2"] / "sub")

    wzp_env.wzp("workspace", "delete", "demo", check=True)
    assert worktrees_of(repo) == [str(repo)]
    assert not (wzp_env.state_dir / "worktrees" / "demo").exists()
    # branches are kept
    assert has_branch(repo, "wzp/demo/a1") and has_branch(repo, "wzp/demo/a2")


def test_dirty_worktree_is_protected_and_diff_shows_the_change(wzp_env: WzpEnv) -> None:
    repo = make_repo(wzp_env.root / "repo")
    wzp_env.write_config(config(code_a1=SCRIBBLE))
    wzp_env.wzp("up", check=True)
    wzp_env.wzp("workspace", "create", "demo", "--dir", str(repo), check=True)
    tree = wzp_env.state_dir / "worktrees" / "demo" / "a1"
    wzp_env.wait_for(lambda: (tree / "agent-note.txt").exists(), what="the agent's file")

    diff = wzp_env.wzp("diff", "demo/a1", check=True).stdout
    assert "agent-note.txt" in diff and "+hello from the agent" in diff
    stat = wzp_env.wzp("diff", "demo/a1", "--stat", check=True).stdout
    assert "agent-note.txt" in stat and "1 file changed, 1 insertion(+)" in stat
    assert wzp_env.wzp("diff", "demo/a2", check=True).stdout == ""
    assert wzp_env.wzp("diff", "demo/a2", "--stat", check=True).stdout == ""
    as_json = json.loads(wzp_env.wzp("diff", "demo/a1", "--json", check=True).stdout)
    assert as_json["base"] == git(repo, "rev-parse", "HEAD").strip()
    assert as_json["branch"] == "wzp/demo/a1"

    refused = wzp_env.wzp("workspace", "delete", "demo")
    assert refused.returncode == 1
    assert "uncommitted" in refused.stderr and "a1" in refused.stderr
    assert "--force" in refused.stderr
    assert tree.is_dir()
    assert wzp_env.process("demo/a1")["state"] == "running"  # nothing was stopped

    wzp_env.wzp("workspace", "delete", "demo", "--force", check=True)
    assert not tree.exists()
    assert worktrees_of(repo) == [str(repo)]
    assert has_branch(repo, "wzp/demo/a1")
    assert (repo / "README.md").exists() and not (repo / "agent-note.txt").exists()


def test_commits_found_on_no_other_branch_are_protected(wzp_env: WzpEnv) -> None:
    repo = make_repo(wzp_env.root / "repo")
    wzp_env.write_config(config())
    wzp_env.wzp("up", check=True)
    wzp_env.wzp("workspace", "create", "demo", "--dir", str(repo), check=True)
    tree = wzp_env.state_dir / "worktrees" / "demo" / "a2"
    (tree / "feature.txt").write_text("done\n")
    git(tree, "add", "feature.txt")
    git(tree, "commit", "-q", "-m", "agent work")

    diff = wzp_env.wzp("diff", "demo/a2", check=True).stdout
    assert "+done" in diff
    stat = wzp_env.wzp("diff", "demo/a2", "--stat", check=True).stdout
    assert "feature.txt" in stat and "1 insertion" in stat

    refused = wzp_env.wzp("workspace", "delete", "demo")
    assert refused.returncode == 1
    assert "1 commit(s) on wzp/demo/a2" in refused.stderr

    git(repo, "merge", "-q", "--ff-only", "wzp/demo/a2")  # the work is saved on main now
    wzp_env.wzp("workspace", "delete", "demo", check=True)
    assert not tree.exists()


def test_recreating_a_workspace_resumes_the_kept_branch(wzp_env: WzpEnv) -> None:
    repo = make_repo(wzp_env.root / "repo")
    wzp_env.write_config(config())
    wzp_env.wzp("up", check=True)
    wzp_env.wzp("workspace", "create", "demo", "--dir", str(repo), check=True)
    tree = wzp_env.state_dir / "worktrees" / "demo" / "a1"
    (tree / "wip.txt").write_text("wip\n")
    git(tree, "add", "wip.txt")
    git(tree, "commit", "-q", "-m", "wip")
    wzp_env.wzp("workspace", "delete", "demo", "--force", check=True)

    wzp_env.wzp("workspace", "create", "demo", "--dir", str(repo), check=True)
    assert (tree / "wip.txt").read_text() == "wip\n"
    assert "+wip" in wzp_env.wzp("diff", "demo/a1", check=True).stdout


def test_non_git_directory_is_a_clear_error(wzp_env: WzpEnv) -> None:
    plain = wzp_env.root / "plain"
    plain.mkdir()
    wzp_env.write_config(config())
    wzp_env.wzp("up", check=True)
    result = wzp_env.wzp("workspace", "create", "demo", "--dir", str(plain))
    assert result.returncode == 1
    assert "is not inside a git repository" in result.stderr
    assert "isolation: worktree" in result.stderr
    assert wzp_env.status()["processes"] == []
    assert not (wzp_env.state_dir / "worktrees" / "demo").exists()

    empty = make_empty_repo(wzp_env.root / "empty")
    result = wzp_env.wzp("workspace", "create", "demo", "--dir", str(empty))
    assert result.returncode == 1
    assert "has no commits yet" in result.stderr


def make_empty_repo(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "-q")
    return path


def test_diff_of_a_pane_without_worktree_says_why(wzp_env: WzpEnv) -> None:
    wzp_env.write_config(config(isolation="none"))
    wzp_env.wzp("up", check=True)
    wzp_env.wzp("workspace", "create", "demo", "--dir", str(wzp_env.work), check=True)
    result = wzp_env.wzp("diff", "demo/a1")
    assert result.returncode == 1
    assert "has no worktree" in result.stderr
    assert agent_cwd(wzp_env, "demo/a1") == str(wzp_env.work)


@pytest.mark.parametrize(
    ("cwd", "top", "expected"),
    [
        ("/r", "/r", "/w"),
        ("/r/sub/dir", "/r", "/w/sub/dir"),
        ("/elsewhere", "/r", "/elsewhere"),
    ],
)
def test_relocate_keeps_the_place_below_the_top(cwd: str, top: str, expected: str) -> None:
    assert _relocate(Path(cwd), Path(top), Path("/w")) == Path(expected)


def test_branch_name() -> None:
    assert branch_name("ws", "agent-1") == "wzp/ws/agent-1"


def test_a_failed_create_undoes_the_worktrees_it_made(wzp_env: WzpEnv) -> None:
    repo = make_repo(wzp_env.root / "repo")
    stray = wzp_env.state_dir / "worktrees" / "demo" / "a2"
    stray.mkdir(parents=True)
    (stray / "mine.txt").write_text("not a worktree\n")
    wzp_env.write_config(config())
    wzp_env.wzp("up", check=True)
    result = wzp_env.wzp("workspace", "create", "demo", "--dir", str(repo))
    assert result.returncode == 1
    assert f"{stray} exists and is not the worktree of wzp/demo/a2" in result.stderr
    assert worktrees_of(repo) == [str(repo)]  # a1's worktree was removed again
    assert (stray / "mine.txt").read_text() == "not a worktree\n"  # and the stray one kept
    assert wzp_env.status()["workspaces"] == []


def test_a_worktree_removed_while_the_daemon_was_down_comes_back(wzp_env: WzpEnv) -> None:
    repo = make_repo(wzp_env.root / "repo")
    wzp_env.write_config(config())
    wzp_env.wzp("up", check=True)
    wzp_env.wzp("workspace", "create", "demo", "--dir", str(repo), check=True)
    tree = wzp_env.state_dir / "worktrees" / "demo" / "a1"
    wzp_env.wzp("down", check=True)
    git(repo, "worktree", "remove", "--force", str(tree))
    assert not tree.exists()
    wzp_env.wzp("up", check=True)
    assert agent_cwd(wzp_env, "demo/a1") == str(tree)
    assert git(tree, "rev-parse", "--abbrev-ref", "HEAD").strip() == "wzp/demo/a1"


def test_configured_worktree_root(wzp_env: WzpEnv) -> None:
    repo = make_repo(wzp_env.root / "repo")
    root = wzp_env.root / "trees"
    wzp_env.write_config(
        config().replace("workspaces:\n", f"workspaces:\n  worktree_root: {root}\n", 1)
    )
    wzp_env.wzp("up", check=True)
    wzp_env.wzp("workspace", "create", "demo", "--dir", str(repo), check=True)
    assert agent_cwd(wzp_env, "demo/a1") == str(root / "demo" / "a1")
    assert not (wzp_env.state_dir / "worktrees" / "demo").exists()
    wzp_env.wzp("workspace", "delete", "demo", check=True)
    assert not (root / "demo").exists()
    assert has_branch(repo, "wzp/demo/a1")


def test_worktree_root_must_be_absolute(wzp_env: WzpEnv) -> None:
    path = wzp_env.write_config(
        config().replace("workspaces:\n", "workspaces:\n  worktree_root: rel/trees\n", 1)
    )
    result = wzp_env.wzp("config", "check")
    assert result.returncode == 1
    assert f"{path}:3: workspaces.worktree_root: must be an absolute path" in result.stderr
