"""status.json: the pool at a glance, written atomically for the WezTerm plugin and status bars.

``build_status`` turns a process snapshot into the document described in docs/status-json.md
(a pure function); ``write_atomic`` replaces the file in one rename so a reader never sees a
partial file; ``TransitionLog`` keeps the last transitions into waiting_input or fatal with a
monotonically increasing ``seq`` so the plugin toasts each once.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from wzp_supervisor.atomic_file import atomic_write
from wzp_supervisor.states import ALERT_STATES, FOLDED, SHOWN_STATES, shown_since, shown_state

SCHEMA = 1

# The keys of every ``totals`` object, in this order.
STATES = SHOWN_STATES
MESSAGE_CHARS = 100
REASON_CHARS = 80
TASK_CHARS = 60
TRANSITIONS_KEPT = 20
# status.json stays under this size (texts are shortened first; see encode_bounded).
MAX_BYTES = 32_000


def _clip(text: Any, limit: int) -> str | None:
    if text is None or text == "":
        return None
    value = " ".join(str(text).split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def empty_totals() -> dict[str, int]:
    """Every totals key at zero (``agents`` first)."""
    return {"agents": 0, **dict.fromkeys(STATES, 0)}


def _task_summary(task: Any, prompt: Any = None) -> Any:
    """The current task, small: ``{"id", "prompt"}`` or None.

    ``task`` is a task id (with its prompt given separately) or a mapping with both.
    """
    if task is None:
        return None
    if isinstance(task, Mapping):
        return {
            "id": task.get("id"),
            "prompt": _clip(task.get("prompt"), TASK_CHARS),
        }
    return {"id": str(task), "prompt": _clip(prompt, TASK_CHARS)}


def agent_entry(proc: Mapping[str, Any]) -> dict[str, Any]:
    """One agent's record from a decorated process dict (see ``Daemon.process_snapshot``)."""
    state = shown_state(proc)
    agent_shown = proc.get("state") == "running" and bool(proc.get("agent_state"))
    reason = proc.get("agent_reason") if agent_shown else proc.get("reason")
    message = proc.get("agent_message") if agent_shown else None
    return {
        "target": proc.get("target"),
        "workspace": proc.get("workspace"),
        "pane": proc.get("pane"),
        "kind": proc.get("kind"),
        "state": state,
        "since": round(shown_since(proc), 2),
        "reason": _clip(reason, REASON_CHARS),
        "message": _clip(message, MESSAGE_CHARS),
        "cpu": round(float(proc.get("cpu") or 0.0), 1),
        "rss": int(proc.get("rss") or 0),
        "pid": proc.get("pid"),
        "restarts": int(proc.get("restarts") or 0),
        "task": _task_summary(proc.get("task"), proc.get("task_prompt")),
    }


def build_status(
    *,
    processes: Iterable[Mapping[str, Any]],
    workspaces: Iterable[Mapping[str, Any]],
    daemon: Mapping[str, Any],
    transitions: Iterable[Mapping[str, Any]] = (),
    now: float | None = None,
) -> dict[str, Any]:
    """The status.json document (schema ``SCHEMA``)."""
    totals = empty_totals()
    per_ws: dict[str, dict[str, Any]] = {}
    for ws in workspaces:
        per_ws[str(ws["name"])] = {"totals": empty_totals(), "dir": ws.get("dir")}
    entries = [(shown_since(p), agent_entry(p)) for p in processes]
    entries.sort(key=lambda e: str(e[1]["target"]))
    agents = [agent for _, agent in entries]
    cpu = 0.0
    rss = 0
    for agent in agents:
        key = FOLDED.get(agent["state"], agent["state"])
        ws_entry = per_ws.setdefault(
            str(agent["workspace"]), {"totals": empty_totals(), "dir": None}
        )
        for bucket in (totals, ws_entry["totals"]):
            bucket["agents"] += 1
            if key in bucket:
                bucket[key] += 1
        cpu += agent["cpu"]
        rss += agent["rss"]
    waiting = [
        {
            "target": a["target"],
            "since": a["since"],
            "reason": a["reason"],
            "message": a["message"],
        }
        for _, a in sorted(
            (e for e in entries if e[1]["state"] == "waiting_input"),
            key=lambda e: (e[0], str(e[1]["target"])),
        )
    ]
    return {
        "schema": SCHEMA,
        "ts": round(time.time() if now is None else now, 2),
        "daemon": dict(daemon),
        "totals": totals,
        "cpu": round(cpu, 1),
        "rss": rss,
        "workspaces": per_ws,
        "agents": agents,
        "waiting": waiting,
        "transitions": list(transitions),
    }


