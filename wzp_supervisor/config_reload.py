"""Config reload (SIGHUP or `wzp reload`): re-read the config and apply it to live workspaces.

Panes whose spec and environment did not change keep running untouched; changed panes are
restarted with the new spec; new panes are added and removed panes stopped. A workspace whose
template left the config keeps running from its last known definition, and the reply is an
error naming it. A config that does not load keeps the running one and the error
(file:line: key: message) is reported to the requester.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wzp_supervisor import protocol
from wzp_supervisor.config import Config, ConfigError, load_config
from wzp_supervisor.features import DaemonContext, FeatureBase
from wzp_supervisor.protocol import ProtocolError
from wzp_supervisor.systemd_notify import SdNotifier
from wzp_supervisor.workspaces import orphan_message

log = logging.getLogger("wzp.reload")


class Reloader(FeatureBase):
    """Serves the ``reload`` hub type (and SIGHUP through ``reload``)."""

    def __init__(
        self,
        ctx: DaemonContext,
        notifier: SdNotifier,
        config_path: Path | None,
        apply_config: Callable[[Config], None],
    ) -> None:
        self.ctx = ctx
        self.notifier = notifier
        self.config_path = config_path
        self.apply_config = apply_config
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self.ctx.hub.register("reload", self.handle)

    async def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Apply the config now; with ``wait`` false the reply comes before agents restart."""
        if msg.get("wait", True):
            return await self.reload()
        task = asyncio.ensure_future(self.reload())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return {"requested": True}

    async def reload(self) -> dict[str, Any]:
        async with self._lock:
            notifier = self.notifier
            notifier.reloading()
            try:
                return await self._apply()
            finally:
                notifier.ready(status="reloaded")

    async def _apply(self) -> dict[str, Any]:
        ctx = self.ctx
        path: Path | None = self.config_path
        try:
            config = await asyncio.get_running_loop().run_in_executor(None, load_config, path)
        except (ConfigError, OSError) as exc:
            log.error("reload refused, keeping the running config: %s", exc)
            ctx.bus.publish("Error", "error", reason=f"reload refused: {exc}")
            raise ProtocolError(protocol.INVALID, str(exc)) from None
        self.apply_config(config)
        changed: list[str] = []
        started: list[str] = []
        stopped: list[str] = []
        orphans: dict[str, list[str]] = {}  # template gone from the config -> its workspaces
        for name, record in list(ctx.workspaces.records.items()):
            template = config.templates.get(record.template)
            if template is None:  # keeps running from its last known definition
                orphans.setdefault(record.template, []).append(name)
                continue
            record.definition = template  # the last known definition, saved with the state
            try:
                specs = ctx.workspaces.expand(name, template, Path(record.dir))
            except ProtocolError as exc:
                log.error("workspace %s keeps its running processes: %s", name, exc.message)
                continue
            wanted = {s.target: s for s in specs if s.supervised}
            current = {p.target: p for p in ctx.workspaces.processes_of(name)}
            for target, proc in current.items():
                if target not in wanted:
                    await ctx.processes.unregister(proc)
                    stopped.append(target)
                elif ctx.processes.differs(proc, wanted[target]):
                    await ctx.processes.replace(proc, wanted[target])
                    changed.append(target)
            for target, spec in wanted.items():
                if target not in current:
                    proc = ctx.processes.register(spec)
                    if template.auto_start:
                        await ctx.processes.start(proc)
                    started.append(target)
        ctx.schedule_save()
        ctx.bus.publish(
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
        if orphans:
            message = "; ".join(orphan_message(names, t) for t, names in orphans.items())
            message += "; the rest of the new config is applied"
            log.error("%s", message)
            ctx.bus.publish("Error", "error", reason=message)
            raise ProtocolError(protocol.CONFLICT, message)
        return {"changed": changed, "restarted": changed, "started": started, "stopped": stopped}
