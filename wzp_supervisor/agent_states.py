"""Agent states from Claude Code hooks: starting → busy ⇄ waiting_input → idle.

A daemon feature. Claude Code runs ``wzp hook EVENT`` for each
hook event and that sends one ``status.update`` message here; supervision events
(ProcessStarted/Exited/Fatal/Stopped) add ``starting``, ``exited``, ``backoff``, ``fatal`` and
``stopped``. Every change is published as ``AgentStateChanged {target, state, previous, reason,
message}`` and shown in process listings (``agent_state``, ``agent_since``, …).

Only panes whose spec says ``agent == "claude"`` get an agent state; other panes show their
process state (running/exited) only.

The session id of a SessionStart (it changes after ``/clear``) replaces the recorded one and is
written atomically to ``paths.session_id_file``, which the session holder reads at each start:
a restart resumes the latest conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from wzp_supervisor import paths, protocol
from wzp_supervisor.agents import claude
from wzp_supervisor.features import DaemonContext, FeatureBase, SavedState
from wzp_supervisor.protocol import ProtocolError
from wzp_supervisor.states import (
    AGENT_STATES,
    LIVE_PROCESS_STATES,
    STATE_SOURCES,
    SUPERVISION_EVENT_STATES,
    ProcessInfo,
)

log = logging.getLogger(__name__)

HookObserver = Callable[[str, str, Mapping[str, Any]], None]
"""Called with (target, hook event, payload) after each status.update was applied."""


@dataclass
class AgentRecord:
    """What is known about one Claude agent."""

    target: str
    state: str = "starting"
    since: float = 0.0
    reason: str | None = None
    message: str | None = None
    session_id: str | None = None
    last_event: str | None = None
    last_event_at: float | None = None
    source: str | None = None
    permission_mode: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (for state.json and listings)."""
        return {
            "state": self.state,
            "since": self.since,
            "reason": self.reason,
            "message": self.message,
            "source": self.source,
            "session_id": self.session_id,
            "last_event": self.last_event,
            "last_event_at": self.last_event_at,
            "permission_mode": self.permission_mode,
        }

    @classmethod
    def from_json(cls, target: str, data: Mapping[str, Any]) -> AgentRecord:
        """A record from its saved form; bad fields fall back to defaults."""

        def text(name: str) -> str | None:
            value = data.get(name)
            return value if isinstance(value, str) else None

        def number(name: str) -> float | None:
            value = data.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
            return None

        state = text("state")
        return cls(
            target=target,
            state=state if state in AGENT_STATES else "starting",
            since=number("since") or 0.0,
            reason=text("reason"),
            message=text("message"),
            source=text("source") if text("source") in STATE_SOURCES else None,
            permission_mode=text("permission_mode"),
            session_id=text("session_id"),
            last_event=text("last_event"),
            last_event_at=number("last_event_at"),
        )