def pool_counts(pools: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per pool (``pool.list`` entries): queued and running tasks, workers by state, and
    the epoch time its dispatch is paused until by a rate limit (null when not paused)."""
    out: dict[str, dict[str, Any]] = {}
    for pool in pools:
        workers = list(pool.get("workers") or [])
        states = [str(w.get("state")) for w in workers]
        out[str(pool.get("name"))] = {
            "queued": pool.get("queued", 0),
            "running": pool.get("running", 0),
            "workers": len(workers),
            "idle": states.count("idle"),
            "busy": states.count("busy"),
            "min": pool.get("min"),
            "max": pool.get("max"),
            "rate_limited_until": pool.get("rate_limited_until"),
            "cost_usd": pool.get("cost_usd", 0.0),
        }
    return out


def encode(document: Mapping[str, Any]) -> bytes:
    """Compact JSON."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _shrink_steps() -> list[Callable[[dict[str, Any]], None]]:
    def drop_duplicate_messages(doc: dict[str, Any]) -> None:
        for agent in doc["agents"]:
            if agent["state"] == "waiting_input":
                agent["message"] = None  # the waiting list carries it

    def drop_task_prompts(doc: dict[str, Any]) -> None:
        for agent in doc["agents"]:
            if agent["task"]:
                agent["task"]["prompt"] = None

    def clip_texts(doc: dict[str, Any]) -> None:
        for entry in (*doc["agents"], *doc["waiting"], *doc["transitions"]):
            entry["reason"] = _clip(entry.get("reason"), 32)
        for entry in doc["waiting"]:
            entry["message"] = _clip(entry["message"], 48)
        for agent in doc["agents"]:
            agent["message"] = _clip(agent["message"], 48)

    def drop_texts(doc: dict[str, Any]) -> None:
        for entry in (*doc["agents"], *doc["waiting"]):
            entry["message"] = None
            entry["reason"] = _clip(entry.get("reason"), 16)
        for entry in doc["transitions"]:
            entry["reason"] = _clip(entry.get("reason"), 16)
        for agent in doc["agents"]:
            if agent["state"] == "waiting_input":
                agent["reason"] = None  # the waiting list carries it

    return [drop_duplicate_messages, drop_task_prompts, clip_texts, drop_texts]


def _trim_waiting(doc: dict[str, Any], size: int, limit: int) -> None:
    """Drop the newest waiting entries until the document fits (oldest first stays true)."""
    waiting = doc["waiting"]
    while waiting and size > limit:
        size -= len(encode(waiting.pop())) + 1


def encode_bounded(document: dict[str, Any], limit: int = MAX_BYTES) -> bytes:
    """Compact JSON within ``limit`` bytes where texts allow: when the document is larger,
    texts are dropped or shortened step by step (duplicate messages, task prompts, then every
    reason and message) and ``"clipped": true`` is set; as a last resort the newest entries of
    ``waiting`` are left out (``totals`` and ``agents`` still count and list them).
    """
    data = encode(document)
    if len(data) <= limit:
        return data
    document["clipped"] = True
    for step in _shrink_steps():
        step(document)
        data = encode(document)
        if len(data) <= limit:
            return data
    _trim_waiting(document, len(data), limit)
    return encode(document)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one rename; not fsynced (rewritten every second)."""
    atomic_write(path, data, durable=False)


class TransitionLog:
    """The last transitions into waiting_input or fatal, each once, with a rising ``seq``.

    ``observe`` is fed every state an agent is seen entering (from bus events); a transition
    is recorded only when the state differs from the agent's previous one, so the same
    waiting_input reported twice (a hook and a Notification) toasts once.
    """

    def __init__(self, seq: int = 0, keep: int = TRANSITIONS_KEPT) -> None:
        self.seq = seq
        self.entries: deque[dict[str, Any]] = deque(maxlen=keep)
        self._current: dict[str, str] = {}

    def observe(
        self,
        target: str,
        state: str,
        reason: str | None = None,
        ts: float | None = None,
    ) -> dict[str, Any] | None:
        """Note ``target`` entering ``state``; returns the new transition when one is recorded."""
        previous = self._current.get(target)
        self._current[target] = state
        if state not in ALERT_STATES or state == previous:
            return None
        self.seq += 1
        entry = {
            "seq": self.seq,
            "target": target,
            "to": state,
            "ts": round(time.time() if ts is None else ts, 2),
            "reason": _clip(reason, REASON_CHARS),
        }
        self.entries.append(entry)
        return entry

    def forget_workspace(self, workspace: str) -> None:
        """Agents that are gone with their workspace."""
        prefix = f"{workspace}/"
        for target in [t for t in self._current if t.startswith(prefix)]:
            del self._current[target]

    def to_list(self) -> list[dict[str, Any]]:
        return list(self.entries)
