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


# Started the way `wzp up` starts the daemon: stdout and stderr on daemon.out.
LOGGER = """
import logging, sys
from wzp_supervisor.daemon_logging import setup_logging
setup_logging("info", max_bytes=4000, backups=2, repeat_interval=3600)
log = logging.getLogger("wzp.test")
for i in range(2000):
    log.error("accept failed: Too many open files")
for i in range(400):
    log.info("distinct line %d", i)
print("done", flush=True)
"""


def test_daemon_out_rotates_and_repeated_lines_are_counted_not_written(wzp_env: WzpEnv) -> None:
    import subprocess
    import sys

    from tests.conftest import REPO
    from wzp_supervisor.daemon_logging import daemon_out_path, open_daemon_out

    with open_daemon_out() as sink:
        result = subprocess.run(
            [sys.executable, "-c", LOGGER],
            env=wzp_env.env,
            stdout=sink,
            stderr=sink,
            cwd=REPO,
            timeout=120,
        )
    assert result.returncode == 0
    out = daemon_out_path()
    assert out == wzp_env.state_dir / "logs" / "daemon.out"
    files = sorted(out.parent.glob("daemon.out*"))
    assert [f.name for f in files] == ["daemon.out", "daemon.out.1", "daemon.out.2"]
    for path in files:
        assert path.stat().st_size <= 4000 + 200, path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert "distinct line 399" in out.read_text()
    assert "done" in out.read_text()
    jsonl = sorted(out.parent.glob("daemon.jsonl*"))
    assert [f.name for f in jsonl] == ["daemon.jsonl", "daemon.jsonl.1", "daemon.jsonl.2"]
    assert all(f.stat().st_size <= 4000 + 200 for f in jsonl)
    # 2,000 identical errors in a burst: written once per log, not 2,000 times.
    every = "".join(p.read_text() for p in out.parent.glob("daemon.*"))
    assert every.count("accept failed") <= 2


def test_repeat_filter_counts_what_it_leaves_out() -> None:
    import logging

    from wzp_supervisor.daemon_logging import RepeatFilter

    now = [0.0]
    repeats = RepeatFilter(interval=60, clock=lambda: now[0])

    def record(msg: str, *args: object) -> logging.LogRecord:
        return logging.LogRecord("wzp.x", logging.ERROR, __file__, 1, msg, args, None)

    assert repeats.filter(record("boom %s", 1))
    assert not repeats.filter(record("boom %s", 1))
    assert repeats.filter(record("boom %s", 2))  # another text is another line
    first = record("boom %s", 1)
    assert repeats.filter(first) is False and repeats.filter(first) is False  # decided once
    now[0] = 61.0
    again = record("boom %s", 1)
    assert repeats.filter(again)
    assert again.getMessage() == "boom 1 [2 more like this in the last 61s]"
