"""`wzp service install|uninstall|status|logs` against a temp HOME.

systemctl, loginctl, journalctl, launchctl and tail are replaced by recording executables placed
first on PATH: they log their argv and answer as configured through FAKE_* variables. Nothing
here talks to a real service manager.
"""

from __future__ import annotations

import json
import os
import plistlib
import pwd
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from wzp_supervisor.cli import service_cmds
from wzp_supervisor.service import LAUNCHD_LABEL, launchd, systemd

FAKE = """#!{python}
import json, os, sys
name = os.path.basename(sys.argv[0])
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps([name, *args]) + "\\n")
if name == "loginctl":
    print("Linger=" + os.environ.get("FAKE_LINGER", "no"))
if name == "launchctl" and args[:1] == ["print"]:
    sys.exit(int(os.environ.get("FAKE_LAUNCHCTL_PRINT_RC", "113")))
if name == "systemctl" and "status" in args:
    sys.exit(int(os.environ.get("FAKE_SYSTEMCTL_STATUS_RC", "0")))
if name == "systemctl" and os.environ.get("FAKE_FAIL") in args:
    sys.stderr.write("Failed to do it\\n")
    sys.exit(1)
"""

TOOLS = ("systemctl", "loginctl", "journalctl", "launchctl", "tail")
UNIT = "wezterm-parallel.service"
USER = pwd.getpwuid(os.getuid()).pw_name
UID = os.getuid()


@dataclass
class Env:
    home: Path
    config: Path
    state: Path
    log: Path

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        calls = [json.loads(line) for line in self.log.read_text().splitlines()]
        self.log.unlink()
        return calls

    @property
    def unit(self) -> Path:
        return self.config / "systemd" / "user" / UNIT

    @property
    def env_file(self) -> Path:
        return self.config / "wezterm-parallel" / "service.env"

    @property
    def plist(self) -> Path:
        return self.home / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"

    @property
    def manifest(self) -> Path:
        return self.state / "wezterm-parallel" / "service-manifest.json"

    def snapshot(self) -> dict[str, tuple[bytes, int]]:
        """Every file and directory under HOME and XDG_CONFIG_HOME, with content and mtime."""
        return {
            str(p): (p.read_bytes() if p.is_file() else b"", p.stat().st_mtime_ns)
            for root in (self.home, self.config)
            for p in sorted(root.rglob("*"))
        }


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    home = tmp_path / "home"
    config = tmp_path / "xdg-config"  # outside HOME: proves XDG_CONFIG_HOME is respected
    state = home / ".local" / "state"
    home.mkdir()
    fakebin = tmp_path / "fakebin"
    fakebin.mkdir()
    for tool in TOOLS:
        script = fakebin / tool
        script.write_text(FAKE.format(python=sys.executable))
        script.chmod(0o755)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("PATH", f"{fakebin}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.delenv("WZP_SERVICE_PLATFORM", raising=False)
    for name in ("FAKE_LINGER", "FAKE_LAUNCHCTL_PRINT_RC", "FAKE_SYSTEMCTL_STATUS_RC"):
        monkeypatch.delenv(name, raising=False)
    return Env(home=home, config=config, state=state, log=log)


def wzp(*args: str, platform: str = "linux") -> Result:
    @click.group()
    def root() -> None:
        pass

    service_cmds.register(root)
    return CliRunner().invoke(root, ["service", "--platform", platform, *args])


# --------------------------------------------------------------------------- linux


def test_linux_install_writes_unit_and_env_and_enables(env: Env) -> None:
    result = wzp("install")
    assert result.exit_code == 0, result.output
    assert env.calls() == [
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "enable", UNIT],
        ["loginctl", "show-user", USER, "--property=Linger"],
    ]
    unit = env.unit.read_text()
    assert systemd.is_managed(unit)
    python = os.path.abspath(sys.executable)
    assert f"ExecStart={python} -m wzp_supervisor daemon\n" in unit
    assert f"ExecReload={os.path.join(os.path.dirname(python), 'wzp')} daemon restart\n" in unit
    assert f"EnvironmentFile={env.env_file}\n" in unit
    path_line = env.env_file.read_text().splitlines()[-1]
    assert path_line.startswith("PATH='") and path_line.endswith("'")
    entries = path_line[len("PATH='") : -1].split(os.pathsep)
    assert str(env.log.parent / "fakebin") in entries
    assert os.path.dirname(python) in entries  # so agents' hooks find this very wzp
    assert f"loginctl enable-linger {USER}" in result.output
    manifest = json.loads(env.manifest.read_text())
    assert manifest["platform"] == "linux"
    assert manifest["enabled"] is True
    assert [f["path"] for f in manifest["files"]] == [str(env.unit), str(env.env_file)]


