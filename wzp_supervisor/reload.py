"""Config reload (SIGHUP or `wzp reload`): re-read the config and apply it to live workspaces.

Panes whose spec did not change keep running untouched; changed panes are restarted with the
new spec; new panes are added and removed panes stopped. A config that does not load keeps the
running one and the error (file:line: key: message) is reported to the requester.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wzp_supervisor import protocol
from wzp_supervisor.config import ConfigError, load_config
from wzp_supervisor.protocol import ProtocolError
from wzp_supervisor.supervisor import ManagedProcess

if TYPE_CHECKING:
    from wzp_supervisor.daemon import Daemon

log = logging.getLogger("wzp.reload")


class Reloader:
    """Daemon extension serving the ``reload`` hub type."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self.daemon.hub.register("reload", self.handle)

    async def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Apply the config now; with ``wait`` false the reply comes before agents restart."""
        if msg.get("wait", True):
            return await self.reload()
        task = asyncio.ensure_future(self.reload())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return {"requested": True}

    async def reload(self) -> dict[str, Any]:
        async with self._lock:
            notifier = self.daemon.notifier
            notifier.reloading()
            try:
                return await self._apply()
            finally:
                notifier.ready(status="reloaded")

    async def _apply(self) -> dict[str, Any]:
        daemon = self.daemon
        path: Path | None = daemon.config_path
        try:
            config = await asyncio.get_running_loop().run_in_executor(None, load_config, path)
        except (ConfigError, OSError) as exc:
            log.error("reload refused, keeping the running config: %s", exc)
            daemon.bus.publish("Error", "error", reason=f"reload refused: {exc}")
            raise ProtocolError(protocol.INVALID, str(exc)) from None
        old_config = daemon.config
        daemon.config = config
        daemon.supervisor.passthrough = tuple(config.processes.env_passthrough)
        changed: list[str] = []
        started: list[str] = []
        stopped: list[str] = []
        for name, record in list(daemon.workspaces.records.items()):
            try:
                specs = daemon.workspaces.expand(name, record.template, Path(record.dir))
            except ProtocolError as exc:
                log.error("workspace %s keeps its running processes: %s", name, exc.message)
                continue
            wanted = {s.target: s for s in specs if s.supervised}
            current = {p.target: p for p in daemon.workspaces.processes_of(name)}
            template = config.templates[record.template]
            for target, proc in current.items():
                if target not in wanted:
                    await daemon.supervisor.unregister(proc)
                    stopped.append(target)
                elif wanted[target] != proc.spec:
                    await self._replace(proc, wanted[target])
                    changed.append(target)
            for target, spec in wanted.items():
                if target not in current:
                    proc = daemon.supervisor.register(spec)
                    if template.auto_start:
                        await daemon.supervisor.start(proc)
                    started.append(target)
        daemon.schedule_save()
        daemon.bus.publish(
            "ConfigReloaded",
            "daemon",
            changed=changed,
            started=started,
            stopped=stopped,
            path=str(config.path or "built-in"),
        )
        log.info(
            "config reloaded: %d changed, %d added, %d removed",
            len(changed),
            len(started),
            len(stopped),
        )
        del old_config
        return {"changed": changed, "restarted": changed, "started": started, "stopped": stopped}

    async def _replace(self, proc: ManagedProcess, spec: Any) -> None:
        """Restart ``proc`` with a new spec, keeping its desired state and restart count."""
        supervisor = self.daemon.supervisor
        desired = proc.desired
        restarts = proc.restarts
        await supervisor.unregister(proc)
        new = supervisor.register(spec, desired, restarts)
        if desired == "running":
            await supervisor.start(new)
