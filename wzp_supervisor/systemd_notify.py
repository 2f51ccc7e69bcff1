"""The systemd notification protocol (``sd_notify``) in pure Python.

systemd starts a ``Type=notify`` service with ``NOTIFY_SOCKET`` naming an ``AF_UNIX`` datagram
socket; the service reports its state by sending newline-separated ``KEY=VALUE`` assignments
to it, one datagram per report. An address starting with ``@`` is in the abstract namespace.
With ``WatchdogSec=`` set, systemd also passes ``WATCHDOG_USEC`` (and ``WATCHDOG_PID``) and
kills the service unless ``WATCHDOG=1`` arrives within that interval.

The daemon uses it like this::

    notifier = SdNotifier.from_env(unset=True)   # children must not inherit NOTIFY_SOCKET
    ...                                          # start the arbiter and the hub
    notifier.ready(status="0 agents")
    watchdog = asyncio.create_task(watchdog_loop(notifier))
    notifier.status("3 busy, 1 waiting")         # sent only when the text changes
    notifier.reloading(); ...; notifier.ready()  # around a reload
    notifier.stopping()                          # on SIGTERM, before stopping agents

Without ``NOTIFY_SOCKET`` (not under systemd, e.g. on macOS or ``wzp daemon`` in a terminal)
every method is a cheap no-op. Sending never raises: a failed report is logged at debug level
and returns False, because the daemon must not die for want of telling systemd about it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import MutableMapping

__all__ = ["SdNotifier", "environment_names", "watchdog_loop"]

log = logging.getLogger(__name__)

_ENV_NAMES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def _one_line(text: str) -> str:
    """STATUS= is a single line: newlines would start new assignments."""
    return " ".join(text.splitlines()).strip()


class SdNotifier:
    """A sender of ``sd_notify`` datagrams to one notification socket.

    ``address`` is the value of ``NOTIFY_SOCKET`` (an absolute path, or ``@name`` for the
    abstract namespace); None or an unusable value makes a disabled notifier whose methods do
    nothing. ``watchdog_usec`` is ``WATCHDOG_USEC``; it is ignored when ``watchdog_pid`` names
    another process.
    """

    def __init__(
        self,
        address: str | None,
        *,
        watchdog_usec: int | None = None,
        watchdog_pid: int | None = None,
    ) -> None:
        self._address: str | None = None
        if address and (address.startswith("/") or (address.startswith("@") and len(address) > 1)):
            # Abstract socket names start with a NUL byte in place of the '@'.
            self._address = "\0" + address[1:] if address.startswith("@") else address
        elif address:
            log.debug("sd_notify: unsupported NOTIFY_SOCKET %r; notifications disabled", address)
        ours = watchdog_pid is None or watchdog_pid == os.getpid()
        self._watchdog_usec: int | None = (
            watchdog_usec if watchdog_usec is not None and watchdog_usec > 0 and ours else None
        )
        self._sock: socket.socket | None = None
        self._last_status: str | None = None
        self.environment: dict[str, str] = {}
        """The variables it was built from (``from_env``), for a process that replaces us."""

    @classmethod
    def from_env(
        cls, environ: MutableMapping[str, str] | None = None, *, unset: bool = False
    ) -> SdNotifier:
        """Build a notifier from ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID``.

        ``environ`` defaults to ``os.environ``. With ``unset=True`` the three variables are
        removed from it afterwards, so processes the daemon starts (agents, holders) do not
        inherit them and cannot talk to systemd in the daemon's name.
        """
        env: MutableMapping[str, str] = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET")
        usec = _parse_int(env.get("WATCHDOG_USEC"))
        pid = _parse_int(env.get("WATCHDOG_PID"))
        taken = {name: env[name] for name in _ENV_NAMES if name in env}
        if unset:
            for name in _ENV_NAMES:
                env.pop(name, None)
        notifier = cls(address, watchdog_usec=usec, watchdog_pid=pid)
        notifier.environment = taken
        return notifier

    @property
    def enabled(self) -> bool:
        """True when there is a notification socket to send to."""
        return self._address is not None

    def notify(self, *assignments: str) -> bool:
        """Send ``KEY=VALUE`` assignments as one datagram; True when it was sent.

        Never raises and never blocks: a full receive queue or a vanished socket only costs
        this one report.
        """
        if self._address is None or not assignments:
            return False
        payload = "\n".join(assignments).encode("utf-8", "replace")
        try:
            if self._sock is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                sock.setblocking(False)
                self._sock = sock
            self._sock.sendto(payload, self._address)
        except OSError as exc:
            log.debug("sd_notify: sending %r failed: %s", assignments, exc)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """``READY=1``: start-up (or a reload) is complete; optionally with a STATUS."""
        fields = ["READY=1"]
        if status is not None:
            line = _one_line(status)
            fields.append(f"STATUS={line}")
            self._last_status = line
        return self.notify(*fields)

    def status(self, text: str) -> bool:
        """``STATUS=<text>`` (one line), sent only when it differs from the last one sent."""
        line = _one_line(text)
        if line == self._last_status or not self.enabled:
            return False
        sent = self.notify(f"STATUS={line}")
        if sent:
            self._last_status = line
        return sent

    def reloading(self) -> bool:
        """``RELOADING=1`` with ``MONOTONIC_USEC``; follow with :meth:`ready` when done."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> bool:
        """``STOPPING=1``: shutdown has begun."""
        return self.notify("STOPPING=1")

    def extend_timeout(self, seconds: float) -> bool:
        """``EXTEND_TIMEOUT_USEC``: ask for more time to start, stop or reload."""
        return self.notify(f"EXTEND_TIMEOUT_USEC={max(0, int(seconds * 1_000_000))}")

    def watchdog(self) -> bool:
        """``WATCHDOG=1``: the keep-alive ping."""
        return self.notify("WATCHDOG=1")

    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog pings (half of ``WATCHDOG_USEC``), or None when off."""
        if self._watchdog_usec is None or not self.enabled:
            return None
        return self._watchdog_usec / 2 / 1_000_000

    def close(self) -> None:
        """Close the socket; a later report opens a new one."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None


def _parse_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


async def watchdog_loop(notifier: SdNotifier) -> None:
    """Ping the watchdog from the event loop every :meth:`SdNotifier.watchdog_interval`.

    Returns at once when the watchdog is off. Run it as a task on the daemon's loop and cancel
    it on shutdown; because the pings come from the loop itself, a loop that stalls stops
    pinging and systemd restarts the daemon.
    """
    interval = notifier.watchdog_interval()
    if interval is None:
        return
    while True:
        notifier.watchdog()
        await asyncio.sleep(interval)


def environment_names() -> tuple[str, ...]:
    """The environment variables systemd uses for notification (to scrub from children)."""
    return _ENV_NAMES
