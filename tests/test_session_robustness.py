"""A holder survives whatever its clients send: bad fields, huge sizes, floods, stuck clients.

Each case talks to a real holder over its socket with hand-made frames and then checks that
the holder still serves and that the program it holds is the same process.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import sys
import textwrap
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.session_support import SessionEnv, exchange, session_env, vm_rss_mib
from wzp_supervisor.session import control, wire

# Raw mode (keys are never signals), reads and discards its input.
DISCARDER = textwrap.dedent(
    """
    import os, tty
    tty.setraw(0)
    os.write(1, b"READY\\r\\n")
    while os.read(0, 65536):
        pass
    """
)
# Never reads its input.
DEAF = "import time; print('READY', flush=True); time.sleep(10000)"
ERROR = int(wire.Frame.ERROR)


@pytest.fixture
def senv(monkeypatch: pytest.MonkeyPatch) -> Iterator[SessionEnv]:
    yield from session_env(monkeypatch)


def hello(payload: str | dict[str, object]) -> bytes:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return wire.encode(wire.Frame.HELLO, text.encode())


def still_serving(senv: SessionEnv, pid: int) -> None:
    info = control.info(senv.socket("t/a"), timeout=10)
    assert info["child_pid"] == pid
    assert senv.holders[-1].poll() is None


def refused(frames: list[tuple[int, bytes]], closed: bool) -> str:
    assert closed, "the holder kept the connection open"
    assert frames and frames[-1][0] == ERROR, f"no ERROR frame: {frames!r}"
    return str(json.loads(frames[-1][1])["message"])


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        ({"mode": "send"}, "text"),
        ({"mode": "send", "text": 5}, "text"),
        ({"mode": "send", "text": "x", "enter": "false"}, "enter"),
        ('{"mode":"send","text":"x","enter":true,"enter_delay":NaN}', "enter_delay"),
        ({"mode": "send", "text": "x", "enter": True, "enter_delay": 1e300}, "enter_delay"),
        ({"mode": "attach", "cols": 70000, "rows": 24}, "cols"),
        ({"mode": "attach", "cols": 1e300, "rows": 24}, "cols"),
        ('{"mode":"attach","cols":Infinity,"rows":24}', "cols"),
        ({"mode": "attach", "cols": 80, "rows": -3}, "rows"),
        ({"mode": "attach", "cols": True, "rows": 24}, "cols"),
        ('{"mode":"peek","lines":Infinity}', "lines"),
        ({"mode": "peek", "lines": "3"}, "lines"),
        ({"mode": 7}, "mode"),
        ({"mode": "nope"}, "mode"),
        ("[1, 2]", "object"),
        ("{" * 100000, "JSON"),
    ],
)
def test_bad_hello_fields_are_refused(senv: SessionEnv, payload: str, says: str) -> None:
    senv.start_holder("t/a", [sys.executable, "-c", DISCARDER])
    pid = senv.children[-1]
    message = refused(*exchange(senv.socket("t/a"), hello(payload)))
    assert says in message
    still_serving(senv, pid)


def test_huge_resize_is_refused_and_peek_stays_quick(senv: SessionEnv) -> None:
    senv.start_holder("t/a", [sys.executable, "-c", DISCARDER])
    pid = senv.children[-1]
    data = hello({"mode": "attach", "cols": 80, "rows": 24}) + wire.encode_size(65535, 1500)
    message = refused(*exchange(senv.socket("t/a"), data))
    assert "cols" in message
    snap = control.peek(senv.socket("t/a"), timeout=10)
    assert (snap.cols, snap.rows) == (80, 24)
    still_serving(senv, pid)


def test_frames_a_client_may_not_send_are_refused(senv: SessionEnv) -> None:
    senv.start_holder("t/a", [sys.executable, "-c", DISCARDER])
    pid = senv.children[-1]
    attach = hello({"mode": "attach", "cols": 80, "rows": 24})
    for extra in (
        wire.encode(wire.Frame.OUTPUT, b"x"),
        attach,
        wire.encode(wire.Frame.RESIZE, b"\x00"),
        wire.encode(wire.Frame.DETACH, b"junk"),
    ):
        refused(*exchange(senv.socket("t/a"), attach + extra))
    refused(*exchange(senv.socket("t/a"), wire.encode(wire.Frame.INPUT, b"x")))
    still_serving(senv, pid)


def test_input_to_a_program_that_does_not_read_is_bounded(senv: SessionEnv) -> None:
    senv.start_holder("t/a", [sys.executable, "-c", DEAF])
    pid = senv.children[-1]
    senv.wait_screen("t/a", "READY")
    holder_pid = senv.holders[-1].pid
    chunk = wire.encode(wire.Frame.INPUT, b"y" * (512 * 1024))
    closed = False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(senv.socket("t/a")))
        sock.sendall(hello({"mode": "attach", "cols": 80, "rows": 24}))
        for _ in range(128):  # 64 MiB
            try:
                sock.sendall(chunk)
            except OSError:
                closed = True
                break
    assert closed, "the holder took 64 MiB of input for a program that reads nothing"
    message = refused(*exchange(senv.socket("t/a"), hello({"mode": "send", "text": "z" * 900_000})))
    assert "not reading" in message
    assert vm_rss_mib(holder_pid) < 64
    still_serving(senv, pid)


def test_oversized_and_half_sent_frames_are_bounded(senv: SessionEnv) -> None:
    senv.start_holder("t/a", [sys.executable, "-c", DISCARDER])
    pid = senv.children[-1]
    holder_pid = senv.holders[-1].pid
    header = struct.pack(">BI", int(wire.Frame.HELLO), 32 * 1024 * 1024)
    message = refused(*exchange(senv.socket("t/a"), header + b"{" * 1000))
    assert "exceeds" in message
    # 48 clients each holding half of a 512 KiB frame: the holder keeps a bounded number
    socks = []
    try:
        half = struct.pack(">BI", int(wire.Frame.HELLO), 512 * 1024) + b" " * (256 * 1024)
        for _ in range(48):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(10)
            sock.connect(str(senv.socket("t/a")))
            socks.append(sock)
            with contextlib.suppress(OSError):
                sock.sendall(half)
        info = control.info(senv.socket("t/a"), timeout=10)
        assert info["clients"] <= 33
        dropped = 0
        for sock in socks:
            sock.settimeout(0.2)
            try:
                while sock.recv(65536):
                    pass
            except TimeoutError:
                continue
            except OSError:
                pass
            dropped += 1
        assert dropped >= 48 - 32
        assert vm_rss_mib(holder_pid) < 64
    finally:
        for sock in socks:
            sock.close()
    still_serving(senv, pid)


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
)
_HELLO = st.fixed_dictionaries(
    {"mode": st.one_of(st.sampled_from(["attach", "peek", "send", "info"]), _VALUES)},
    optional={key: _VALUES for key in ("cols", "rows", "lines", "text", "enter", "enter_delay")},
).map(lambda obj: wire.encode(wire.Frame.HELLO, json.dumps(obj).encode()))
_FRAME = st.one_of(
    _HELLO,
    st.tuples(st.integers(0, 255), st.binary(max_size=64)).map(
        lambda kp: struct.pack(">BI", kp[0], len(kp[1])) + kp[1]
    ),
    st.tuples(st.integers(0, 65535), st.integers(0, 65535)).map(
        lambda cr: wire.encode(wire.Frame.RESIZE, struct.pack(">HH", *cr))
    ),
    st.binary(max_size=16),
)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frames=st.lists(_FRAME, min_size=1, max_size=6))
def test_any_frames_leave_the_holder_and_agent_alive(senv: SessionEnv, frames: list[bytes]) -> None:
    if not senv.holders:
        senv.start_holder("t/a", [sys.executable, "-c", DISCARDER])
    pid = senv.children[0]
    exchange(senv.socket("t/a"), b"".join(frames), timeout=0.3)
    still_serving(senv, pid)
