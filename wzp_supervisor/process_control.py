"""Hub types that look at and steer supervised processes: ``ping``, ``status``,
``process.*``, ``config.get``, ``events.recent`` and ``shutdown``."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from wzp_supervisor import __version__, protocol
from wzp_supervisor.config import config_to_dict
from wzp_supervisor.features import DaemonContext, FeatureBase
from wzp_supervisor.managed_process import ManagedProcess, ProcessTableError
from wzp_supervisor.protocol import ProtocolError


class RequestStop(Protocol):
    """Ends the daemon (see ``Daemon.request_stop``)."""

    def __call__(self, keep_agents: bool = False, exec_again: bool = False) -> None: ...


class ProcessControl(FeatureBase):
    """Serves the daemon's own hub types; ``request_stop`` ends the daemon."""

    def __init__(
        self,
        ctx: DaemonContext,
        config_path: Path | None,
        request_stop: RequestStop,
        warnings: Sequence[str] = (),
    ) -> None:
        self.ctx = ctx
        self.warnings = warnings
        self.config_path = config_path
        self.request_stop = request_stop
        self.status_sections: dict[str, Callable[[], Any]] = {}
        """Further sections of the ``status`` reply (``pools``), by name."""
        register = ctx.hub.register
        register("ping", self.ping)
        register("status", self.status)
        register("process.list", self.status)
        register("process.start", self._control("start"))
        register("process.stop", self._control("stop"))
        register("process.restart", self._control("restart"))
        register("process.kill", self._control("kill"))
        register("process.signal", self.signal)
        register("config.get", self.config_get)
        register("events.recent", self.events_recent)
        register("shutdown", self.shutdown)
        register("daemon.restart", self.restart_daemon)

    async def ping(self, _msg: dict[str, Any]) -> dict[str, Any]:
        """Who answers, and what went wrong at start (a state file restored from a backup)."""
        return {
            "pid": os.getpid(),
            "version": __version__,
            "uptime": time.time() - self.ctx.started,
            "warnings": list(self.warnings),
        }

    async def status(self, msg: dict[str, Any]) -> dict[str, Any]:
        reply = {
            "daemon": await self.ping(msg),
            "workspaces": self.ctx.workspaces.listing(),
            "processes": self.ctx.snapshot(),
        }
        for name, section in self.status_sections.items():
            reply[name] = section()
        return reply

    def _targets(self, msg: dict[str, Any]) -> list[ManagedProcess]:
        target = protocol.field(msg, "target", str)
        try:
            return self.ctx.processes.select(target)
        except ProcessTableError as exc:
            raise ProtocolError(exc.code, exc.message) from None

    def _control(self, action: str) -> Any:
        async def handle(msg: dict[str, Any]) -> dict[str, Any]:
            procs = self._targets(msg)
            table = self.ctx.processes
            if action == "start":
                await asyncio.gather(*(table.start(p) for p in procs))
            elif action == "stop":
                await asyncio.gather(*(table.stop(p) for p in procs))
            elif action == "restart":  # with the running config's spec and environment
                current = self.ctx.workspaces.current_spec
                procs = list(
                    await asyncio.gather(*(table.restart(p, current(p.target)) for p in procs))
                )
            else:
                await asyncio.gather(*(table.stop(p, kill=True) for p in procs))
            return {"processes": [p.info() for p in procs]}

        return handle

    async def signal(self, msg: dict[str, Any]) -> dict[str, Any]:
        name = protocol.field(msg, "signal", str).upper()
        try:
            signum = signal.Signals[name if name.startswith("SIG") else f"SIG{name}"]
        except KeyError:
            raise ProtocolError(protocol.INVALID, f"unknown signal {name!r}") from None
        procs = self._targets(msg)
        try:
            for proc in procs:
                self.ctx.processes.signal(proc, signum)
        except ProcessTableError as exc:
            raise ProtocolError(exc.code, exc.message) from None
        return {"signalled": [p.target for p in procs], "signal": signum.name}

    async def config_get(self, _msg: dict[str, Any]) -> dict[str, Any]:
        return {
            "config": config_to_dict(self.ctx.config(), mask_secrets=True),
            "path": os.fspath(self.config_path) if self.config_path else None,
        }

    async def events_recent(self, msg: dict[str, Any]) -> dict[str, Any]:
        limit = protocol.field(msg, "limit", int, required=False) or 100
        return {"events": list(self.ctx.bus.recent)[-limit:]}

    async def shutdown(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Stop the daemon: every agent first, unless ``keep_agents``."""
        keep = bool(protocol.field(msg, "keep_agents", bool, required=False))
        asyncio.get_running_loop().call_soon(lambda: self.request_stop(keep_agents=keep))
        return {"stopping": True, "pid": os.getpid(), "keep_agents": keep}

    async def restart_daemon(self, _msg: dict[str, Any]) -> dict[str, Any]:
        """Replace the daemon with a new one in the same process; the agents keep running."""
        asyncio.get_running_loop().call_soon(lambda: self.request_stop(exec_again=True))
        return {"restarting": True, "pid": os.getpid()}
