"""Restart policies with crash-loop backoff: a pure state machine with an injected clock.

Circus restarts a dead process on every ``check_delay`` forever and has no backoff, so the
decision of whether and when to restart is made here (compare supervisord's ``startsecs`` and
FATAL state, systemd's ``Restart=`` and start limits).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

RestartPolicy = Literal["always", "on-failure", "never"]
Action = Literal["restart", "backoff", "exited", "fatal"]


@dataclass(frozen=True)
class RestartSettings:
    """When a dead process comes back: the policy and the crash-loop limits."""

    policy: RestartPolicy = "always"
    min_uptime: float = 10.0
    max_retries: int = 5
    backoff_max: float = 60.0


@dataclass(frozen=True)
class Decision:
    """What to do after an exit: restart now, after ``delay`` seconds, or leave it down."""

    action: Action
    delay: float = 0.0
    attempt: int = 0
    reason: str = ""


class RestartTracker:
    """Tracks one process's starts and exits and decides what follows each exit."""

    def __init__(
        self, settings: RestartSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self._clock = clock
        self.started_at: float | None = None
        self.quick_failures = 0

    def on_start(self, uptime: float = 0.0) -> None:
        """Record that the process was (re)started ``uptime`` seconds ago (default: now)."""
        self.started_at = self._clock() - uptime

    def reset(self) -> None:
        """Forget past crashes (an explicit ``wzp start`` or ``restart``)."""
        self.quick_failures = 0

    def on_exit(self, exit_code: int) -> Decision:
        """Decide what follows an exit; ``exit_code`` < 0 means killed by signal ``-exit_code``."""
        settings = self.settings
        uptime = 0.0 if self.started_at is None else self._clock() - self.started_at
        self.started_at = None
        failed = exit_code != 0
        if settings.policy == "never" or (settings.policy == "on-failure" and not failed):
            return Decision("exited", reason=describe_exit(exit_code))
        if uptime >= settings.min_uptime:
            self.quick_failures = 0
            return Decision("restart", attempt=1, reason=describe_exit(exit_code))
        self.quick_failures += 1
        if self.quick_failures >= settings.max_retries:
            return Decision(
                "fatal",
                attempt=self.quick_failures,
                reason=(
                    f"{describe_exit(exit_code)} {self.quick_failures} times in a row, "
                    f"each within {settings.min_uptime:g}s of starting"
                ),
            )
        delay = min(settings.backoff_max, 2.0 ** (self.quick_failures - 1))
        return Decision(
            "backoff", delay=delay, attempt=self.quick_failures + 1, reason=describe_exit(exit_code)
        )


def describe_exit(exit_code: int) -> str:
    """Human text for an exit status: ``exited (code 1)`` or ``killed by SIGKILL``."""
    if exit_code < 0:
        import signal

        try:
            name = signal.Signals(-exit_code).name
        except ValueError:
            name = f"signal {-exit_code}"
        return f"killed by {name}"
    return f"exited (code {exit_code})"
