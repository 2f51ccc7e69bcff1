"""The wheel carries the built-in config, the specification's example and the unit templates,
and works without the repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from tests.conftest import REPO


def test_the_wheel_runs_config_show_with_the_built_in_config(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in (
        "wzp_supervisor/defaults/config.yaml",
        "wzp_supervisor/defaults/examples/spec.yaml",
        "wzp_supervisor/units/wezterm-parallel.service.in",
        "wzp_supervisor/units/wezterm-parallel.plist.in",
    ):
        assert shipped in names, shipped
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    target = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    # the dependencies from this environment's site-packages (a plain directory on
    # PYTHONPATH: its .pth files, among them the editable install of the repository, are
    # not read), the package itself only from the wheel
    deps = sysconfig.get_paths()["purelib"]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": deps,
        "XDG_CONFIG_HOME": str(tmp_path / "c"),
        "XDG_STATE_HOME": str(tmp_path / "s"),
        "XDG_RUNTIME_DIR": str(tmp_path / "r"),
        "HOME": str(tmp_path),
    }
    python = venv / "bin" / "python"
    where = subprocess.run(
        [str(python), "-c", "import wzp_supervisor; print(wzp_supervisor.__file__)"],
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(target)), where.stdout
    shown = subprocess.run(
        [str(python), "-m", "wzp_supervisor", "config", "show", "--format", "json"],
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    config = json.loads(shown.stdout)
    assert config["workspaces"]["default_template"] == "default"
    assert set(config["workspaces"]["templates"]) >= {"default", "web_dev"}
    example = target / "wzp_supervisor" / "defaults" / "examples" / "spec.yaml"
    checked = subprocess.run(
        [str(python), "-m", "wzp_supervisor", "config", "check", str(example)],
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr
