"""`wzp doctor`: what a new user trips on, each with the fix, from real processes."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

from tests.claude_env import TEST_API_KEY, claude_binary
from tests.conftest import WzpEnv
from wzp_supervisor.cli.doctor import TESTED_CLAUDE


def fake_claude(directory: Path, version: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    program = directory / "claude"
    program.write_text(f"#!/bin/sh\necho '{version} (Claude Code)'\n")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return program


def doctor(env: WzpEnv, **extra: str) -> tuple[int, dict[str, dict[str, Any]]]:
    result = env.wzp("doctor", "--json", extra_env=extra)
    data = json.loads(result.stdout)
    assert data["ok"] == (result.returncode == 0), result.stderr
    return result.returncode, {c["name"]: c for c in data["checks"]}


def test_doctor_finds_no_key_and_says_how_to_give_one(wzp_env: WzpEnv) -> None:
    home = wzp_env.root / "home"
    home.mkdir()
    bin_dir = wzp_env.root / "bin"
    fake_claude(bin_dir, TESTED_CLAUDE)
    path = f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin"
    code, checks = doctor(wzp_env, HOME=str(home), PATH=path)
    assert code == 1
    assert checks["agent CLI"]["status"] == "ok"
    assert f"{TESTED_CLAUDE} (tested: {TESTED_CLAUDE})" in checks["agent CLI"]["detail"]
    assert checks["credentials"]["status"] == "fail"
    assert "export ANTHROPIC_API_KEY" in checks["credentials"]["fix"]
    assert checks["daemon"]["status"] == "warn" and checks["daemon"]["fix"] == "wzp up"
    assert checks["runtime dir"]["status"] == "ok"

    text = wzp_env.wzp("doctor", extra_env={"HOME": str(home), "PATH": path})
    assert text.returncode == 1
    assert "FAIL  credentials" in text.stdout and "fix: export ANTHROPIC_API_KEY" in text.stdout


def test_doctor_with_a_key_and_an_untested_cli(wzp_env: WzpEnv) -> None:
    bin_dir = wzp_env.root / "bin"
    fake_claude(bin_dir, "3.0.1")
    path = f"{bin_dir}:/usr/bin:/bin"
    code, checks = doctor(wzp_env, PATH=path, ANTHROPIC_API_KEY=TEST_API_KEY)
    assert code == 0
    assert checks["credentials"]["status"] == "ok"
    assert "ANTHROPIC_API_KEY" in checks["credentials"]["detail"]
    assert TEST_API_KEY not in json.dumps(checks)
    assert checks["agent CLI"]["status"] == "warn"
    assert f"3.0.1 (tested: {TESTED_CLAUDE})" in checks["agent CLI"]["detail"]


def test_doctor_reads_the_running_daemons_environment(wzp_env: WzpEnv) -> None:
    # the daemon was started without a key: a key exported later in the shell does not
    # reach the agents, and doctor says so
    wzp_env.write_config(
        f"processes:\n  claude_code:\n    command: [{json.dumps(str(claude_binary()))}]\n"
    )
    home = wzp_env.root / "home"
    home.mkdir()
    wzp_env.env["HOME"] = str(home)
    wzp_env.wzp("up", check=True)
    code, checks = doctor(wzp_env, ANTHROPIC_API_KEY=TEST_API_KEY)
    assert code == 1
    assert checks["daemon"]["status"] == "ok"
    assert checks["credentials"]["status"] == "fail"
    assert "the daemon's environment" in checks["credentials"]["detail"]
    assert TESTED_CLAUDE in checks["agent CLI"]["detail"]
    assert checks["status file"]["status"] == "ok"


def test_doctor_reports_a_login_in_the_claude_dir(wzp_env: WzpEnv) -> None:
    home = wzp_env.root / "home"
    (home / ".claude").mkdir(parents=True)
    (home / ".claude" / ".credentials.json").write_text("{}")
    os.chmod(home / ".claude" / ".credentials.json", 0o600)
    _, checks = doctor(wzp_env, HOME=str(home))
    assert checks["credentials"]["status"] == "ok"
    assert ".credentials.json" in checks["credentials"]["detail"]


def test_doctor_counts_a_key_the_config_gives_and_one_it_withholds(wzp_env: WzpEnv) -> None:
    home = wzp_env.root / "home"
    home.mkdir()
    wzp_env.write_config(
        "processes:\n  claude_code:\n    environment:\n      ANTHROPIC_API_KEY: ${MY_KEY}\n"
    )
    _, checks = doctor(wzp_env, HOME=str(home), MY_KEY=TEST_API_KEY)
    assert checks["credentials"]["status"] == "ok"
    assert "processes.claude_code.environment" in checks["credentials"]["detail"]
    wzp_env.write_config(
        "processes:\n  claude_code:\n    environment:\n      ANTHROPIC_API_KEY: ''\n"
    )
    _, checks = doctor(wzp_env, HOME=str(home), ANTHROPIC_API_KEY=TEST_API_KEY)
    assert checks["credentials"]["status"] == "fail"
