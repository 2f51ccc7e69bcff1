"""The pool CLI: `task submit --pool`, `task map`, `pool list` / `pools`, and pool tasks in
`task list` / `task show`, against a fake hub that serves the pool task contract over a real
Unix socket (tests/fake_pool_hub.py); `wzp` runs as its own process."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import WzpEnv
from tests.fake_pool_hub import FakePoolHub
from tests.support import ctrl_c

RESET = time.time() + 3600  # rate limited for another hour

POOLS: list[dict[str, Any]] = [
    {
        "name": "fast",
        "min": 1,
        "max": 4,
        "workers": [
            {
                "name": "fast/w1",
                "pid": 4321,
                "state": "busy",
                "turns": 3,
                "cost_usd": 0.0375,
                "session_id": "sess-\x1b]0;pwned\x07",
            },
            {
                "name": "fast/w2",
                "pid": 4322,
                "state": "idle",
                "turns": 0,
                "cost_usd": 0.0,
                "session_id": None,
            },
        ],
        "queued": 5,
        "running": 1,
        "rate_limited_until": RESET,
    },
    {
        "name": "slow",
        "min": 0,
        "max": 2,
        "workers": [],
        "queued": 0,
        "running": 0,
        "rate_limited_until": None,
    },
]


@pytest.fixture
def hub(wzp_env: WzpEnv) -> Iterator[FakePoolHub]:
    with FakePoolHub(wzp_env.runtime_dir / "hub.sock", POOLS) as fake:
        yield fake


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


# task submit --pool


def test_submit_to_a_pool_waits_and_prints_the_answer(wzp_env: WzpEnv, hub: FakePoolHub) -> None:
    done = wzp_env.wzp(
        "task",
        "submit",
        "--pool",
        "fast",
        "--session",
        "reuse",
        "--priority",
        "3",
        "hello",
        "--wait",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "answer: hello\n"
    (sent,) = hub.sent("task.submit")
    assert sent["pool"] == "fast" and sent["session"] == "reuse" and sent["priority"] == 3


def test_submit_to_a_pool_json_carries_the_structured_result(
    wzp_env: WzpEnv, hub: FakePoolHub
) -> None:
    done = wzp_env.wzp("task", "submit", "-p", "fast", "hi", "--wait", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    result = answer["task"]["result"]
    assert answer["done"] is True and answer["task"]["pool"] == "fast"
    assert result["text"] == "answer: hi" and result["cost_usd"] == 0.0125
    assert result["session_id"] == "sess-t1" and result["worker"] == "fast/w2"


def test_submit_without_wait_names_the_task_and_pool(wzp_env: WzpEnv, hub: FakePoolHub) -> None:
    done = wzp_env.wzp("task", "submit", "--pool", "fast", "hi")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "task t1 queued on pool fast\n"


@pytest.mark.parametrize(
    ("prompt", "reason"),
    [
        ("fail now", "task t1 failed: worker died twice"),
        ("iserror now", "task t1 failed: error_during_execution: API Error: 500"),
    ],
)
def test_a_failed_pool_task_exits_1_with_the_reason(
    wzp_env: WzpEnv, hub: FakePoolHub, prompt: str, reason: str
) -> None:
    done = wzp_env.wzp("task", "submit", "--pool", "fast", prompt, "--wait")
    assert done.returncode == 1
    assert done.stdout == ""
    assert f"wzp: {reason}" in done.stderr


def test_an_unknown_pool_is_named(wzp_env: WzpEnv, hub: FakePoolHub) -> None:
    done = wzp_env.wzp("task", "submit", "--pool", "nope", "hi", "--wait")
    assert done.returncode == 1
    assert "no pool named 'nope'" in done.stderr


def test_submit_option_mistakes_are_usage_errors(wzp_env: WzpEnv, hub: FakePoolHub) -> None:
    alone = wzp_env.wzp("task", "submit", "--session", "new", "hi")
    assert alone.returncode == 2 and "--session needs --pool" in alone.stderr
    assert hub.sent("task.submit") == []


def test_a_pool_task_counts_for_the_given_or_the_calling_workspace(
    wzp_env: WzpEnv, hub: FakePoolHub
) -> None:
    both = wzp_env.wzp("task", "submit", "--pool", "fast", "--workspace", "demo", "hi")
    assert both.returncode == 0, both.stderr
    pane = {"WZP_AGENT": "proj/claude-1"}
    inside = wzp_env.wzp("task", "submit", "--pool", "fast", "hi", extra_env=pane)
    assert inside.returncode == 0, inside.stderr
    given = wzp_env.wzp("task", "submit", "-p", "fast", "-w", "other", "hi", extra_env=pane)
    assert given.returncode == 0, given.stderr
    agent = wzp_env.wzp("task", "submit", "hi", extra_env=pane)  # not a pool task: any agent
    assert agent.returncode == 0, agent.stderr
    outside = wzp_env.wzp("task", "submit", "--pool", "fast", "hi")
    assert outside.returncode == 0, outside.stderr
    sent = hub.sent("task.submit")
    assert [m.get("workspace") for m in sent] == ["demo", "proj", "other", None, None]
    assert [m.get("pool") for m in sent] == ["fast", "fast", "fast", None, "fast"]
    prompts = wzp_env.root / "prompts.txt"
    prompts.write_text("one\ntwo\n")
    mapped = wzp_env.wzp("task", "map", "--pool", "fast", str(prompts), extra_env=pane)
    assert mapped.returncode == 0, mapped.stderr
    named = wzp_env.wzp("task", "map", "-p", "fast", "--workspace", "w2", str(prompts))
    assert named.returncode == 0, named.stderr
    assert [m.get("workspace") for m in hub.sent("task.submit")[5:]] == [
        "proj",
        "proj",
        "w2",
        "w2",
    ]


def test_submit_without_pool_sends_no_pool_field(wzp_env: WzpEnv, hub: FakePoolHub) -> None:
    done = wzp_env.wzp("task", "submit", "-w", "demo", "hi")
    assert done.returncode == 0, done.stderr
    (sent,) = hub.sent("task.submit")
    assert "pool" not in sent and "session" not in sent and sent["workspace"] == "demo"


# task map


def test_map_prints_results_in_input_order(wzp_env: WzpEnv, hub: FakePoolHub) -> None:
    prompts = wzp_env.root / "prompts.txt"
    # the first finishes last; blank lines are skipped
    prompts.write_text("sleep:1.0 first\n\nsleep:0.5 second\nthird\n")
    done = wzp_env.wzp("task", "map", "--pool", "fast", str(prompts))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no progress bar without a terminal
    out = lines(done.stdout)
    assert [(o["index"], o["line"]) for o in out] == [(0, 1), (1, 3), (2, 4)]
    assert [o["text"] for o in out] == [
        "answer: sleep:1.0 first",
        "answer: sleep:0.5 second",
        "answer: third",
    ]
    first = out[0]
    assert first["state"] == "done" and first["error"] is None and first["is_error"] is False
    assert first["task"] == "t1" and first["worker"] and first["cost_usd"] == 0.0125
    assert first["session_id"] == "sess-t1" and first["usage"]["output_tokens"] == 3
    assert {m["pool"] for m in hub.sent("task.submit")} == {"fast"}


def test_map_jsonl_from_stdin_and_failures_exit_1_after_everything(
    wzp_env: WzpEnv, hub: FakePoolHub
) -> None:
    rows = [
        {"prompt": "fail please"},
        {"prompt": "ok", "session": "new", "priority": 7},
        {"prompt": "iserror x"},
        {"prompt": "last"},
    ]
    done = wzp_env.wzp(
        "task",
        "map",
        "--pool",
        "fast",
        "--session",
        "reuse",
        "-",
        input="".join(json.dumps(r) + "\n" for r in rows),
    )
    assert done.returncode == 1
    out = lines(done.stdout)
    assert [o["index"] for o in out] == [0, 1, 2, 3]
    assert [o["state"] for o in out] == ["failed", "done", "done", "done"]
    assert out[0]["error"] == "worker died twice" and out[2]["is_error"] is True
    assert "2 of 4 tasks failed" in done.stderr
    sent = hub.sent("task.submit")
    assert [m.get("session") for m in sent] == ["reuse", "new", "reuse", "reuse"]
    assert sent[1]["priority"] == 7 and "priority" not in sent[0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"prompt": "a"}\n{"prompt": \n', "prompts.jsonl:2: not JSON"),
        ('{"prompt": "a"}\n\n["x"]\n', "prompts.jsonl:3: expected a JSON object"),
        ('{"prompt": "a", "colour": 1}\n', "prompts.jsonl:1: unknown key 'colour'"),
        ('{"prompt": ""}\n', "prompts.jsonl:1: 'prompt' must be a non-empty string"),
        ('{"prompt": "a", "priority": "high"}\n', "prompts.jsonl:1: 'priority' must be an"),
    ],
)
def test_map_names_the_bad_line_and_submits_nothing(
    wzp_env: WzpEnv, hub: FakePoolHub, content: str, message: str
) -> None:
    path = wzp_env.root / "prompts.jsonl"
    path.write_text(content)
    done = wzp_env.wzp("task", "map", "--pool", "fast", str(path))
    assert done.returncode == 1
    assert message in done.stderr
    assert str(path) in done.stderr
    assert done.stdout == "" and hub.sent("task.submit") == []


def test_map_bad_bytes_and_missing_file(wzp_env: WzpEnv, hub: FakePoolHub) -> None:
    path = wzp_env.root / "p.txt"
    path.write_bytes(b"fine\n\xff\xfe bad\n")
    done = wzp_env.wzp("task", "map", "--pool", "fast", str(path))
    assert done.returncode == 1 and f"{path}:2: not UTF-8" in done.stderr
    missing = wzp_env.wzp("task", "map", "--pool", "fast", str(wzp_env.root / "none.txt"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    assert hub.sent("task.submit") == []


def test_map_keeps_at_most_window_tasks_unfinished(wzp_env: WzpEnv, hub: FakePoolHub) -> None:
    prompts = wzp_env.root / "p.txt"
    prompts.write_text("".join(f"sleep:0.1 n{i}\n" for i in range(9)))
    done = wzp_env.wzp("task", "map", "--pool", "fast", "--window", "3", str(prompts))
    assert done.returncode == 0, done.stderr
    assert [o["index"] for o in lines(done.stdout)] == list(range(9))
    assert hub.max_unfinished <= 3


def test_map_on_an_unknown_pool_stops_at_once(wzp_env: WzpEnv, hub: FakePoolHub) -> None:
    prompts = wzp_env.root / "p.txt"
    prompts.write_text("a\nb\nc\n")
    done = wzp_env.wzp("task", "map", "--pool", "nope", str(prompts))
    assert done.returncode == 1
    assert "no pool named 'nope'" in done.stderr
    assert len(hub.sent("task.submit")) == 1 and done.stdout == ""


def test_map_shows_a_progress_bar_on_a_terminal(wzp_env: WzpEnv, hub: FakePoolHub) -> None:
    prompts = wzp_env.root / "p.txt"
    prompts.write_text("".join(f"n{i}\n" for i in range(5)))
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "wzp_supervisor", "task", "map", "--pool", "fast", str(prompts)],
        env={**wzp_env.env, "COLUMNS": "100"},
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    try:
        stdout, _ = proc.communicate(timeout=60)
        while select.select([leader], [], [], 0.5)[0]:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert [o["index"] for o in lines(stdout.decode())] == list(range(5))
    assert b"pool fast" in seen and b"5/5" in seen


# pool list / pools, and pool tasks in task list / show


def test_pool_list_shows_workers_queues_and_the_rate_limit(
    wzp_env: WzpEnv, hub: FakePoolHub
) -> None:
    done = wzp_env.wzp("pool", "list")
    assert done.returncode == 0, done.stderr
    until = time.strftime("%H:%M", time.localtime(RESET))
    first = done.stdout.splitlines()[0]
    assert first == (
        "pool fast: 2 workers (1 busy, min 1, max 4), 5 queued, 1 running, "
        f"rate-limited until {until}"
    )
    assert "fast/w1" in done.stdout and "4321" in done.stdout and "$0.0375" in done.stdout
    assert "\x1b" not in done.stdout and "sess-\\x1b]0;pwned\\x07" in done.stdout
    assert "pool slow: 0 workers (0 busy, min 0, max 2), 0 queued, 0 running" in done.stdout
    assert wzp_env.wzp("pools").stdout == done.stdout
    as_json = json.loads(wzp_env.wzp("pools", "--json").stdout)
    assert [p["name"] for p in as_json["pools"]] == ["fast", "slow"]


def test_task_list_and_show_for_pool_tasks(wzp_env: WzpEnv, hub: FakePoolHub) -> None:
    wzp_env.wzp("task", "submit", "--pool", "fast", "hello there", "--wait", check=True)
    listed = wzp_env.wzp("task", "list", "--pool", "fast")
    assert listed.returncode == 0, listed.stderr
    assert hub.sent("task.list")[-1]["pool"] == "fast"
    row = listed.stdout.splitlines()[1].split()
    assert row[:3] == ["t1", "done", "fast/w2"]
    shown = wzp_env.wzp("task", "show", "t1")
    assert shown.returncode == 0, shown.stderr
    for text in (
        "pool:      fast",
        "agent:     fast/w2",
        "session:   sess-t1",
        "cost:      $0.0125",
        "result:\nanswer: hello there",
    ):
        assert text in shown.stdout
    assert "{" not in shown.stdout  # the structured result is not dumped as a dict
    assert "worker:" not in shown.stdout  # the worker is the agent already shown


def test_map_interrupted_cancels_the_unfinished_tasks(wzp_env: WzpEnv, hub: FakePoolHub) -> None:
    prompts = wzp_env.root / "p.txt"
    prompts.write_text("quick\nsleep:60 a\nsleep:60 b\n")

    def first_result_printed(proc: subprocess.Popen[str]) -> None:
        wzp_env.wait_for(lambda: len(hub.sent("task.submit")) == 3, what="three submits")
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the quick task's result, printed: the map has seen it
        assert json.loads(first)["index"] == 0

    argv = ["task", "map", "--pool", "fast", str(prompts)]
    mapped = ctrl_c(wzp_env, argv, first_result_printed)
    assert mapped.returncode == 130
    assert "interrupted; cancelled 2 unfinished tasks" in mapped.stderr
    assert lines(mapped.stdout) == []  # nothing after the first line
    assert sorted(m["task"] for m in hub.sent("task.cancel")) == ["t2", "t3"]
    assert hub.tasks["t2"]["state"] == "cancelled"
    # not queued behind the interrupted task.wait, whose reply comes only when the wait ends
    [mapping] = hub.connections_of("task.submit")
    assert mapping not in hub.connections_of("task.cancel")


def test_ctrl_c_while_waiting_leaves_the_task_running_and_says_so(
    wzp_env: WzpEnv, hub: FakePoolHub
) -> None:
    argv = ["task", "submit", "--pool", "fast", "sleep:60 long", "--wait"]
    waited = ctrl_c(
        wzp_env, argv, lambda _: wzp_env.wait_for(lambda: hub.sent("task.wait"), what="a wait")
    )
    assert waited.returncode == 130, waited.stderr
    assert "Aborted!" not in waited.stderr and waited.stdout == ""
    assert "interrupted; task t1 goes on without you (`wzp task show t1`" in waited.stderr
    assert hub.sent("task.cancel") == [] and hub.tasks["t1"]["finished"] is None


def test_no_pools_says_where_to_define_them(wzp_env: WzpEnv) -> None:
    with FakePoolHub(wzp_env.runtime_dir / "hub.sock", []):
        done = wzp_env.wzp("pools")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "no pools (define them under pools.<name> in the config)\n"


def test_map_reads_a_pipe_given_as_file(wzp_env: WzpEnv, hub: FakePoolHub) -> None:
    fifo = wzp_env.root / "prompts.fifo"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["/bin/sh", "-c", f"printf 'a\\nb\\n' > {fifo}"])
    try:
        done = wzp_env.wzp("task", "map", "--pool", "fast", str(fifo))
    finally:
        writer.wait(timeout=30)
    assert done.returncode == 0, done.stderr
    assert [o["text"] for o in lines(done.stdout)] == ["answer: a", "answer: b"]
