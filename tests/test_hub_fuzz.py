"""Hub fuzz (issue #4): arbitrary envelopes and byte strings sent to a real daemon's hub socket
get a well-formed reply or a closed connection; the daemon stays up and its state intact."""

from __future__ import annotations

import json
import socket
import sys
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import WzpEnv
from wzp_supervisor import paths

PY = sys.executable

# Types that read, validate or touch nothing lasting (no shutdown, no process control, no
# workspace creation, nothing that waits).
SAFE_TYPES = [
    "ping",
    "status",
    "process.list",
    "workspace.list",
    "layout",
    "config.get",
    "events.recent",
    "status.update",
    "task.list",
    "task.show",
    "task.cancel",
    "task.request",
    "broadcast",
    "agent.states",
    "plugin.list",
    "subscribe",
]
FIELDS = [
    "target",
    "agent",
    "event",
    "payload",
    "name",
    "limit",
    "task",
    "prompt",
    "text",
    "workspace",
    "timeout",
    "priority",
    "topics",
    "state",
]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
envelopes = st.builds(
    lambda base, extra: {**extra, **base},
    st.fixed_dictionaries(
        {"type": st.one_of(st.sampled_from(SAFE_TYPES), st.text(max_size=20))},
        optional={
            "v": st.one_of(st.just(1), json_values),
            "id": st.one_of(st.text(max_size=20), st.integers(0, 10**6), json_values),
        },
    ),
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=5),
)
SANDBOX_CONFIG = f"""
workspaces:
  default_template: t
  templates:
    t:
      layout: two_pane_horizontal
      panes:
        - name: p1
          position: left
          command: [{json.dumps(PY)}, "-c", "import time; time.sleep(1000)"]
        - name: p2
          position: right
          command: [{json.dumps(PY)}, "-c", "import time; time.sleep(1000)"]
"""


def check_reply(line: bytes, request: Any) -> None:
    """One reply line is a well-formed envelope (and answers ``request``'s id when valid)."""
    reply = json.loads(line)
    assert isinstance(reply, dict), reply
    assert reply["v"] == 1
    assert isinstance(reply["ok"], bool)
    if not reply["ok"]:
        error = reply["error"]
        assert isinstance(error["code"], str) and error["code"]
        assert isinstance(error["message"], str)
        assert error["code"] != "internal", error  # a handler crashed: a bug to fix
    if isinstance(request, dict) and isinstance(request.get("id"), str):
        assert reply["id"] in (request["id"], None)


def exchange(data: bytes, request: Any, one_reply: bool) -> None:
    """Send ``data``, read the replies; they must all be well formed (or the line cut off by
    a close: nothing at all is fine)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(20)
        sock.connect(str(paths.hub_socket()))
        sock.sendall(data)
        if not one_reply:
            sock.shutdown(socket.SHUT_WR)
        buffer = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            buffer += chunk
            if one_reply and b"\n" in buffer:
                break
    lines = buffer.split(b"\n")
    assert lines[-1] == b"" or one_reply, f"reply not terminated: {buffer[-200:]!r}"
    for line in lines[:-1] if not one_reply else lines[:1]:
        if line:
            check_reply(line, request)


def snapshot(env: WzpEnv) -> dict[str, Any]:
    status = env.status()
    return {
        "workspaces": [w["name"] for w in status["workspaces"]],
        "processes": {p["target"]: (p["pid"], p["state"]) for p in status["processes"]},
    }


def test_hub_survives_arbitrary_envelopes_and_bytes(wzp_env: WzpEnv) -> None:
    wzp_env.write_config(SANDBOX_CONFIG)
    wzp_env.wzp("up", check=True)
    wzp_env.wzp("workspace", "create", "fz", "--dir", str(wzp_env.work), check=True)
    wzp_env.wait_for(
        lambda: all(p["state"] == "running" for p in wzp_env.status()["processes"]),
        what="panes running",
    )
    before = snapshot(wzp_env)
    daemon_pid = wzp_env.daemon_pid()

    common = settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )

    @common
    @given(envelopes)
    def envelope(message: dict[str, Any]) -> None:
        line = json.dumps(message).encode() + b"\n"
        exchange(line, message, one_reply=True)

    @common
    @given(st.binary(max_size=3000))
    def raw(data: bytes) -> None:
        exchange(data, None, one_reply=False)

    @common
    @given(st.lists(envelopes, min_size=2, max_size=5), st.binary(max_size=50))
    def pipelined(messages: list[dict[str, Any]], junk: bytes) -> None:
        messages = [m for m in messages if m.get("type") != "subscribe"]
        data = b"".join(json.dumps(m).encode() + b"\n" for m in messages) + junk
        exchange(data, None, one_reply=False)

    envelope()
    raw()
    pipelined()
    # a line longer than the limit: too_large, then the connection is closed
    exchange(b"x" * (1_048_576 + 10) + b"\n", None, one_reply=False)

    assert wzp_env.daemon_pid() == daemon_pid
    assert wzp_env.wzp("ping").returncode == 0
    assert snapshot(wzp_env) == before
