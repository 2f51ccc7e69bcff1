"""A pool's concurrency per workspace: ``pools.<name>.concurrency: {total, per_workspace}``.

The real CLI in ``-p`` stream-json mode under a real daemon, against the loopback model stub;
what ran at once is read back from the daemon's own events (in order), not from timing.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.conftest import WzpEnv
from tests.model_stub import ModelStub
from tests.pool_support import hub, start_daemon, wait_all
from wzp_supervisor.config import ConfigError, PoolConcurrency, dump_config, parse_config_text

pytestmark = pytest.mark.timeout(600)

ENDS = frozenset({"TaskCompleted", "TaskFailed", "TaskCancelled", "TaskRequeued"})


def running_over_time(
    events: list[dict[str, Any]], workspace_of: dict[str, str]
) -> list[Counter[str]]:
    """The running tasks per workspace after each task event, in the daemon's order."""
    running: dict[str, str] = {}
    seen: list[Counter[str]] = []
    for event in sorted(events, key=lambda e: e["seq"]):
        task = event.get("task")
        if task not in workspace_of:
            continue
        if event["event"] == "TaskStarted":
            running[task] = workspace_of[task]
        elif event["event"] in ENDS:
            running.pop(task, None)
        else:
            continue
        seen.append(Counter(running.values()))
    return seen


def test_per_workspace_bounds_each_workspace_while_others_run(
    wzp_env: WzpEnv, model_stub: ModelStub
) -> None:
    start_daemon(wzp_env, model_stub, min=0, max=4, concurrency={"total": 4, "per_workspace": 1})
    for _ in range(6):
        model_stub.reply_slowly("a slow answer in several words", seconds=2)
    workspace_of: dict[str, str] = {}
    for i, workspace in enumerate(["a", "a", "a", "b", "b", "b"]):
        reply = hub("task.submit", prompt=f"{workspace}-{i}", pool="batch", workspace=workspace)
        assert reply["task"]["workspace"] == workspace and reply["task"]["pool"] == "batch"
        workspace_of[reply["task"]["id"]] = workspace
    tasks = wait_all(list(workspace_of))
    assert [t["state"] for t in tasks] == ["done"] * 6, tasks
    events = hub("events.recent", limit=1000)["events"]
    seen = running_over_time(events, workspace_of)
    assert max(max(c.values(), default=0) for c in seen) == 1  # never 2 of one workspace
    assert any(c["a"] == 1 and c["b"] == 1 for c in seen)  # b ran while a's were queued
    starts = [
        e["task"] for e in sorted(events, key=lambda e: e["seq"]) if e["event"] == "TaskStarted"
    ]
    a_order = [t for t in starts if workspace_of[t] == "a"]
    assert a_order == [t for t in workspace_of if workspace_of[t] == "a"]  # FIFO kept


def test_a_pool_task_names_a_workspace_only_as_a_name(
    wzp_env: WzpEnv, model_stub: ModelStub
) -> None:
    start_daemon(wzp_env, model_stub, min=0, max=1)
    from wzp_supervisor.cli.hub_client import RequestFailed

    with pytest.raises(RequestFailed) as err:
        hub("task.submit", prompt="x", pool="batch", workspace="Not A Name")
    assert err.value.code == "invalid" and "Not A Name" in err.value.message
    with pytest.raises(RequestFailed) as err:
        hub("task.submit", prompt="x", workspace="nowhere")  # an agent task still needs one
    assert err.value.code == "not_found"


@pytest.mark.parametrize(
    ("value", "total", "per_workspace"),
    [
        ("3", 3, None),
        ("{total: 2, per_workspace: 1}", 2, 1),
        ("{per_workspace: 2}", None, 2),
        ("{total: 3}", 3, None),
        ("null", None, None),
    ],
)
def test_concurrency_is_an_int_or_a_mapping(
    value: str, total: int | None, per_workspace: int | None
) -> None:
    config = parse_config_text(f"pools:\n  batch:\n    concurrency: {value}\n", "x.yaml")
    assert config.pools["batch"].concurrency == PoolConcurrency(total, per_workspace)
    for fmt in ("yaml", "toml", "json"):
        again = parse_config_text(dump_config(config, fmt), "dump", fmt)  # type: ignore[arg-type]
        assert again.pools["batch"].concurrency == config.pools["batch"].concurrency


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (
            "{per_ws: 1}",
            "x.yaml:4: pools.batch.concurrency.per_ws: unknown key; did you mean 'per_workspace'?",
        ),
        ("{total: 0}", "x.yaml:4: pools.batch.concurrency.total:"),
        ("{per_workspace: true}", "x.yaml:4: pools.batch.concurrency.per_workspace:"),
        ("[1, 2]", "x.yaml:4: pools.batch.concurrency: must be an integer or a mapping"),
        ("0", "x.yaml:4: pools.batch.concurrency:"),
    ],
)
def test_bad_concurrency_names_the_file_line_and_key(value: str, error: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config_text(
            f"framework: {{}}\npools:\n  batch:\n    concurrency: {value}\n", "x.yaml"
        )
    assert str(err.value).startswith(error), str(err.value)
