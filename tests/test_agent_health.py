"""Health checks with real holders and PTYs: a holder that stops answering is restarted, OSC 9;4
progress makes a hook-less agent busy (and shows in the holder's info)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys

from tests.conftest import WzpEnv
from tests.test_tasks import fake_config, hub, wait_agent
from wzp_supervisor import paths
from wzp_supervisor.session import control

PY = sys.executable
HEALTH = "    health_check_interval: 0.5\n    timeout: 1\n"


def test_a_holder_that_stops_answering_is_restarted(wzp_env: WzpEnv) -> None:
    config = fake_config(wzp_env, 1).replace(
        "    max_instances: 8\n", "    max_instances: 8\n" + HEALTH
    )
    wzp_env.write_config(config)
    wzp_env.wzp("up", check=True)
    wzp_env.wzp("workspace", "create", "demo", "--dir", str(wzp_env.work), check=True)
    before = wait_agent(wzp_env, "demo/a1", "idle")
    os.kill(before["pid"], signal.SIGSTOP)
    try:
        after = wzp_env.wait_for(
            lambda: (p := wzp_env.process("demo/a1"))["pid"] not in (None, before["pid"]) and p,
            timeout=60,
            what="a new holder",
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(before["pid"], signal.SIGCONT)
    assert after["session_id"] == before["session_id"]  # resumed
    wait_agent(wzp_env, "demo/a1", "idle")
    events = hub("events.recent", limit=300)["events"]
    failed = [e for e in events if e["event"] == "HealthCheckFailed" and e["check"] == "ping"]
    assert len(failed) >= 2
    restarted = [e for e in events if e["event"] == "AgentRestartedForHealth"]
    assert restarted and "did not answer" in restarted[0]["reason"]
    metrics = hub("metrics")
    assert 'health_check_failures_total{check="ping"}' in metrics["text"]


def test_progress_reports_make_a_hookless_agent_busy(wzp_env: WzpEnv) -> None:
    script = (
        "import sys, time; sys.stdout.write('\\x1b]9;4;3;\\x07working'); "
        "sys.stdout.flush(); time.sleep(600)"
    )
    wzp_env.write_config(
        f"""
processes:
  claude_code:
    health_check_interval: 0.5
workspaces:
  default_template: prog
  templates:
    prog:
      layout: single
      panes:
        - name: p
          position: main
          command: [{json.dumps(PY)}, "-c", {json.dumps(script)}]
          agent: claude
"""
    )
    wzp_env.wzp("up", check=True)
    wzp_env.wzp("workspace", "create", "demo", "--dir", str(wzp_env.work), check=True)
    proc = wait_agent(wzp_env, "demo/p", "busy", timeout=60)
    assert proc["agent_source"] == "progress"
    info = control.info(paths.session_socket("demo", "p"))
    assert info["progress"]["state"] == "busy"
    assert info["last_output"] is not None
