"""A stand-in hub serving the pool task contract, for testing the CLI without a daemon.

A real Unix socket speaking the NDJSON protocol at the runtime dir's ``hub.sock``: it serves
``task.submit`` (with ``pool``), ``task.wait``, ``task.show``, ``task.list``, ``task.cancel``
and ``pool.list``, rejects fields the contract does not name, and records every request.
A task finishes after a delay its prompt chooses:

- ``sleep:S …``: finishes after S seconds (default 0.05);
- ``fail …``: fails with "worker died twice";
- ``iserror …``: done with an ``is_error`` result (subtype ``error_during_execution``);
- anything else: done with the text ``answer: <prompt>``.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from tests.claude_env import FakeHub

FIELDS: dict[str, set[str]] = {
    "task.submit": {"prompt", "pool", "session", "priority", "wait", "timeout", "workspace"},
    "task.wait": {"task", "timeout"},
    "task.show": {"task"},
    "task.list": {"state", "limit", "pool"},
    "task.cancel": {"task"},
    "pool.list": set(),
}


class Conflict(Exception):
    """A request the state of the task refuses (the hub's ``conflict`` error)."""


class FakePoolHub(FakeHub):
    """The fake hub; ``pools`` is what ``pool.list`` answers (names are the known pools)."""

    idle_timeout = None  # the CLI may keep a connection open while it waits for tasks

    def __init__(self, path: Path, pools: list[dict[str, Any]]) -> None:
        self.pools = pools
        self.tasks: dict[str, dict[str, Any]] = {}
        self.max_unfinished = 0
        self._cond = threading.Condition()
        super().__init__(path)

    def _answer(self, line: bytes) -> bytes:
        return json.dumps(self._reply(json.loads(line))).encode() + b"\n"

    def _reply(self, message: dict[str, Any]) -> dict[str, Any]:
        kind = message.get("type", "")
        fields = {k: v for k, v in message.items() if k not in ("v", "id", "type")}
        envelope = {"v": 1, "id": message.get("id")}
        if kind not in FIELDS:
            return {**envelope, "ok": False, "error": {"code": "unknown_type", "message": kind}}
        unknown = sorted(set(fields) - FIELDS[kind])
        if unknown:
            error = {"code": "bad_request", "message": f"unknown field {unknown[0]!r}"}
            return {**envelope, "ok": False, "error": error}
        try:
            return {**envelope, "ok": True, **getattr(self, kind.replace(".", "_"))(fields)}
        except LookupError as exc:
            return {**envelope, "ok": False, "error": {"code": "not_found", "message": exc.args[0]}}
        except Conflict as exc:
            return {**envelope, "ok": False, "error": {"code": "conflict", "message": exc.args[0]}}

    # the served types

    def task_submit(self, fields: dict[str, Any]) -> dict[str, Any]:
        pool = fields.get("pool")
        if pool is not None and pool not in {p["name"] for p in self.pools}:
            raise LookupError(f"no pool named {pool!r}")
        with self._cond:
            task_id = f"t{len(self.tasks) + 1}"
            task = {
                "id": task_id,
                "seq": len(self.tasks) + 1,
                "prompt": fields["prompt"],
                "kind": "task",
                "pool": pool,
                "workspace": fields.get("workspace"),
                "priority": fields.get("priority", 0),
                "state": "running",
                "agent": None,
                "created": time.time(),
                "started": time.time(),
                "finished": None,
                "result": None,
                "error": None,
                "attempts": 1,
            }
            self.tasks[task_id] = task
            unfinished = sum(1 for t in self.tasks.values() if t["finished"] is None)
            self.max_unfinished = max(self.max_unfinished, unfinished)
        first = str(fields["prompt"]).split()[0] if str(fields["prompt"]).split() else ""
        delay = float(first.split(":", 1)[1]) if first.startswith("sleep:") else 0.05
        threading.Timer(delay, self._finish, args=(task_id,)).start()
        if fields.get("wait"):
            return self._wait(task_id, float(fields.get("timeout", 5.0)))
        return {"task": dict(task), "done": False, "response": None}

    def _finish(self, task_id: str) -> None:
        with self._cond:
            task = self.tasks[task_id]
            if task["finished"] is not None:
                return
            prompt = str(task["prompt"])
            task["finished"] = time.time()
            worker = f"{task['pool']}/w{int(task['seq']) % 2 + 1}"
            task["agent"] = worker
            if prompt.startswith("fail"):
                task["state"], task["error"] = "failed", "worker died twice"
            else:
                is_error = prompt.startswith("iserror")
                task["state"] = "done"
                task["result"] = {
                    "text": "API Error: 500" if is_error else f"answer: {prompt}",
                    "is_error": is_error,
                    "subtype": "error_during_execution" if is_error else "success",
                    "cost_usd": 0.0125,
                    "usage": {"input_tokens": 10, "output_tokens": 3},
                    "duration_s": 0.5,
                    "session_id": f"sess-{task_id}",
                    "worker": worker,
                }
            self._cond.notify_all()

    def _wait(self, task_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + min(timeout, 5.0)
        with self._cond:
            task = self._task(task_id)
            while task["finished"] is None and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
            done = task["finished"] is not None
            response = (task["result"] or {}).get("text") if done else None
            return {"task": dict(task), "done": done, "response": response}

    def _task(self, task_id: str) -> dict[str, Any]:
        task = self.tasks.get(task_id)
        if task is None:
            raise LookupError(f"no task {task_id!r}")
        return task

    def task_wait(self, fields: dict[str, Any]) -> dict[str, Any]:
        return self._wait(fields["task"], float(fields.get("timeout", 5.0)))

    def task_show(self, fields: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            return {"task": dict(self._task(fields["task"]))}

    def task_list(self, fields: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            tasks = [
                dict(t)
                for t in self.tasks.values()
                if fields.get("pool") in (None, t["pool"])
                and fields.get("state") in (None, t["state"])
            ]
        return {"tasks": tasks}

    def task_cancel(self, fields: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            task = self._task(fields["task"])
            was = task["state"]
            if task["finished"] is not None:  # as the daemon answers
                raise Conflict(f"task {task['id']} is already {was}")
            task["state"], task["finished"] = "cancelled", time.time()
            self._cond.notify_all()
            return {"task": dict(task), "was": was}

    def pool_list(self, fields: dict[str, Any]) -> dict[str, Any]:
        return {"pools": self.pools}

    # for the tests

    def sent(self, kind: str) -> list[dict[str, Any]]:
        """Every request of ``kind`` received, in order."""
        return [m for m in self.messages() if m.get("type") == kind]

    def connections_of(self, kind: str) -> set[int]:
        """The connections (numbered as accepted) that sent requests of ``kind``."""
        with self._lock:
            pairs = list(zip(self.lines, self.line_connections, strict=True))
        return {number for line, number in pairs if json.loads(line).get("type") == kind}
