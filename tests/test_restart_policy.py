"""The restart-policy state machine with an injected clock (no processes, no sleeping)."""

from __future__ import annotations

import pytest

from wzp_supervisor.restart_policy import RestartSettings, RestartTracker, describe_exit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def tracker(**kw: object) -> tuple[RestartTracker, Clock]:
    clock = Clock()
    return RestartTracker(RestartSettings(**kw), clock=clock), clock  # type: ignore[arg-type]


def test_long_running_process_restarts_at_once_every_time() -> None:
    t, clock = tracker(policy="always", min_uptime=10)
    for _ in range(20):
        t.on_start()
        clock.now += 11
        decision = t.on_exit(-9)
        assert decision.action == "restart"
        assert decision.delay == 0
    assert t.quick_failures == 0


def test_crash_loop_backs_off_exponentially_then_goes_fatal() -> None:
    t, clock = tracker(policy="always", min_uptime=10, max_retries=5, backoff_max=60)
    delays = []
    for _ in range(4):
        t.on_start()
        clock.now += 0.1
        decision = t.on_exit(1)
        assert decision.action == "backoff"
        delays.append(decision.delay)
    assert delays == [1, 2, 4, 8]
    t.on_start()
    clock.now += 0.1
    fatal = t.on_exit(1)
    assert fatal.action == "fatal"
    assert "5 times in a row" in fatal.reason


def test_backoff_is_capped() -> None:
    t, clock = tracker(policy="always", min_uptime=10, max_retries=50, backoff_max=5)
    delays = []
    for _ in range(8):
        t.on_start()
        clock.now += 1
        delays.append(t.on_exit(2).delay)
    assert max(delays) == 5
    assert delays[:3] == [1, 2, 4]


def test_a_long_run_resets_the_crash_count() -> None:
    t, clock = tracker(policy="always", min_uptime=10, max_retries=3)
    for _ in range(2):
        t.on_start()
        clock.now += 1
        assert t.on_exit(1).action == "backoff"
    t.on_start()
    clock.now += 30
    assert t.on_exit(1).action == "restart"
    t.on_start()
    clock.now += 1
    assert t.on_exit(1).delay == 1  # counting starts over


@pytest.mark.parametrize(("code", "action"), [(0, "exited"), (3, "restart"), (-15, "restart")])
def test_on_failure_restarts_only_failures(code: int, action: str) -> None:
    t, clock = tracker(policy="on-failure", min_uptime=1)
    t.on_start()
    clock.now += 5
    assert t.on_exit(code).action == action


def test_never_leaves_it_down() -> None:
    t, clock = tracker(policy="never")
    t.on_start()
    clock.now += 100
    decision = t.on_exit(-9)
    assert decision.action == "exited"
    assert decision.reason == "killed by SIGKILL"


def test_reset_clears_fatal_history() -> None:
    t, _clock = tracker(policy="always", min_uptime=10, max_retries=2)
    for _ in range(2):
        t.on_start()
        t.on_exit(1)
    t.reset()
    t.on_start()
    assert t.on_exit(1).action == "backoff"


def test_describe_exit() -> None:
    assert describe_exit(0) == "exited (code 0)"
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(-200) == "killed by signal 200"
