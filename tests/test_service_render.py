"""The pure renderers: the systemd unit (checked by systemd-analyze) and the launchd plist."""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from wzp_supervisor.service import (
    LAUNCHD_LABEL,
    MANAGED_MARKER,
    launchd,
    load_template,
    stop_timeout_for,
    systemd,
)

SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
PYTHON = os.path.abspath(sys.executable)
WZP = os.path.join(os.path.dirname(PYTHON), "wzp")


def unit_settings(text: str) -> dict[str, dict[str, list[str]]]:
    """Section → key → values, ignoring comments (a tiny reader for assertions)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def verify(unit_text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    unit = tmp_path / "wezterm-parallel.service"
    unit.write_text(unit_text)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "SYSTEMD_LOG_COLOR": "0"}
    return subprocess.run(
        [SYSTEMD_ANALYZE, "--user", "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


def render_unit(tmp_path: Path, **overrides: Any) -> str:
    env_file = tmp_path / "service.env"
    env_file.write_text(systemd.render_env_file({"PATH": "/usr/bin:/bin"}))
    kwargs: dict[str, Any] = {
        "exec_start": [PYTHON, "-m", "wzp_supervisor", "daemon"],
        "exec_reload": [WZP, "reload", "--wait"],
        "environment_file": env_file,
        "graceful_timeout": 10.0,
    }
    kwargs.update(overrides)
    return systemd.render(**kwargs)


needs_systemd_analyze = pytest.mark.skipif(
    not os.access(SYSTEMD_ANALYZE, os.X_OK), reason="systemd-analyze not installed"
)


@needs_systemd_analyze
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    result = verify(render_unit(tmp_path), tmp_path)
    assert result.stderr == ""
    assert result.returncode == 0


@needs_systemd_analyze
def test_verify_is_a_real_check(tmp_path: Path) -> None:
    # The same check fails for an unknown key and for a program that does not exist.
    text = render_unit(tmp_path).replace("KillMode=mixed", "KillMode=mixed\nKillMod=mixed")
    assert "Unknown key" in verify(text, tmp_path).stderr
    missing = render_unit(tmp_path, exec_reload=[str(tmp_path / "nowhere" / "wzp"), "reload"])
    assert "not executable" in verify(missing, tmp_path).stderr


@needs_systemd_analyze
def test_awkward_paths_are_quoted_so_systemd_reads_them_back(tmp_path: Path) -> None:
    odd_dir = tmp_path / "my bin 100%"
    odd_dir.mkdir()
    odd_python = odd_dir / "python"
    odd_python.symlink_to(PYTHON)
    env_dir = tmp_path / "conf 50%"
    env_dir.mkdir()
    env_file = env_dir / "service.env"
    env_file.write_text("PATH=/bin\n")
    text = render_unit(
        tmp_path,
        exec_start=[str(odd_python), "-m", "wzp_supervisor", "daemon", "$HOME", 'a"b'],
        environment_file=env_file,
    )
    settings = unit_settings(text)["Service"]
    quoted_python = '"' + str(odd_python).replace("%", "%%") + '"'
    assert settings["ExecStart"] == [f'{quoted_python} -m wzp_supervisor daemon "$$HOME" "a\\"b"']
    assert settings["EnvironmentFile"] == [str(env_file).replace("%", "%%")]
    result = verify(text, tmp_path)
    assert result.stderr == ""


def test_unit_has_the_decided_settings(tmp_path: Path) -> None:
    text = render_unit(tmp_path, graceful_timeout=45.0, watchdog_sec=20)
    assert text.splitlines()[0] == MANAGED_MARKER
    assert systemd.is_managed(text)
    s = unit_settings(text)
    assert s["Unit"]["StartLimitIntervalSec"] == ["300"]
    assert s["Unit"]["StartLimitBurst"] == ["5"]
    service = s["Service"]
    expected = {
        "Type": ["notify"],
        "NotifyAccess": ["main"],
        "Restart": ["on-failure"],
        "RestartSec": ["5s"],
        "WatchdogSec": ["20s"],
        "KillMode": ["mixed"],
        "TimeoutStopSec": ["65s"],
        "ExecStart": [f"{PYTHON} -m wzp_supervisor daemon"],
        "ExecReload": [f"{WZP} reload --wait"],
        "EnvironmentFile": [str(tmp_path / "service.env")],
    }
    for key, value in expected.items():
        assert service[key] == value, key
    assert "StartLimitBurst" not in service
    assert s["Install"] == {"WantedBy": ["default.target"]}
    assert "@" not in text.replace(WZP, "").replace(PYTHON, "")


def test_stop_timeout_is_above_the_graceful_timeout() -> None:
    assert stop_timeout_for(0) == 30
    assert stop_timeout_for(10) == 30
    assert stop_timeout_for(10.5) == 31
    assert stop_timeout_for(120) == 140
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError):
            stop_timeout_for(bad)


def test_quote_exec_rules() -> None:
    assert systemd.quote_exec(["/bin/x", "a b", "100%", "$V", ""]) == (
        '/bin/x "a b" 100%% "$$V" ""'
    )
    assert systemd.quote_exec(["/bin/x", "back\\slash"]) == '/bin/x "back\\\\slash"'
    with pytest.raises(ValueError):
        systemd.quote_exec(["relative/python"])
    with pytest.raises(ValueError):
        systemd.quote_exec([])
    with pytest.raises(ValueError):
        systemd.quote_exec(["/bin/x", "two\nlines"])


def test_env_file_quoting() -> None:
    text = systemd.render_env_file({"PATH": "/a b:/c$d:/e\\f", "X": "it's"})
    lines = text.splitlines()
    assert systemd.is_managed(text)
    assert "PATH='/a b:/c$d:/e\\f'" in lines
    assert 'X="it\'s"' in lines
    assert systemd.render_env_file({"Y": "it's $x"}).splitlines()[-1] == 'Y="it\'s \\$x"'
    with pytest.raises(ValueError):
        systemd.render_env_file({"BAD NAME": "x"})
    with pytest.raises(ValueError):
        systemd.render_env_file({"PATH": "a\nb"})
    assert not systemd.is_managed("[Unit]\nDescription=someone else's\n")


def test_templates_are_package_data() -> None:
    assert "@EXEC_START@" in load_template("wezterm-parallel.service.in")
    template = plistlib.loads(load_template("wezterm-parallel.plist.in").encode())
    assert template["Label"] == "@LABEL@"
    assert template[launchd.MANAGED_KEY] == launchd.MANAGED_VALUE


# --------------------------------------------------------------------------- launchd


def render_plist(**overrides: Any) -> bytes:
    kwargs: dict[str, Any] = {
        "program_arguments": [PYTHON, "-m", "wzp_supervisor", "daemon"],
        "environment": {"PATH": "/opt/homebrew/bin:/usr/bin:/bin"},
        "log_dir": "/Users/me/Library/Logs/wezterm-parallel",
        "graceful_timeout": 10.0,
    }
    kwargs.update(overrides)
    return launchd.render(**kwargs)


def test_plist_round_trips_and_follows_the_rules() -> None:
    data = render_plist()
    job = plistlib.loads(data)
    assert plistlib.dumps(job, sort_keys=False) == data
    assert launchd.check_plist_rules(job) == []
    assert launchd.is_managed(job)
    assert job == {
        "Label": LAUNCHD_LABEL,
        "WzpManaged": "wezterm-parallel",
        "ProgramArguments": [PYTHON, "-m", "wzp_supervisor", "daemon"],
        "EnvironmentVariables": {"PATH": "/opt/homebrew/bin:/usr/bin:/bin"},
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False, "Crashed": True},
        "ThrottleInterval": 5,
        "ExitTimeOut": 30,
        "ProcessType": "Standard",
        "AbandonProcessGroup": True,
        "StandardOutPath": "/Users/me/Library/Logs/wezterm-parallel/daemon.out.log",
        "StandardErrorPath": "/Users/me/Library/Logs/wezterm-parallel/daemon.err.log",
    }
    assert b"<integer>30</integer>" in data


def test_plist_escapes_xml_in_values() -> None:
    job = plistlib.loads(render_plist(environment={"PATH": "/a<b>&c:/bin"}))
    assert job["EnvironmentVariables"]["PATH"] == "/a<b>&c:/bin"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"Label": "nodots"}, "Label"),
        ({"ProgramArguments": []}, "ProgramArguments must be a non-empty"),
        ({"ProgramArguments": ["python", "-m"]}, "absolute"),
        ({"ProgramArguments": ["/bin/x", 3]}, "strings only"),
        ({"ThrottleInterval": True}, "ThrottleInterval has type bool"),
        ({"ExitTimeOut": "30"}, "ExitTimeOut has type str"),
        ({"ExitTimeOut": -1}, "negative"),
        ({"RunAtLoad": 1}, "RunAtLoad has type int"),
        ({"AbandonProcessGroup": "yes"}, "AbandonProcessGroup has type str"),
        ({"KeepAlive": {"SuccessfulExit": "no"}}, "KeepAlive.SuccessfulExit"),
        ({"KeepAlive": {"Sometimes": True}}, "unknown condition"),
        ({"ProcessType": "Realtime"}, "ProcessType"),
        ({"StandardOutPath": "~/Library/Logs/x.log"}, "does not expand ~"),
        ({"EnvironmentVariables": {"HOME": "/x"}}, "must set PATH"),
        ({"EnvironmentVariables": {"PATH": "/bin", "ANTHROPIC_API_KEY": "s"}}, "secret"),
        ({"Lable": "typo"}, "unknown key 'Lable'"),
        ({"WorkingDirectory": "@WORKDIR@"}, "unfilled placeholder"),
    ],
)
def test_plist_rules_catch_mistakes(change: dict[str, Any], problem: str) -> None:
    job = plistlib.loads(render_plist())
    job.update(change)
    problems = launchd.check_plist_rules(job)
    assert any(problem in p for p in problems), problems


def test_render_refuses_a_job_that_breaks_the_rules() -> None:
    with pytest.raises(ValueError, match="absolute"):
        render_plist(program_arguments=["python"])
    with pytest.raises(ValueError, match="secret"):
        render_plist(environment={"PATH": "/bin", "GITHUB_TOKEN": "x"})


@needs_systemd_analyze
def test_the_installed_unit_reloads_by_replacing_the_daemon_and_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wzp_supervisor.service.install import planned_files
    from wzp_supervisor.service.platform import Setup

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    setup = Setup.detect(platform="linux", graceful_timeout=10.0)
    files = dict(planned_files(setup))
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    unit = next(content for path, content in files.items() if path.suffix == ".service")
    service = unit_settings(unit.decode())["Service"]
    assert service["ExecReload"] == [f"{WZP} daemon restart"]
    assert service["KillMode"] == ["mixed"]
    result = verify(unit.decode(), tmp_path)
    assert result.stderr == ""
    assert result.returncode == 0
