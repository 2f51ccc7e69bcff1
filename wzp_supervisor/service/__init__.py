"""Running the daemon as a user service: systemd on Linux, launchd on macOS.

The package keeps the pure parts apart from the side effects:

- pure: this module (names, the stop timeout, the templates), :mod:`.systemd` and
  :mod:`.launchd` (``render``: parameters in, file content out), :mod:`.scope`;
- what the machine looks like: :mod:`.platform` (detection, the captured setup, file paths);
- side effects: :mod:`.runner` (every file change and command, printed instead under
  ``--dry-run``), :mod:`.manifest` (what an install did), :mod:`.registration` (``systemctl`` /
  ``launchctl``), and :mod:`.install`, which strings them together for ``wzp service``.

The unit and plist templates ship inside the package under ``units/`` (mapped from the
repository's top-level ``units/`` directory).
"""

from __future__ import annotations

import math
from importlib import resources

__all__ = [
    "LAUNCHD_LABEL",
    "MANAGED_MARKER",
    "SYSTEMD_UNIT",
    "ServiceError",
    "load_template",
    "stop_timeout_for",
]

#: Name of the systemd user unit.
SYSTEMD_UNIT = "wezterm-parallel.service"

#: launchd job label (reverse-DNS; also the plist's file name without ``.plist``).
LAUNCHD_LABEL = "io.github.wezterm-parallel.daemon"

#: First line of every file ``wzp service install`` writes (the plist uses a key instead).
MANAGED_MARKER = "# wzp-managed: wezterm-parallel"


class ServiceError(Exception):
    """An install step was refused or a command failed; the message is for the user."""


def stop_timeout_for(graceful_timeout: float) -> int:
    """Seconds the service manager waits for a stop before killing everything.

    The daemon stops its agents gracefully (SIGTERM, then SIGKILL after ``graceful_timeout``)
    and saves state; the manager must wait longer than that, with room to spare.
    """
    if not math.isfinite(graceful_timeout) or graceful_timeout < 0:
        raise ValueError(f"graceful timeout must be a non-negative number, not {graceful_timeout}")
    return max(30, math.ceil(graceful_timeout) + 20)


def load_template(name: str) -> str:
    """The text of a unit or plist template shipped in ``wzp_supervisor/units/``."""
    return resources.files("wzp_supervisor").joinpath("units", name).read_text(encoding="utf-8")
