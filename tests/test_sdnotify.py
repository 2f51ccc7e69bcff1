"""sd_notify against a real AF_UNIX datagram socket bound by the test."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from wzp_supervisor.systemd_notify import SdNotifier, environment_names, watchdog_loop


@pytest.fixture()
def listener(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    """A bound datagram socket standing in for systemd's notification socket."""
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(10)
    yield str(path), sock
    sock.close()


def recv(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode().split("\n")


def pending(sock: socket.socket) -> list[bytes]:
    out = []
    sock.setblocking(False)
    try:
        while True:
            out.append(sock.recv(4096))
    except BlockingIOError:
        pass
    finally:
        sock.settimeout(10)
    return out


def test_ready_status_stopping(listener: tuple[str, socket.socket]) -> None:
    address, sock = listener
    n = SdNotifier.from_env({"NOTIFY_SOCKET": address})
    assert n.enabled
    assert n.ready(status="starting up\nsecond line")
    assert recv(sock) == ["READY=1", "STATUS=starting up second line"]
    assert n.status("2 busy, 1 waiting")
    assert recv(sock) == ["STATUS=2 busy, 1 waiting"]
    assert n.stopping()
    assert recv(sock) == ["STOPPING=1"]
    n.close()


def test_status_only_sent_when_changed(listener: tuple[str, socket.socket]) -> None:
    address, sock = listener
    n = SdNotifier(address)
    assert n.status("a")
    assert not n.status("a")
    assert n.status("b")
    assert not n.status("b")
    assert n.status("a")
    assert pending(sock) == [b"STATUS=a", b"STATUS=b", b"STATUS=a"]
    # ready(status=...) counts as the last status sent.
    n.ready(status="c")
    assert not n.status("c")
    assert pending(sock) == [b"READY=1\nSTATUS=c"]


def test_reloading_then_ready(listener: tuple[str, socket.socket]) -> None:
    address, sock = listener
    n = SdNotifier(address)
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert n.reloading()
    fields = recv(sock)
    assert fields[0] == "RELOADING=1"
    key, _, value = fields[1].partition("=")
    assert key == "MONOTONIC_USEC"
    assert int(value) >= before
    assert n.ready()
    assert recv(sock) == ["READY=1"]


def test_extend_timeout(listener: tuple[str, socket.socket]) -> None:
    address, sock = listener
    n = SdNotifier(address)
    assert n.extend_timeout(2.5)
    assert recv(sock) == ["EXTEND_TIMEOUT_USEC=2500000"]


def test_abstract_socket_address() -> None:
    name = f"wzp-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(10)
    try:
        n = SdNotifier.from_env({"NOTIFY_SOCKET": "@" + name})
        assert n.enabled
        assert n.ready()
        assert recv(sock) == ["READY=1"]
    finally:
        sock.close()


def test_disabled_without_socket_is_a_noop() -> None:
    n = SdNotifier.from_env({})
    assert not n.enabled
    assert not n.ready()
    assert not n.status("x")
    assert not n.watchdog()
    assert n.watchdog_interval() is None
    for bad in ("relative/path", "@", "vsock:2:1234"):
        assert not SdNotifier(bad).enabled


def test_send_errors_never_raise(tmp_path: Path) -> None:
    n = SdNotifier(str(tmp_path / "missing.sock"))
    assert n.enabled
    assert not n.ready()
    assert not n.status("x")
    # A failed status is retried next time rather than suppressed as "unchanged".
    assert not n.status("x")


def test_from_env_unset_scrubs_children_environment(listener: tuple[str, socket.socket]) -> None:
    address, _ = listener
    env = {
        "NOTIFY_SOCKET": address,
        "WATCHDOG_USEC": "30000000",
        "WATCHDOG_PID": str(os.getpid()),
        "OTHER": "kept",
    }
    n = SdNotifier.from_env(env, unset=True)
    assert n.enabled
    assert n.watchdog_interval() == 15.0
    assert env == {"OTHER": "kept"}
    assert set(environment_names()) == {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"}


def test_watchdog_interval_honours_pid(listener: tuple[str, socket.socket]) -> None:
    address, _ = listener
    env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000"}
    assert SdNotifier.from_env(dict(env)).watchdog_interval() == 0.5
    ours = SdNotifier.from_env({**env, "WATCHDOG_PID": str(os.getpid())})
    assert ours.watchdog_interval() == 0.5
    other = SdNotifier.from_env({**env, "WATCHDOG_PID": str(os.getpid() + 1)})
    assert other.watchdog_interval() is None
    assert SdNotifier.from_env({**env, "WATCHDOG_USEC": "0"}).watchdog_interval() is None
    assert SdNotifier.from_env({**env, "WATCHDOG_USEC": "junk"}).watchdog_interval() is None


def test_watchdog_loop_keeps_pinging(listener: tuple[str, socket.socket]) -> None:
    address, sock = listener
    # 20 ms watchdog → a ping every 10 ms; wait for several, whatever the machine's speed.
    n = SdNotifier.from_env({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "20000"})
    assert n.watchdog_interval() == 0.01

    async def scenario() -> list[str]:
        task = asyncio.create_task(watchdog_loop(n))
        loop = asyncio.get_running_loop()
        got: list[str] = []
        while len(got) < 5:
            got.append(await loop.run_in_executor(None, lambda: sock.recv(4096).decode()))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return got

    assert asyncio.run(scenario()) == ["WATCHDOG=1"] * 5


def test_watchdog_loop_returns_when_off(listener: tuple[str, socket.socket]) -> None:
    address, _ = listener
    asyncio.run(watchdog_loop(SdNotifier(address)))
    asyncio.run(watchdog_loop(SdNotifier(None, watchdog_usec=20000)))