def test_linux_install_now_when_lingering(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_LINGER", "yes")
    result = wzp("install", "--now")
    assert result.exit_code == 0, result.output
    assert env.calls() == [
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "try-restart", UNIT],
        ["systemctl", "--user", "enable", "--now", UNIT],
        ["loginctl", "show-user", USER, "--property=Linger"],
    ]
    assert "enable-linger" not in result.output


def test_linux_install_is_idempotent(env: Env) -> None:
    assert wzp("install").exit_code == 0
    env.calls()
    before = env.snapshot()
    result = wzp("install", "--now")
    assert result.exit_code == 0, result.output
    assert "already installed" in result.output
    # No rewrite, no daemon-reload, no restart: only the idempotent enable.
    assert env.calls() == [
        ["systemctl", "--user", "enable", "--now", UNIT],
        ["loginctl", "show-user", USER, "--property=Linger"],
    ]
    after = env.snapshot()
    for path in (env.unit, env.env_file):
        assert after[str(path)] == before[str(path)]


def test_linux_install_updates_its_own_changed_unit(env: Env) -> None:
    assert wzp("install").exit_code == 0
    env.unit.write_text(env.unit.read_text().replace("WatchdogSec=30s", "WatchdogSec=99s"))
    env.calls()
    result = wzp("install")
    assert result.exit_code == 0, result.output
    assert "WatchdogSec=30s" in env.unit.read_text()
    assert env.calls()[0] == ["systemctl", "--user", "daemon-reload"]


def test_linux_install_refuses_a_foreign_unit(env: Env) -> None:
    env.unit.parent.mkdir(parents=True)
    foreign = "[Service]\nExecStart=/usr/bin/true\n"
    env.unit.write_text(foreign)
    result = wzp("install")
    assert result.exit_code == 1
    assert "refusing to overwrite" in result.output
    assert str(env.unit) in result.output
    assert env.unit.read_text() == foreign
    assert not env.env_file.exists()
    assert not env.manifest.exists()
    assert env.calls() == []


def test_force_replaces_and_uninstall_restores_a_foreign_unit(env: Env) -> None:
    env.unit.parent.mkdir(parents=True)
    foreign = "[Service]\nExecStart=/usr/bin/true\n"
    env.unit.write_text(foreign)
    result = wzp("install", "--force")
    assert result.exit_code == 0, result.output
    assert systemd.is_managed(env.unit.read_text())
    backup = env.state / "wezterm-parallel" / "service-backup" / UNIT
    assert backup.read_text() == foreign
    # A later plain install keeps the backup on record.
    assert wzp("install").exit_code == 0
    env.calls()
    result = wzp("uninstall")
    assert result.exit_code == 0, result.output
    assert env.unit.read_text() == foreign
    assert not backup.exists()
    assert not env.env_file.exists()


