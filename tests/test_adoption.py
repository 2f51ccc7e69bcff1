"""Agents outlive the daemon: a SIGKILL, a crash or `wzp daemon restart` never interrupts one;
the next daemon adopts the holders it can verify and stops only what it cannot."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from tests.conftest import WzpEnv
from tests.model_stub import ModelStub
from tests.support import AGENT, SLEEP, config_with, kill_daemon, pane, running_pid, start
from tests.test_claude_failures import start_claude
from tests.test_tasks import hub, start_agents, wait_agent


def holder_pids(env: WzpEnv, targets: list[str]) -> dict[str, int]:
    return {t: running_pid(env, t) for t in targets}


def agent_children(pid: int) -> set[int]:
    return {p.pid for p in psutil.Process(pid).children(recursive=True)}


def started_agent(env: WzpEnv, holder: int) -> set[int]:
    """The agent processes under ``holder``, once the holder has started its agent."""
    found: set[int] = env.wait_for(lambda: agent_children(holder), what="the agent started")
    return found


def test_daemon_sigkill_then_up_adopts_every_agent(wzp_env: WzpEnv) -> None:
    start(wzp_env, config_with(pane("a1", "top_left", SLEEP) + pane("a2", "top_right", SLEEP)))
    before = holder_pids(wzp_env, ["demo/a1", "demo/a2"])
    agents = {t: started_agent(wzp_env, pid) for t, pid in before.items()}
    os.kill(before["demo/a2"], signal.SIGKILL)  # one restart on record
    wzp_env.wait_for(
        lambda: wzp_env.process("demo/a2")["pid"] not in (None, before["demo/a2"]),
        what="a2 restarted",
    )
    before["demo/a2"] = running_pid(wzp_env, "demo/a2")
    agents["demo/a2"] = started_agent(wzp_env, before["demo/a2"])
    uptime_a1 = wzp_env.process("demo/a1")["uptime"]
    kill_daemon(wzp_env)
    time.sleep(0.5)
    wzp_env.wzp("up", check=True)
    after = {t: wzp_env.process(t) for t in before}
    assert {t: p["pid"] for t, p in after.items()} == before
    assert after["demo/a1"]["state"] == "running" and after["demo/a2"]["state"] == "running"
    assert after["demo/a2"]["restarts"] == 1 and after["demo/a1"]["restarts"] == 0
    assert after["demo/a1"]["uptime"] >= uptime_a1  # the true uptime, not a fresh one
    for target, pid in before.items():
        assert agent_children(pid) == agents[target]  # the same agent, no duplicate
    events = wzp_env.wzp("events", "--json", check=True).stdout
    assert "ProcessAdopted" in events
    # plain circusctl sees the adopted holders as the watchers' processes
    circusctl = Path(sys.executable).parent / "circusctl"
    endpoint = f"ipc://{wzp_env.runtime_dir / 'circus.sock'}"
    for target, pid in before.items():
        listed = subprocess.run(
            [
                str(circusctl),
                "--endpoint",
                endpoint,
                "--timeout",
                "10",
                "list",
                target.replace("/", "."),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            env=wzp_env.env,
        )
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.strip() == str(pid)
    # adopted holders are supervised like any other: a kill is seen and restarted at once
    os.kill(before["demo/a1"], signal.SIGKILL)
    wzp_env.wait_for(
        lambda: (
            (p := wzp_env.process("demo/a1"))["pid"] not in (None, before["demo/a1"])
            and p["state"] == "running"
        ),
        what="a1 restarted after its adopted holder was killed",
    )
    assert wzp_env.process("demo/a1")["restarts"] == 1


def test_daemon_restart_replaces_the_daemon_and_keeps_the_agents(wzp_env: WzpEnv) -> None:
    start(wzp_env, config_with(pane("a1", "top_left", SLEEP)))
    holder = running_pid(wzp_env, "demo/a1")
    daemon_pid = wzp_env.daemon_pid()
    started = hub("ping")["uptime"]
    reply = hub("daemon.restart")
    assert reply["restarting"] is True and reply["pid"] == daemon_pid

    def new_daemon() -> dict[str, Any] | None:
        try:
            answer = hub("ping")
        except Exception:
            return None
        return answer if answer["uptime"] < started else None

    answer = wzp_env.wait_for(new_daemon, what="the re-executed daemon answering")
    assert answer["pid"] == daemon_pid  # same process: systemd keeps tracking it
    assert wzp_env.process("demo/a1")["pid"] == holder
    assert wzp_env.process("demo/a1")["state"] == "running"
    os.kill(holder, signal.SIGKILL)  # still our child after exec: its exit is reaped
    wzp_env.wait_for(
        lambda: wzp_env.process("demo/a1")["pid"] not in (None, holder),
        what="a1 restarted",
    )
    assert not psutil.pid_exists(holder) or psutil.Process(holder).status() != "zombie"


def test_an_agent_that_died_while_no_daemon_ran_is_restarted_by_policy(wzp_env: WzpEnv) -> None:
    start(wzp_env, config_with(pane("a1", "top_left", SLEEP)))
    holder = running_pid(wzp_env, "demo/a1")
    kill_daemon(wzp_env)
    os.kill(holder, signal.SIGKILL)
    wzp_env.wait_for(lambda: not psutil.pid_exists(holder), what="the holder gone")
    wzp_env.wzp("up", check=True)
    proc = wzp_env.wait_for(
        lambda: (p := wzp_env.process("demo/a1"))["state"] == "running" and p,
        what="a1 running again",
    )
    assert proc["pid"] != holder
    assert proc["restarts"] == 1


def test_a_task_in_flight_completes_once_across_a_daemon_kill(wzp_env: WzpEnv) -> None:
    (target,) = start_agents(wzp_env, 1)
    task = hub("task.request", target=target, prompt="sleep=4 slow answer")["task"]
    wait_agent(wzp_env, target, "busy")
    holder = wzp_env.process(target)["pid"]
    kill_daemon(wzp_env)
    wzp_env.wzp("up", check=True)
    assert wzp_env.process(target)["pid"] == holder

    def done() -> dict[str, Any] | None:
        info: dict[str, Any] = hub("task.show", task=task["id"])["task"]
        return info if info["state"] in ("done", "failed") else None

    info = wzp_env.wait_for(done, timeout=60, what="the task done")
    assert info["state"] == "done", info
    assert info["result"] == "echo: sleep=4 slow answer"
    log = (wzp_env.root / "a1.log").read_text().splitlines()
    assert log == ["sleep=4 slow answer"]  # typed once, never again after the restart


def test_a_clean_exit_while_no_daemon_ran_is_judged_by_the_policy_late(wzp_env: WzpEnv) -> None:
    trigger = wzp_env.root / "finish"
    code = (
        "import os, time\n"
        f"while not os.path.exists({str(trigger)!r}): time.sleep(0.05)\n"
        "raise SystemExit(0)"
    )
    start(wzp_env, config_with(pane("a1", "top_left", code, restart_policy="on-failure")))
    holder = running_pid(wzp_env, "demo/a1")
    kill_daemon(wzp_env)
    trigger.touch()
    wzp_env.wait_for(lambda: not psutil.pid_exists(holder), what="the holder ended")
    wzp_env.wzp("up", check=True)
    proc = wzp_env.process("demo/a1")
    assert proc["state"] == "exited", proc  # on-failure: a clean exit stays down
    assert proc["reason"] == "exited (code 0)"
    assert proc["pid"] is None and proc["restarts"] == 0


OLD_HOLDER = (
    "import sys; import wzp_supervisor.session.wire as wire; wire.PROTOCOL_VERSION = 0; "
    "from wzp_supervisor.session.holder import main; main(sys.argv[1:])"
)


def test_holders_of_an_older_version_are_adopted_then_renewed_one_at_a_time(
    wzp_env: WzpEnv,
) -> None:
    start(wzp_env, config_with(pane("a1", "top_left", SLEEP) + pane("a2", "top_right", SLEEP)))
    targets = ["demo/a1", "demo/a2"]
    holders = holder_pids(wzp_env, targets)
    kill_daemon(wzp_env)
    # stand-ins for holders an older release started: same arguments, holder protocol 0
    state_file = wzp_env.state_dir / "state.json"
    state = json.loads(state_file.read_text())
    old: dict[str, int] = {}
    for target, pid in holders.items():
        argv = psutil.Process(pid).cmdline()
        args = argv[argv.index("wzp_supervisor.session.holder") + 1 :]
        psutil.Process(pid).kill()
        wzp_env.wait_for(lambda pid=pid: not psutil.pid_exists(pid), what="old holder gone")
        proc = subprocess.Popen(
            [sys.executable, "-c", OLD_HOLDER, *args],
            env=wzp_env.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        socket_path = Path(args[args.index("--socket") + 1])
        wzp_env.wait_for(socket_path.exists, what="the stand-in holder listening")
        old[target] = proc.pid
        state["processes"][target]["pid"] = proc.pid
        state["processes"][target]["create_time"] = psutil.Process(proc.pid).create_time()
    state_file.write_text(json.dumps(state))
    wzp_env.wzp("up", check=True)

    def renewed() -> dict[str, int] | None:
        now = {t: wzp_env.process(t) for t in targets}
        if all(p["state"] == "running" and p["pid"] not in (None, old[t]) for t, p in now.items()):
            return {t: p["pid"] for t, p in now.items()}
        return None

    wzp_env.wait_for(renewed, timeout=60, what="both holders renewed")
    text = wzp_env.wzp("events", "--json", "--limit", "500", check=True).stdout
    events = [json.loads(line) for line in text.splitlines() if line.strip()]
    order = [
        (e["event"], e.get("target"))
        for e in events
        if e["event"] in ("ProcessAdopted", "ProcessStopped", "ProcessStarted")
    ]
    assert sorted(order[:2]) == [("ProcessAdopted", t) for t in targets]
    renewals = order[2:]
    # one at a time: each is running again before the next is stopped
    assert [name for name, _ in renewals] == [
        "ProcessStopped",
        "ProcessStarted",
        "ProcessStopped",
        "ProcessStarted",
    ], renewals
    assert renewals[0][1] == renewals[1][1] and renewals[2][1] == renewals[3][1]


FAKE_SYSTEMD_RUN = """#!/bin/sh
# stands in for `systemd-run --user --scope ... -- CMD`: runs CMD in place, as the real one does
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do shift; done
shift
exec "$@"
"""


def test_under_a_user_manager_sigterm_replaces_the_daemon_and_keeps_the_agents(
    wzp_env: WzpEnv,
) -> None:
    bin_dir = wzp_env.root / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "systemd-run"
    fake.write_text(FAKE_SYSTEMD_RUN)
    fake.chmod(0o755)
    manager = Path(wzp_env.env["XDG_RUNTIME_DIR"]) / "systemd"
    manager.mkdir()
    (manager / "private").touch()  # what systemd-run talks to: "a reachable user manager"
    wzp_env.env.update(
        {
            "PATH": f"{bin_dir}:{wzp_env.env['PATH']}",
            "INVOCATION_ID": "0123456789abcdef0123456789abcdef",
            "MANAGERPID": "1",
        }
    )
    start(wzp_env, config_with(pane("a1", "top_left", SLEEP)))
    holder = running_pid(wzp_env, "demo/a1")
    assert "systemd-run" not in " ".join(psutil.Process(holder).cmdline())  # exec'd in place
    daemon_pid = wzp_env.daemon_pid()
    assert daemon_pid is not None
    os.kill(daemon_pid, signal.SIGTERM)  # what systemctl --user stop/restart sends
    wzp_env.wait_for(
        lambda: (
            not psutil.pid_exists(daemon_pid) or psutil.Process(daemon_pid).status() == "zombie"
        ),
        what="the daemon gone",
    )
    assert psutil.pid_exists(holder) and psutil.Process(holder).status() != "zombie"
    wzp_env.wzp("up", check=True)
    assert wzp_env.process("demo/a1")["pid"] == holder
    wzp_env.wzp("down", check=True)  # and down still means: stop everything
    wzp_env.wait_for(lambda: not psutil.pid_exists(holder), what="the agent stopped by down")


def test_a_real_claude_turn_in_flight_completes_once_across_a_daemon_kill(
    wzp_env: WzpEnv, stub: ModelStub
) -> None:
    """The real CLI mid-turn (the stub streams a long answer slowly): SIGKILL the daemon during
    the stream, `wzp up`; the answer completes on screen, its Stop hook reaches the new daemon
    and the task completes exactly once."""
    start_claude(wzp_env, stub)
    holder = wzp_env.process(AGENT)["pid"]
    answer = "the slow answer arrives word by word across a daemon restart"
    stub.reply_slowly(answer, seconds=6.0)
    task = hub("task.request", target=AGENT, prompt="tell me slowly")["task"]
    wait_agent(wzp_env, AGENT, "busy", timeout=60)
    kill_daemon(wzp_env)
    wzp_env.wzp("up", check=True)
    assert wzp_env.process(AGENT)["pid"] == holder  # the same agent, never interrupted

    def ended() -> dict[str, Any] | None:
        info: dict[str, Any] = hub("task.show", task=task["id"])["task"]
        return info if info["state"] in ("done", "failed", "cancelled") else None

    info = wzp_env.wait_for(ended, timeout=90, what="the task to end")
    assert info["state"] == "done", info
    assert info["result"] == answer
    mains = [r for r in stub.main_requests() if "tell me slowly" in r.last_user_text()]
    assert len(mains) == 1  # the prompt went to the model once: nothing was typed again
    completed = [
        json.loads(line)
        for line in wzp_env.wzp(
            "events", "--json", "--limit", "500", check=True
        ).stdout.splitlines()
        if line.strip()
    ]
    done_events = [
        e for e in completed if e["event"] == "TaskCompleted" and e.get("task") == task["id"]
    ]
    assert len(done_events) == 1
