"""Blocking hub client for the CLI, the hook command and scripts. Standard library only.

Before it sends a byte, every connection checks that the socket's directory is private to
us (ours, mode 0700, not a symlink) and that the process serving the socket runs as us;
otherwise it raises :class:`UnsafeHub` and sends nothing.
"""

from __future__ import annotations

import _socket  # not socket: its enums cost the hook command milliseconds to import
import json
import os
from pathlib import Path

from wzp_supervisor import paths, protocol
from wzp_supervisor.peercred import PeerMismatch, require_own_peer

TYPE_CHECKING = False  # typing costs milliseconds to import; the hook command imports this
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any


class DaemonNotRunning(Exception):
    """No daemon answers on the hub socket."""


class UnsafeHub(Exception):
    """The hub socket's directory or its server is not private to us; nothing was sent."""


class RequestFailed(Exception):
    """The daemon answered with an error reply."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class HubError(Exception):
    """A request that did not get an ok reply, as the CLI reports it: message and exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


EXIT_FAILED = 1
EXIT_NOT_RUNNING = 3
EXIT_INTERRUPTED = 130  # ctrl+c, as a shell reports a SIGINT death
NOT_RUNNING = "the wzp daemon is not running; run `wzp up`"


def hub_socket_path() -> Path:
    """The hub socket: ``$WZP_HUB_SOCKET`` when set, else the one in the runtime dir."""
    override = os.environ.get("WZP_HUB_SOCKET")
    return Path(override) if override else paths.hub_socket()


def check_socket_dir(path: Path, what: str = "the hub socket") -> None:
    """Raise UnsafeHub unless the directory holding the socket ``path`` is private to us.

    ``what`` names the socket in the message.
    """
    directory = path.parent
    try:
        paths.check_parent_dir(directory.parent)
        paths.check_private_dir(directory)
    except paths.RuntimeDirError as exc:
        raise UnsafeHub(f"refusing to talk to {what} {path}: {exc}") from None


def connect_hub(path: Path, timeout: float | None) -> _socket.socket:
    """A socket connected to the hub at ``path`` whose server runs as us.

    Raises DaemonNotRunning (nothing listens there), UnsafeHub (the directory or the
    server is another user's: nothing is sent) or OSError.
    """
    check_socket_dir(path)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(os.fspath(path))
        require_own_peer(sock, f"the hub socket {path}")
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        sock.close()
        raise DaemonNotRunning(f"no wzp daemon answers on {path}") from exc
    except PeerMismatch as exc:
        sock.close()
        raise UnsafeHub(str(exc)) from None
    except BaseException:
        sock.close()
        raise
    return sock


class HubClient:
    """One connection to the hub; a request gets exactly one reply."""

    def __init__(self, path: Path | None = None, timeout: float | None = 30.0) -> None:
        self.path = path or hub_socket_path()
        self.timeout = timeout
        self._sock: _socket.socket | None = None
        self._buffer = b""

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        """Connect, or raise DaemonNotRunning / UnsafeHub (see :func:`connect_hub`)."""
        if self._sock is None:
            self._sock = connect_hub(self.path, self.timeout)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def send(self, kind: str, **fields: Any) -> str:
        """Send one request without waiting; returns its id."""
        self.connect()
        assert self._sock is not None
        msg_id = os.urandom(6).hex()
        self._sock.sendall(
            protocol.encode({"v": protocol.VERSION, "id": msg_id, "type": kind, **fields})
        )
        return msg_id

    def read_message(self) -> dict[str, Any]:
        """The next message from the daemon (a reply or a pushed event)."""
        assert self._sock is not None
        while b"\n" not in self._buffer:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("the daemon closed the connection")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        message: dict[str, Any] = json.loads(line)
        return message

    def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Send a request and return its ok reply; raises RequestFailed on an error reply."""
        msg_id = self.send(kind, **fields)
        while True:
            message = self.read_message()
            if message.get("id") != msg_id and not _untied_error(message):
                continue  # an event pushed on a subscribed connection
            if not message.get("ok"):
                error = message.get("error") or {}
                raise RequestFailed(
                    str(error.get("code", "internal")), str(error.get("message", "request failed"))
                )
            return message

    def events(self) -> Iterator[dict[str, Any]]:
        """Pushed events after a ``subscribe`` request, until the daemon closes."""
        while True:
            try:
                message = self.read_message()
            except ConnectionError:
                return
            if message.get("type") == "event":
                yield message["event"]


def _untied_error(message: dict[str, Any]) -> bool:
    """An error reply the hub could not tie to a request (its id was unreadable): it answers
    the request just sent, the only one waiting on this connection."""
    return message.get("id") is None and message.get("ok") is False


def request(kind: str, timeout: float | None = 30.0, **fields: Any) -> dict[str, Any]:
    """One request on a fresh connection."""
    with HubClient(timeout=timeout) as client:
        return client.request(kind, **fields)


def command_request(
    kind: str, /, *, socket_timeout: float | None = 60.0, **fields: Any
) -> dict[str, Any]:
    """One request for a CLI command: its ok reply, or HubError saying what went wrong.

    The one place that turns a failed request into the message and exit code the CLI
    prints: 3 when no daemon runs, 1 for everything else. ``socket_timeout`` is how long
    to wait for the reply (None: as long as it takes); it is not sent.
    """
    try:
        with HubClient(timeout=socket_timeout) as client:
            return client.request(kind, **fields)
    except DaemonNotRunning:
        raise HubError(NOT_RUNNING, EXIT_NOT_RUNNING) from None
    except UnsafeHub as exc:
        raise HubError(str(exc), EXIT_FAILED) from None
    except RequestFailed as exc:
        raise HubError(exc.message, EXIT_FAILED) from None
    except TimeoutError:
        raise HubError(f"the daemon did not answer {kind!r} in time", EXIT_FAILED) from None
    except (ConnectionError, OSError) as exc:
        raise HubError(f"lost the connection to the daemon: {exc}", EXIT_FAILED) from None
