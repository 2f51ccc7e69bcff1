"""The pool CLI against a real daemon: `wzp pools`, `task submit --pool --wait` and `task map`
with the real Claude Code CLI in headless workers, talking to the loopback model stub."""

from __future__ import annotations

import json

import pytest

from tests.conftest import WzpEnv
from tests.model_stub import ModelStub
from tests.pool_support import start_daemon

pytestmark = pytest.mark.timeout(300)


def test_pool_cli_against_the_daemon(wzp_env: WzpEnv, model_stub: ModelStub) -> None:
    start_daemon(wzp_env, model_stub, min=2, max=2)

    def two_idle() -> bool:
        (pool,) = json.loads(wzp_env.wzp("pools", "--json", check=True).stdout)["pools"]
        return [w["state"] for w in pool["workers"]] == ["idle", "idle"]

    wzp_env.wait_for(two_idle, timeout=120, what="two idle workers")
    listed = wzp_env.wzp("pool", "list", check=True).stdout
    assert listed.startswith("pool batch: 2 workers (0 busy, min 2, max 2), 0 queued, 0 running")

    answer = wzp_env.wzp("task", "submit", "--pool", "batch", "hello pool", "--wait", timeout=120)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout == "stub reply: hello pool\n"

    unknown = wzp_env.wzp("task", "submit", "--pool", "nope", "x", "--wait")
    assert unknown.returncode == 1 and "nope" in unknown.stderr

    model_stub.reply_error(400, "bad request from the stub", prompt="second")
    prompts = wzp_env.root / "prompts.jsonl"
    rows = [{"prompt": "first"}, {"prompt": "second", "session": "new"}, {"prompt": "third"}]
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    mapped = wzp_env.wzp("task", "map", "--pool", "batch", str(prompts), timeout=180)
    assert mapped.returncode == 1, mapped.stderr
    out = [json.loads(line) for line in mapped.stdout.splitlines()]
    assert [o["index"] for o in out] == [0, 1, 2]
    assert [o["text"] for o in (out[0], out[2])] == ["stub reply: first", "stub reply: third"]
    assert out[1]["state"] == "failed" and "bad request from the stub" in out[1]["error"]
    assert all(o["worker"].startswith("batch/") and o["session_id"] for o in out)
    assert "1 of 3 tasks failed" in mapped.stderr

    shown = wzp_env.wzp("task", "show", out[0]["task"], check=True).stdout
    assert "pool:      batch" in shown and "result:\nstub reply: first" in shown
