"""Running the daemon as a user service: systemd on Linux, launchd on macOS.

``systemd.render`` and ``launchd.render`` are pure: parameters in, file content out, from the
templates shipped in ``wzp_supervisor/data/units/``. ``install`` does the side effects (write
files, run ``systemctl``/``launchctl``), all through one runner so ``--dry-run`` can print them.
"""

from __future__ import annotations

import math
from importlib import resources

__all__ = [
    "LAUNCHD_LABEL",
    "MANAGED_MARKER",
    "SYSTEMD_UNIT",
    "load_template",
    "stop_timeout_for",
]

#: Name of the systemd user unit.
SYSTEMD_UNIT = "wezterm-parallel.service"

#: launchd job label (reverse-DNS; also the plist's file name without ``.plist``).
LAUNCHD_LABEL = "io.github.wezterm-parallel.daemon"

#: First line of every file ``wzp service install`` writes (the plist uses a key instead).
MANAGED_MARKER = "# wzp-managed: wezterm-parallel"


def stop_timeout_for(graceful_timeout: float) -> int:
    """Seconds the service manager waits for a stop before killing everything.

    The daemon stops its agents gracefully (SIGTERM, then SIGKILL after ``graceful_timeout``)
    and saves state; the manager must wait longer than that, with room to spare.
    """
    if not math.isfinite(graceful_timeout) or graceful_timeout < 0:
        raise ValueError(f"graceful timeout must be a non-negative number, not {graceful_timeout}")
    return max(30, math.ceil(graceful_timeout) + 20)


def load_template(name: str) -> str:
    """The text of a template in ``wzp_supervisor/data/units/``."""
    return (
        resources.files("wzp_supervisor")
        .joinpath("data", "units", name)
        .read_text(encoding="utf-8")
    )