class AgentStates(FeatureBase):
    """Per-agent states from hooks and supervision; the ``status.update`` hub type; session
    ids kept current for resume."""

    def __init__(self, ctx: DaemonContext) -> None:
        self.ctx = ctx
        self.records: dict[str, AgentRecord] = {}
        self._observers: list[HookObserver] = []
        self._unknown_events: set[str] = set()
        ctx.hub.register("status.update", self.handle_update)
        ctx.hub.register("agent.states", self.handle_states)
        ctx.bus.add_listener(self._on_event)

    # -- public API for other extensions ----------------------------------------------------

    def add_observer(self, observer: HookObserver) -> None:
        """Call ``observer(target, event, payload)`` after every applied hook event."""
        self._observers.append(observer)

    def state_of(self, target: str) -> str | None:
        """The agent state of ``target`` (None for unknown targets and non-agents)."""
        record = self.records.get(target)
        return record.state if record is not None else None

    def is_claude(self, target: str) -> bool:
        """Whether ``target`` is a supervised Claude agent."""
        proc = self.ctx.processes.processes.get(target)
        return proc is not None and proc.spec.agent == "claude"

    # -- feature --------------------------------------------------------------------

    async def stop(self) -> None:
        self.ctx.bus.remove_listener(self._on_event)

    def decorate(self, processes: list[ProcessInfo]) -> None:
        """Add agent_state/agent_since/agent_reason/agent_message/session_id/task to agents."""
        for info in processes:
            if info.get("kind") != "claude":
                continue
            record = self.records.get(str(info.get("target")))
            proc_state = str(info.get("state"))
            state: str
            since: Any
            reason: str | None
            message: str | None
            source: str | None = "supervision"
            if record is not None and (proc_state == "running" or record.state == proc_state):
                state, since = record.state, record.since
                reason, message, source = record.reason, record.message, record.source
            elif proc_state == "running":
                state, since, reason, message = "starting", info.get("since"), None, None
            else:
                state, since, reason, message = proc_state, info.get("since"), None, None
            info["agent_state"] = state
            info["agent_since"] = since
            info["agent_reason"] = reason
            info["agent_message"] = message
            info["agent_source"] = source
            info["permission_mode"] = record.permission_mode if record is not None else None
            info["session_id"] = record.session_id if record is not None else None

    def state_contribution(self) -> dict[str, Any]:
        return {"agent_states": {t: r.to_json() for t, r in self.records.items()}}

    def restore(self, state: SavedState) -> None:
        saved = state.get("agent_states")
        if not isinstance(saved, Mapping):
            return
        for target, data in saved.items():
            if isinstance(target, str) and isinstance(data, Mapping):
                self.records[target] = AgentRecord.from_json(target, data)

    # -- hub --------------------------------------------------------------------------------

    async def handle_update(self, msg: dict[str, Any]) -> dict[str, Any]:
        """``status.update {agent, event, payload}`` from ``wzp hook``."""
        target = protocol.field(msg, "agent", str)
        event = protocol.field(msg, "event", str)
        payload = protocol.field(msg, "payload", dict, required=False) or {}
        proc = self.ctx.processes.processes.get(target)
        if proc is None:
            raise ProtocolError(protocol.NOT_FOUND, f"no supervised process {target!r}")
        if proc.spec.agent != "claude":
            return {"ignored": "not a Claude agent"}
        if proc.state not in LIVE_PROCESS_STATES:
            return {"ignored": f"process is {proc.state}"}
        if event not in claude.HOOK_EVENTS:
            if event not in self._unknown_events and len(self._unknown_events) < 100:
                self._unknown_events.add(event)
                log.warning("%s: ignoring unknown hook event %.60r", target, event)
            return {"ignored": "unknown hook event"}
        record = self._record(target)
        record.last_event = event
        record.last_event_at = time.time()
        mode = claude.permission_mode(payload)
        if mode is not None:
            record.permission_mode = mode
        if event == "SessionStart":
            self._set_session_id(record, payload.get("session_id"))
        state, reason, message = claude.state_for_event(event, payload)
        if state is not None:
            self.set_state(target, state, reason, message, source="hook")
        for observer in list(self._observers):
            try:
                observer(target, event, payload)
            except Exception:
                log.exception("hook observer %r failed on %s %s", observer, target, event)
        return {"state": record.state}

    async def handle_states(self, msg: dict[str, Any]) -> dict[str, Any]:
        """``agent.states``: every agent record (debugging and tools)."""
        del msg
        return {"agents": {t: r.to_json() for t, r in self.records.items()}}

    # -- state changes ----------------------------------------------------------------------

    def set_state(
        self,
        target: str,
        state: str,
        reason: str | None = None,
        message: str | None = None,
        source: str = "supervision",
    ) -> None:
        """Move ``target`` to ``state`` (set by ``source``, one of STATE_SOURCES); publishes
        AgentStateChanged when anything changed."""
        record = self._record(target)
        previous = record.state
        if previous == state and record.reason == reason and record.message == message:
            record.source = source
            return
        if previous != state:
            record.since = time.time()
        record.state, record.reason, record.message = state, reason, message
        record.source = source
        self.ctx.bus.publish(
            "AgentStateChanged",
            "state",
            target=target,
            state=state,
            previous=previous,
            reason=reason,
            message=message,
            source=source,
        )

    def _record(self, target: str) -> AgentRecord:
        record = self.records.get(target)
        if record is None:
            record = AgentRecord(target=target, since=time.time())
            self.records[target] = record
        return record

    def _set_session_id(self, record: AgentRecord, value: object) -> None:
        if not isinstance(value, str):
            return
        try:
            session_id = str(uuid.UUID(value))
        except ValueError:
            return
        if session_id == record.session_id:
            return
        record.session_id = session_id
        workspace, _, pane = record.target.partition("/")
        try:
            claude.write_session_id(paths.session_id_file(workspace, pane), session_id)
        except OSError:
            log.exception("%s: could not record session id %s", record.target, session_id)
        self.ctx.schedule_save()

    def _on_event(self, event: dict[str, Any]) -> None:
        """Bus listener: supervision events become agent states. Never raises."""
        try:
            name = event.get("event")
            target = event.get("target")
            state = SUPERVISION_EVENT_STATES.get(str(name))
            if state is None or not isinstance(target, str) or not self.is_claude(target):
                return
            if name == "ProcessStarted":
                record = self._record(target)
                if record.session_id is None:
                    workspace, _, pane = target.partition("/")
                    record.session_id = claude.read_session_id(
                        paths.session_id_file(workspace, pane)
                    )
                self.set_state(target, "starting")
                return
            self.set_state(target, state, _text(event.get("reason")))
            if name == "ProcessExited":
                # The supervisor decides (restart, backoff, exited) right after publishing.
                with contextlib.suppress(RuntimeError):
                    asyncio.get_running_loop().call_soon(self._follow_supervision, target)
        except Exception:
            log.exception("agent states: could not handle %r", event.get("event"))

    def _follow_supervision(self, target: str) -> None:
        proc = self.ctx.processes.processes.get(target)
        if proc is not None and proc.state in ("backoff", "fatal"):
            self.set_state(target, proc.state, proc.reason or None)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