def test_linux_dry_run_changes_nothing(env: Env) -> None:
    result = wzp("install", "--now", "--dry-run")
    assert result.exit_code == 0, result.output
    assert env.calls() == []
    assert env.snapshot() == {}
    assert not env.config.exists()
    out = result.output
    assert f"would write {env.unit}:" in out
    assert "    Type=notify" in out
    assert f"would write {env.env_file}:" in out
    for command in (
        "systemctl --user daemon-reload",
        f"systemctl --user enable --now {UNIT}",
        f"loginctl show-user {USER} --property=Linger",
    ):
        assert f"would run: {command}" in out
    # After a real install, a dry-run uninstall changes nothing either.
    assert wzp("install").exit_code == 0
    env.calls()
    before = env.snapshot()
    result = wzp("uninstall", "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"would run: systemctl --user disable --now {UNIT}" in result.output
    assert f"would remove {env.unit}" in result.output
    assert env.calls() == []
    assert env.snapshot() == before


def test_linux_uninstall_reverses_install(env: Env) -> None:
    assert wzp("install", "--now").exit_code == 0
    env.calls()
    result = wzp("uninstall")
    assert result.exit_code == 0, result.output
    assert env.calls() == [
        ["systemctl", "--user", "disable", "--now", UNIT],
        ["systemctl", "--user", "daemon-reload"],
    ]
    assert not env.unit.exists()
    assert not env.env_file.exists()
    assert not env.manifest.exists()
    again = wzp("uninstall")
    assert again.exit_code == 0
    assert "not installed" in again.output
    assert env.calls() == []


def test_uninstall_without_manifest_removes_only_marked_files(env: Env) -> None:
    assert wzp("install").exit_code == 0
    env.manifest.unlink()
    env.env_file.write_text("PATH=/mine\n")  # the user's own now: left alone
    env.calls()
    result = wzp("uninstall")
    assert result.exit_code == 0, result.output
    assert not env.unit.exists()
    assert env.env_file.read_text() == "PATH=/mine\n"
    assert env.calls() == [
        ["systemctl", "--user", "disable", "--now", UNIT],
        ["systemctl", "--user", "daemon-reload"],
    ]


def test_failed_command_leaves_an_uninstallable_record(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_FAIL", "enable")
    result = wzp("install")
    assert result.exit_code == 1
    assert "systemctl --user enable wezterm-parallel.service` failed" in result.output
    assert env.unit.exists()
    assert env.manifest.exists()
    monkeypatch.delenv("FAKE_FAIL")
    env.calls()
    assert wzp("uninstall").exit_code == 0
    assert not env.unit.exists()
    assert not env.env_file.exists()


def test_linux_status_and_logs(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    result = wzp("status")
    assert result.exit_code == 0
    assert env.calls() == [["systemctl", "--user", "status", "--no-pager", UNIT]]
    monkeypatch.setenv("FAKE_SYSTEMCTL_STATUS_RC", "3")
    assert wzp("status").exit_code == 3
    monkeypatch.setenv("FAKE_SYSTEMCTL_STATUS_RC", "4")
    assert wzp("status").exit_code == 1
    env.calls()
    assert wzp("logs").exit_code == 0
    assert wzp("logs", "-f", "-n", "20").exit_code == 0
    assert env.calls() == [
        ["journalctl", "--user", "-u", UNIT, "-n", "100", "--no-pager"],
        ["journalctl", "--user", "-u", UNIT, "-n", "20", "--no-pager", "-f"],
    ]


# --------------------------------------------------------------------------- macos


def test_macos_install_now_bootstraps_and_kickstarts(env: Env) -> None:
    result = wzp("install", "--now", platform="macos")
    assert result.exit_code == 0, result.output
    assert env.calls() == [
        ["launchctl", "bootout", f"gui/{UID}/{LAUNCHD_LABEL}"],
        ["launchctl", "bootstrap", f"gui/{UID}", str(env.plist)],
        ["launchctl", "kickstart", f"gui/{UID}/{LAUNCHD_LABEL}"],
    ]
    job = plistlib.loads(env.plist.read_bytes())
    assert launchd.check_plist_rules(job) == []
    assert launchd.is_managed(job)
    assert job["ProgramArguments"] == [
        os.path.abspath(sys.executable),
        "-m",
        "wzp_supervisor",
        "daemon",
    ]
    log_dir = env.home / "Library" / "Logs" / "wezterm-parallel"
    assert log_dir.is_dir()
    assert job["StandardErrorPath"] == str(log_dir / "daemon.err.log")
    assert os.environ["PATH"].split(os.pathsep)[0] in job["EnvironmentVariables"]["PATH"]
    assert not env.config.exists()  # nothing systemd-ish on macOS


def test_macos_reinstall_only_loads_what_is_not_loaded(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert wzp("install", platform="macos").exit_code == 0
    assert env.calls() == []  # without --now launchd picks it up at the next login
    monkeypatch.setenv("FAKE_LAUNCHCTL_PRINT_RC", "0")  # loaded already
    result = wzp("install", "--now", platform="macos")
    assert "already installed" in result.output
    assert env.calls() == [
        ["launchctl", "print", f"gui/{UID}/{LAUNCHD_LABEL}"],
        ["launchctl", "kickstart", f"gui/{UID}/{LAUNCHD_LABEL}"],
    ]
    monkeypatch.setenv("FAKE_LAUNCHCTL_PRINT_RC", "113")  # not loaded
    assert wzp("install", "--now", platform="macos").exit_code == 0
    assert env.calls() == [
        ["launchctl", "print", f"gui/{UID}/{LAUNCHD_LABEL}"],
        ["launchctl", "bootstrap", f"gui/{UID}", str(env.plist)],
        ["launchctl", "kickstart", f"gui/{UID}/{LAUNCHD_LABEL}"],
    ]


def test_macos_refuses_foreign_plist_and_dry_run_changes_nothing(env: Env) -> None:
    env.plist.parent.mkdir(parents=True)
    foreign = plistlib.dumps({"Label": LAUNCHD_LABEL, "ProgramArguments": ["/bin/sh"]})
    env.plist.write_bytes(foreign)
    before = env.snapshot()
    assert wzp("install", "--now", platform="macos").exit_code == 1
    result = wzp("install", "--now", "--dry-run", "--force", platform="macos")
    assert result.exit_code == 0, result.output
    assert f"would move {env.plist}" in result.output
    assert "would run: launchctl bootstrap" in result.output
    assert env.snapshot() == before
    assert env.calls() == []


def test_macos_uninstall_status_logs(env: Env) -> None:
    assert wzp("install", "--now", platform="macos").exit_code == 0
    env.calls()
    log_dir = env.home / "Library" / "Logs" / "wezterm-parallel"
    (log_dir / "daemon.err.log").write_text("boom\n")
    assert wzp("status", platform="macos").exit_code == 3
    assert wzp("logs", "-n", "5", platform="macos").exit_code == 0
    assert env.calls() == [
        ["launchctl", "print", f"gui/{UID}/{LAUNCHD_LABEL}"],
        ["tail", "-n", "5", str(log_dir / "daemon.out.log"), str(log_dir / "daemon.err.log")],
    ]
    result = wzp("uninstall", platform="macos")
    assert result.exit_code == 0, result.output
    assert env.calls() == [["launchctl", "bootout", f"gui/{UID}/{LAUNCHD_LABEL}"]]
    assert not env.plist.exists()
    assert (log_dir / "daemon.err.log").exists()  # logs are kept
    assert not env.manifest.exists()


def test_macos_logs_without_files(env: Env) -> None:
    result = wzp("logs", platform="macos")
    assert result.exit_code == 1
    assert "no service logs yet" in result.output
    assert env.calls() == []


def test_platform_from_environment(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WZP_SERVICE_PLATFORM", "macos")

    @click.group()
    def root() -> None:
        pass

    service_cmds.register(root)
    result = CliRunner().invoke(root, ["service", "install", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"would write {env.plist}:" in result.output


def test_stop_timeout_follows_the_configured_agent_timeout(env: Env) -> None:
    config = env.config / "wezterm-parallel" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("processes:\n  claude_code:\n    timeout: 45\n")
    result = wzp("install")
    assert result.exit_code == 0, result.output
    assert "TimeoutStopSec=65s\n" in env.unit.read_text()
    # A broken config does not block the install: the default is used, with a note.
    config.write_text("processes: [unclosed\n")
    env.calls()
    result = wzp("install", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "could not read the config" in result.output
    assert "    TimeoutStopSec=30s" in result.output
