"""Tasks as data: a prompt for an agent, its life (queued → running → done | failed |
cancelled), and the queue's order (highest priority first, FIFO within a priority).

Pure: no I/O, no event loop. ``task_queue.TaskQueue`` serves and delivers them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

MAX_PROMPT_CHARS = 100_000
"""Longest prompt accepted."""

KEEP_FINISHED = 1000
"""Finished tasks kept (in memory and in state.json); older ones are forgotten."""

MAX_REQUEUES = 1
"""How often a task whose agent died mid-task is queued again before it fails."""

PASTE_READY_WAIT_S = 5.0
"""How long to wait for an agent to enable bracketed paste (its prompt is ready) first."""

CONFIRM_S = 4.0
"""How long a typed prompt may wait for its UserPromptSubmit hook before Enter is pressed
again (then the input is cleared and the prompt typed again; then the task fails)."""

RESULT_EXCERPT_CHARS = 500
"""Length of the result excerpt carried by TaskCompleted events."""

TERMINAL = frozenset({"done", "failed", "cancelled"})


@dataclass
class Task:
    """One prompt for an agent and what became of it."""

    id: str
    seq: int
    prompt: str
    kind: str = "task"  # task | broadcast
    target: str | None = None  # the agent it must run on (task.request, broadcast)
    workspace: str | None = None  # task.submit scope (None: any agent)
    priority: int = 0
    state: str = "queued"
    agent: str | None = None  # the agent running / that ran it
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    result: str | None = None
    error: str | None = None
    attempts: int = 0
    requeues: int = 0
    pool: str | None = None  # a pool task runs on a headless worker of this pool
    session: str | None = None  # pool tasks: "new", "reuse" or a session id to resume
    outcome: dict[str, Any] | None = None  # pool tasks: the structured result of the turn

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (replies and state.json); a pool task's ``result`` is its structured
        outcome (the text is ``result.text``)."""
        data = asdict(self)
        outcome = data.pop("outcome")
        if self.pool is not None:
            data["result"] = outcome
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Task | None:
        """A task from its saved form, or None when it is unusable."""
        known = {f.name for f in fields(cls)} - {"outcome"}
        data = dict(data)
        if isinstance(data.get("result"), Mapping):  # a pool task's structured result
            outcome = dict(data["result"])
            text = outcome.get("text")
            data["result"] = text if isinstance(text, str) else None
        else:
            outcome = None
        try:
            task = cls(**{k: v for k, v in data.items() if k in known})
        except TypeError:
            return None
        if not isinstance(task.id, str) or not isinstance(task.seq, int):
            return None
        if not isinstance(task.prompt, str):
            return None
        task.outcome = outcome
        return task

    def matches(self, target: str, workspace: str) -> bool:
        """Whether an agent ``target`` of ``workspace`` may run this queued task."""
        if self.pool is not None:
            return False  # a pool's workers take it
        if self.target is not None:
            return self.target == target
        return self.workspace is None or self.workspace == workspace


def next_task(queued: Iterable[Task], target: str, workspace: str) -> Task | None:
    """The queued task agent ``target`` of ``workspace`` should run next, if any."""
    best: Task | None = None
    for task in queued:
        if task.matches(target, workspace) and (
            best is None or (-task.priority, task.seq) < (-best.priority, best.seq)
        ):
            best = task
    return best
