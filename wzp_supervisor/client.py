"""Blocking hub client for the CLI, hooks and scripts. Standard library only (fast import)."""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wzp_supervisor import paths, protocol


class DaemonNotRunning(Exception):
    """No daemon answers on the hub socket."""


class RequestFailed(Exception):
    """The daemon answered with an error reply."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def hub_socket_path() -> Path:
    """The hub socket: ``$WZP_HUB_SOCKET`` when set, else the one in the runtime dir."""
    override = os.environ.get("WZP_HUB_SOCKET")
    return Path(override) if override else paths.hub_socket()


class HubClient:
    """One connection to the hub; a request gets exactly one reply."""

    def __init__(self, path: Path | None = None, timeout: float | None = 30.0) -> None:
        self.path = path or hub_socket_path()
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buffer = b""

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        """Connect, or raise DaemonNotRunning."""
        if self._sock is not None:
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(os.fspath(self.path))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            sock.close()
            raise DaemonNotRunning(f"no wzp daemon answers on {self.path}") from exc
        except OSError:
            sock.close()
            raise
        self._sock = sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def send(self, kind: str, **fields: Any) -> str:
        """Send one request without waiting; returns its id."""
        self.connect()
        assert self._sock is not None
        msg_id = uuid.uuid4().hex[:12]
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
            if message.get("id") != msg_id:
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


def request(kind: str, timeout: float | None = 30.0, **fields: Any) -> dict[str, Any]:
    """One request on a fresh connection."""
    with HubClient(timeout=timeout) as client:
        return client.request(kind, **fields)
