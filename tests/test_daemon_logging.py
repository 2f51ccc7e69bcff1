"""The daemon's logs: private files in a private state dir, bounded in size, no repeated floods."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.conftest import WzpEnv
from tests.test_daemon import SLEEP, config_with, pane, running_pid


def _modes(root: Path) -> dict[str, int]:
    """Relative path → permission bits, for root and everything under it (worktrees aside)."""
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "worktrees"]
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def test_everything_under_the_state_dir_is_private(wzp_env: WzpEnv) -> None:
    # What an older version (or `wzp up` under a 022 umask) left behind: world-readable logs.
    old = os.umask(0o022)
    try:
        logs = wzp_env.state_dir / "logs"
        (logs / "oldws").mkdir(parents=True)
        os.chmod(wzp_env.state_dir, 0o755)
        (logs / "daemon.out").write_text("old output\n")
        (logs / "daemon.jsonl.1").write_text("{}\n")
        (logs / "oldws" / "agent.log").write_text("secret scrollback\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((logs / "daemon.out").stat().st_mode) == 0o644

    wzp_env.write_config(config_with(pane("a1", "top_left", SLEEP)))
    wzp_env.wzp("up", check=True)
    wzp_env.wzp("workspace", "create", "demo", "--dir", str(wzp_env.work), check=True)
    running_pid(wzp_env, "demo/a1")
    wzp_env.wait_for(lambda: (logs / "demo" / "a1.log").exists(), what="the pane log")

    modes = _modes(wzp_env.state_dir)
    assert {"logs/daemon.out", "logs/daemon.jsonl", "logs/demo/a1.log"} <= set(modes)
    loose = {
        name: f"{mode:04o}"
        for name, mode in modes.items()
        if mode != (0o700 if (wzp_env.state_dir / name).is_dir() else 0o600)
    }
    assert loose == {}
