"""The environment every benchmark runs wzp in: the caller's, minus its XDG_*/WZP_* variables,
with config, state and runtime dirs under one temp root. Standard library only."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def isolated_env(root: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with XDG dirs under ``root``
    (``c``, ``s``, ``r``; the runtime dir is created 0700) and NO_COLOR set."""
    env = {k: v for k, v in (base or os.environ).items() if not k.startswith(("XDG_", "WZP_"))}
    env.update(
        XDG_CONFIG_HOME=str(root / "c"),
        XDG_STATE_HOME=str(root / "s"),
        XDG_RUNTIME_DIR=str(root / "r"),
        NO_COLOR="1",
    )
    (root / "r").mkdir(mode=0o700, exist_ok=True)
    return env
