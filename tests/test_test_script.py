"""`scripts/test.sh` says why when an install fails: the installer's own output is shown."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO


def script(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(0o755)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A checkout with scripts/test.sh whose .venv is already there (pip succeeds)."""
    shutil.copytree(REPO / "scripts", tmp_path / "scripts")
    script(tmp_path / ".venv" / "bin" / "python", "exit 0\n")
    for tool in ("lua5.4", "busted", "systemd-analyze", "git", "setpriv", "node"):
        script(tmp_path / "fakebin" / tool, "exit 0\n")
    return tmp_path


def run(checkout: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(checkout / "scripts" / "test.sh")],
        env={"PATH": f"{checkout / 'fakebin'}:/usr/bin:/bin", "HOME": str(checkout)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_failed_npm_install_shows_npms_output(checkout: Path) -> None:
    script(
        checkout / "fakebin" / "npm",
        "echo 'npm error code E404' >&2\necho 'npm error 404 Not Found - GET claude-code' >&2\n"
        "exit 1\n",
    )
    result = run(checkout)
    assert result.returncode != 0
    assert "npm error 404 Not Found" in result.stderr
    assert "FAILED (exit 1): npm install" in result.stderr


def test_a_failed_pip_install_shows_pips_output(checkout: Path) -> None:
    script(
        checkout / ".venv" / "bin" / "python",
        'case "$*" in *"-e .[dev]"*) echo "ERROR: No matching distribution found for circus"'
        " >&2; exit 1;; esac\nexit 0\n",
    )
    result = run(checkout)
    assert result.returncode != 0
    assert "No matching distribution found for circus" in result.stderr
