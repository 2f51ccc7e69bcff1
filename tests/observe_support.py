"""Helpers for the observe tests: pool configs, in-process hub requests, status.json."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from tests.conftest import WzpEnv
from tests.support import PY, pane_entry
from wzp_supervisor.cli.hub_client import HubClient

SLEEP = [PY, "-c", "import time; time.sleep(10000)"]
POSITIONS = ("top_left", "top_right", "bottom_left", "bottom_right")


def pane_yaml(name: str, position: str, argv: list[str], **opts: object) -> str:
    """One pane running ``argv``; option values are written as JSON (which is YAML)."""
    values = {key: json.dumps(value) for key, value in opts.items()}
    return pane_entry(json.dumps(name), position, json.dumps(argv), values)


def pool_config(
    panes: str | None = None,
    max_workspaces: int = 4,
    max_instances: int = 16,
    extra: str = "",
    template_extra: str = "",
) -> str:
    """A config with template ``t`` (four_pane_grid); default: four sleeping panes."""
    if panes is None:
        panes = "".join(pane_yaml(f"p{i + 1}", pos, SLEEP) for i, pos in enumerate(POSITIONS))
    return f"""
framework:
  max_workspaces: {max_workspaces}
processes:
  claude_code:
    max_instances: {max_instances}
{extra}
workspaces:
  default_template: t
  templates:
    t:
      layout: four_pane_grid
{template_extra}      panes:
{panes}
"""


def hub(kind: str, timeout: float | None = 60.0, **fields: Any) -> dict[str, Any]:
    """One hub request from the test process (its XDG variables point at the test's dirs)."""
    with HubClient(timeout=timeout) as client:
        return client.request(kind, **fields)


def create_workspace(env: WzpEnv, name: str) -> dict[str, Any]:
    return hub("workspace.create", timeout=120.0, name=name, dir=str(env.work))


def read_status(env: WzpEnv) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((env.runtime_dir / "status.json").read_bytes())
    return data


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def recorder(directory: Path, name: str, log: Path) -> Path:
    """An executable ``name`` that appends its arguments (one JSON list a line) to ``log``."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / name
    script.write_text(
        f"#!{PY}\nimport json, sys\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    script.chmod(0o755)
    return script


def recorded(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
