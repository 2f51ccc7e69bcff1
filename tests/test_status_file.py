"""status.json: schema, size at 100 agents with real processes, atomic replacement (#5)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import WzpEnv
from tests.observe_support import create_workspace, pool_config, read_status
from wzp_supervisor.status_file import (
    STATES,
    TransitionLog,
    build_status,
    encode,
    encode_bounded,
    write_atomic,
)

TOTAL_KEYS = {"agents", *STATES}
AGENT_KEYS = {
    "target",
    "workspace",
    "pane",
    "kind",
    "state",
    "since",
    "reason",
    "message",
    "cpu",
    "rss",
    "pid",
    "restarts",
    "task",
}


def check_schema(doc: dict[str, Any]) -> None:
    """Every key docs/status-json.md promises, with its type."""
    assert doc["schema"] == 1
    assert isinstance(doc["ts"], float)
    assert set(doc["daemon"]) >= {"pid", "version", "uptime"}
    assert set(doc["totals"]) == TOTAL_KEYS
    assert isinstance(doc["cpu"], float) and isinstance(doc["rss"], int)
    for ws in doc["workspaces"].values():
        assert set(ws["totals"]) == TOTAL_KEYS
        assert "dir" in ws
    for agent in doc["agents"]:
        assert set(agent) == AGENT_KEYS
    assert doc["totals"]["agents"] == len(doc["agents"])
    assert sum(doc["totals"][s] for s in STATES) == len(doc["agents"])
    for entry in doc["waiting"]:
        assert set(entry) == {"target", "since", "reason", "message"}
    seqs = [t["seq"] for t in doc["transitions"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def fake_process(i: int, state: str = "running", **extra: Any) -> dict[str, Any]:
    ws = f"proj{i // 4:02d}"
    pane = f"agent-{i % 4 + 1}"
    return {
        "target": f"{ws}/{pane}",
        "workspace": ws,
        "pane": pane,
        "kind": "claude",
        "state": state,
        "since": 1_763_930_000.0 + i,
        "pid": 10_000 + i,
        "restarts": i % 3,
        "reason": "",
        "cpu": 1.25,
        "rss": 150_000_000,
        **extra,
    }


def test_build_status_totals_waiting_order_and_fields() -> None:
    procs = [
        fake_process(0, agent_state="busy", agent_since=5.0),
        fake_process(1, agent_state="waiting_input", agent_since=30.0, agent_reason="permission"),
        fake_process(2, agent_state="waiting_input", agent_since=10.0, agent_message="hi  there"),
        fake_process(4, state="fatal", reason="gave up", pid=None),
        fake_process(5, state="stopping"),
    ]
    doc = build_status(
        processes=procs,
        workspaces=[{"name": "proj00", "dir": "/w"}, {"name": "empty", "dir": "/e"}],
        daemon={"pid": 1, "version": "0", "uptime": 1.0},
        now=100.0,
    )
    check_schema(doc)
    assert doc["ts"] == 100.0
    assert doc["totals"]["busy"] == 1 and doc["totals"]["waiting_input"] == 2
    assert doc["totals"]["fatal"] == 1 and doc["totals"]["stopped"] == 1  # stopping folds
    assert [w["target"] for w in doc["waiting"]] == ["proj00/agent-3", "proj00/agent-2"]
    assert doc["waiting"][0]["message"] == "hi there"
    assert doc["workspaces"]["empty"]["totals"]["agents"] == 0
    assert doc["workspaces"]["proj01"]["totals"]["agents"] == 2
    fatal = next(a for a in doc["agents"] if a["state"] == "fatal")
    assert fatal["reason"] == "gave up" and fatal["pid"] is None
    assert doc["rss"] == 5 * 150_000_000


def test_worst_case_size_at_100_agents_stays_under_32k() -> None:
    """Every agent waiting with a long message and a task, 20 transitions: still < 32 KB.

    (Names as people use them: the structure alone grows with the length of the names.)
    """
    long = "Claude needs your permission to use Bash: " + "x" * 500
    procs = [
        fake_process(
            i,
            agent_state="waiting_input",
            agent_since=float(i),
            agent_reason="permission_prompt",
            agent_message=long,
            task={"id": f"t{i:06d}", "prompt": "refactor " * 40},
            restarts=123,
        )
        for i in range(100)
    ]
    log = TransitionLog()
    for i in range(50):
        log.observe(f"proj00/agent-{i}", "waiting_input", "permission_prompt " + "y" * 200)
    doc = build_status(
        processes=procs,
        workspaces=[
            {"name": f"proj{i:02d}", "dir": f"/home/someone/src/proj{i:02d}"} for i in range(25)
        ],
        daemon={"pid": 1, "version": "0.1.0", "uptime": 1.0},
        transitions=log.to_list(),
    )
    assert len(encode(doc)) > 32 * 1024  # unbounded, it would not fit
    order = [w["target"] for w in doc["waiting"]]
    data = encode_bounded(doc)
    assert len(data) < 32 * 1024, len(data)
    bounded = json.loads(data)
    check_schema(bounded)
    assert bounded["clipped"] is True
    assert len(bounded["agents"]) == 100 and len(bounded["transitions"]) == 20
    kept = [w["target"] for w in bounded["waiting"]]
    assert kept and kept == order[: len(kept)]  # the oldest are kept
    assert bounded["totals"]["waiting_input"] == 100


def test_typical_document_is_not_clipped() -> None:
    procs = [fake_process(i, agent_state="busy", agent_since=1.0) for i in range(100)]
    doc = build_status(processes=procs, workspaces=[], daemon={"pid": 1})
    data = encode_bounded(doc)
    assert "clipped" not in json.loads(data)
    assert len(data) < 24 * 1024, len(data)


def test_transition_log_records_each_entry_once_with_rising_seq() -> None:
    log = TransitionLog(seq=40)
    assert log.observe("w/a", "busy") is None
    first = log.observe("w/a", "waiting_input", "permission")
    assert first is not None and first["seq"] == 41
    assert log.observe("w/a", "waiting_input", "again") is None  # no change, no toast
    assert log.observe("w/a", "busy") is None
    second = log.observe("w/a", "waiting_input")
    third = log.observe("w/b", "fatal", "crash loop")
    assert second is not None and third is not None
    assert [t["seq"] for t in log.to_list()] == [41, 42, 43]


def test_reader_never_sees_a_partial_file(tmp_path: Path) -> None:
    """A reader looping while big and small documents replace each other parses every read."""
    path = tmp_path / "status.json"
    small = encode({"schema": 1, "n": 0})
    big = encode({"schema": 1, "blob": "z" * 200_000})
    write_atomic(path, small)
    done = threading.Event()
    failures: list[str] = []
    reads = 0

    def reader() -> None:
        nonlocal reads
        while not done.is_set():
            data = path.read_bytes()
            reads += 1
            try:
                json.loads(data)
            except ValueError:
                failures.append(f"{len(data)} bytes")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(400):
            write_atomic(path, big if i % 2 else small)
    finally:
        done.set()
        thread.join()
    assert not failures, failures[:5]
    assert reads > 0
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


@pytest.mark.timeout(600)
def test_status_json_at_100_real_agents(wzp_env: WzpEnv) -> None:
    """25 workspaces of 4 sleeping panes each: schema, size, resources; a reader looping on
    the file meanwhile parses every version it sees."""
    wzp_env.write_config(pool_config(max_workspaces=30, max_instances=120))
    wzp_env.wzp("up", check=True)
    status_path = wzp_env.runtime_dir / "status.json"
    done = threading.Event()
    failures: list[str] = []
    reads = 0

    def reader() -> None:
        nonlocal reads
        while not done.is_set():
            try:
                data = status_path.read_bytes()
            except FileNotFoundError:
                continue
            reads += 1
            try:
                json.loads(data)
            except ValueError:
                failures.append(data[:80].decode(errors="replace"))

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        for i in range(25):
            create_workspace(wzp_env, f"ws{i:02d}")

        def all_sampled() -> dict[str, Any] | None:
            doc = read_status(wzp_env)
            agents = doc["agents"]
            if len(agents) == 100 and all(a["state"] == "running" and a["rss"] > 0 for a in agents):
                return doc
            return None

        doc = wzp_env.wait_for(all_sampled, timeout=300, what="100 running, sampled agents")
    finally:
        done.set()
        thread.join(timeout=10)
    check_schema(doc)
    size = status_path.stat().st_size
    assert size < 32 * 1024, size
    assert doc["totals"]["agents"] == 100 and doc["totals"]["running"] == 100
    assert len(doc["workspaces"]) == 25
    assert all(ws["totals"]["running"] == 4 for ws in doc["workspaces"].values())
    assert doc["rss"] == sum(a["rss"] for a in doc["agents"])
    assert doc["daemon"]["pid"] == wzp_env.daemon_pid()
    assert not failures, failures[:3]
    assert reads > 0
    status = wzp_env.status()
    assert {p["target"] for p in status["processes"]} == {a["target"] for a in doc["agents"]}
    print(f"status.json at 100 agents: {size} bytes; reader parsed {reads} versions")


def test_status_json_removed_on_down(daemon: WzpEnv) -> None:
    path = daemon.runtime_dir / "status.json"
    daemon.wait_for(path.exists, what="status.json")
    check_schema(read_status(daemon))
    daemon.wzp("down", check=True)
    assert not path.exists()
