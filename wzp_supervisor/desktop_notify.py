"""Desktop notifications when an agent starts waiting for input or goes fatal.

The command is ``notifications.command`` from the config when set (its arguments may use
``{title}``, ``{body}``, ``{target}``, ``{state}``, ``{reason}`` and ``{message}``; without any
placeholder the title and body are appended), else ``notify-send`` on Linux or ``osascript`` on
macOS when present. Notifications are rate limited per agent (``notifications.min_interval``)
and overall (a burst of at most ``BURST`` per interval; the next one says how many were held
back). The command runs as an asyncio subprocess: the loop never waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from wzp_supervisor.config import NotificationsConfig

log = logging.getLogger(__name__)

TITLE = "wezterm-parallel"
BURST = 5
COMMAND_TIMEOUT = 10.0
PLACEHOLDERS = ("{title}", "{body}", "{target}", "{state}", "{reason}", "{message}")


@dataclass(frozen=True)
class Alert:
    """What a notification is about."""

    target: str
    state: str  # waiting_input | stalled | error | fatal
    reason: str | None = None
    message: str | None = None

    @property
    def body(self) -> str:
        if self.state == "fatal":
            return f"{self.target} failed: {self.reason or 'gave up restarting'}"
        if self.state == "stalled":
            return f"{self.target} is stalled: {self.reason or 'no sign of life'}"
        if self.state == "error":
            return f"{self.target} hit an API error: {self.message or self.reason or 'unknown'}"
        text = f"{self.target} is waiting"
        if self.reason:
            text += f" ({self.reason})"
        if self.message:
            text += f": {self.message}"
        return text


def _applescript_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def default_command(
    platform: str = sys.platform, which: Callable[[str], str | None] = shutil.which
) -> tuple[str, ...] | None:
    """The platform's notifier (argv prefix, title and body are added), None when absent."""
    if platform == "darwin":
        return ("osascript",) if which("osascript") else None
    notify_send = which("notify-send")
    return (notify_send, "--app-name", TITLE) if notify_send else None


def build_argv(
    alert: Alert,
    title: str,
    body: str,
    command: Sequence[str] | None,
    platform: str = sys.platform,
    which: Callable[[str], str | None] = shutil.which,
) -> list[str] | None:
    """The argv that shows ``alert`` (None: no way to notify here)."""
    if command:
        values = {
            "{title}": title,
            "{body}": body,
            "{target}": alert.target,
            "{state}": alert.state,
            "{reason}": alert.reason or "",
            "{message}": alert.message or "",
        }
        if any(p in arg for arg in command for p in PLACEHOLDERS):
            out = []
            for arg in command:
                for key, value in values.items():
                    arg = arg.replace(key, value)
                out.append(arg)
            return out
        return [*command, title, body]
    base = default_command(platform, which)
    if base is None:
        return None
    if base[0] == "osascript":
        script = f"display notification {_applescript_string(body)} with title " + (
            _applescript_string(title)
        )
        return ["osascript", "-e", script]
    return [*base, title, body]


class Notifier:
    """Rate-limited notifications through an external command."""

    def __init__(
        self,
        config: NotificationsConfig,
        clock: Callable[[], float] = time.monotonic,
        platform: str = sys.platform,
        which: Callable[[str], str | None] = shutil.which,
    ) -> None:
        self.config = config
        self.clock = clock
        self.platform = platform
        self.which = which
        self.sent = 0
        self.held_back = 0
        self._last: dict[str, float] = {}
        self._recent: deque[float] = deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self._warned = False

    def allow(self, alert: Alert) -> bool:
        """Whether the rate limits let ``alert`` through now (records it when they do)."""
        interval = self.config.min_interval
        now = self.clock()
        if interval > 0:
            last = self._last.get(alert.target)
            if last is not None and now - last < interval:
                return False
            while self._recent and now - self._recent[0] >= interval:
                self._recent.popleft()
            if len(self._recent) >= BURST:
                self.held_back += 1
                return False
            self._recent.append(now)
        self._last[alert.target] = now
        return True

    def notify(self, alert: Alert) -> list[str] | None:
        """Show ``alert`` unless disabled or rate limited; returns the argv started."""
        if not self.config.enabled or not self.allow(alert):
            return None
        body = alert.body
        if self.held_back:
            body += f" (+{self.held_back} more)"
            self.held_back = 0
        argv = build_argv(alert, TITLE, body, self.config.command, self.platform, self.which)
        if argv is None:
            if not self._warned:
                log.info(
                    "no desktop notifier found (notify-send/osascript); set notifications.command"
                )
                self._warned = True
            return None
        task = asyncio.ensure_future(self._run(argv))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.sent += 1
        return argv

    async def _run(self, argv: list[str]) -> None:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            log.warning("notification command %s failed to start: %s", argv[0], exc)
            return
        try:
            _out, err = await asyncio.wait_for(proc.communicate(), COMMAND_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            log.warning("notification command %s took too long; killed it", argv[0])
            return
        if proc.returncode:
            log.warning(
                "notification command %s exited %s: %s",
                argv[0],
                proc.returncode,
                err.decode(errors="replace").strip()[:200],
            )

    async def close(self) -> None:
        """Wait briefly for commands still running."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)
        for task in list(self._tasks):
            task.cancel()
