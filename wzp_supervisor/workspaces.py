"""Workspaces in the daemon: create from a template, list, delete, restore from saved state."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from wzp_supervisor import fd_budget, protocol, states, templates
from wzp_supervisor.config import (
    Config,
    ConfigError,
    WorkspaceTemplate,
    template_from_dict,
    template_to_dict,
)
from wzp_supervisor.events import EventBus
from wzp_supervisor.managed_process import ManagedProcess
from wzp_supervisor.process_table import ProcessTable
from wzp_supervisor.protocol import ProtocolError

log = logging.getLogger("wzp.workspaces")


RESERVED_NAMES = frozenset({"all"})
"""Workspace names that mean something else as a target."""


@dataclass
class WorkspaceRecord:
    """A workspace as saved: the template it came from, its directory, and that template's
    last known definition (what it runs from if the template leaves the config)."""

    name: str
    template: str
    dir: str
    created: float
    definition: WorkspaceTemplate | None = None

    def to_state(self) -> dict[str, Any]:
        out: dict[str, Any] = {"template": self.template, "dir": self.dir, "created": self.created}
        if self.definition is not None:
            out["definition"] = template_to_dict(self.definition)
        return out

    @classmethod
    def from_state(cls, name: str, data: Mapping[str, Any]) -> WorkspaceRecord:
        record = cls(name, data["template"], data["dir"], float(data.get("created", time.time())))
        saved = data.get("definition")
        if saved is not None:
            try:
                record.definition = template_from_dict(
                    record.template, saved, f"<saved definition of workspace {name}>"
                )
            except ConfigError as exc:
                log.warning("workspace %s: its saved definition is unusable: %s", name, exc)
        return record


def orphan_message(workspaces: list[str], template: str) -> str:
    """What to tell about workspaces whose template ``template`` left the config."""
    names = ", ".join(workspaces)
    return (
        f"template {template!r} is no longer in the config; workspace(s) {names} keep running "
        "from its last known definition (put the template back, or delete the workspace(s))"
    )


class WorkspaceHook(Protocol):
    """Something that takes part in creating and deleting workspaces (worktrees)."""

    def adjust_specs(
        self,
        name: str,
        template: WorkspaceTemplate,
        directory: Path,
        specs: list[templates.PaneSpec],
    ) -> list[templates.PaneSpec]:
        """The pane specs to use instead of ``specs`` (e.g. with another cwd)."""

    async def before_create(
        self,
        name: str,
        template: WorkspaceTemplate,
        directory: Path,
        specs: list[templates.PaneSpec],
    ) -> None:
        """Prepare the workspace; raise ProtocolError to refuse it."""

    async def check_delete(self, name: str, procs: list[ManagedProcess], force: bool) -> None:
        """Raise ProtocolError to refuse deleting the workspace."""

    async def after_delete(self, name: str, procs: list[ManagedProcess], force: bool) -> None:
        """Clean up after the workspace's processes were removed."""


class WorkspaceManager:
    """Turns templates into supervised processes and keeps the workspace records."""

    def __init__(
        self,
        table: ProcessTable,
        bus: EventBus,
        config: Callable[[], Config],
        schedule_save: Callable[[], None],
        persist: Callable[[], None],
        snapshot: Callable[[], Sequence[Mapping[str, Any]]] | None = None,
    ) -> None:
        self.table = table
        # the processes as listed (decorated with agent states), for totals in shown states
        self.snapshot = snapshot or table.snapshot
        self.persist = persist
        self.bus = bus
        self._config = config
        self.schedule_save = schedule_save
        self.records: dict[str, WorkspaceRecord] = {}
        self.hooks: list[WorkspaceHook] = []

    @property
    def config(self) -> Config:
        return self._config()

    def add_hook(self, hook: WorkspaceHook) -> None:
        """Call ``hook`` on every create and delete, after the hooks added before it."""
        self.hooks.append(hook)

    def to_state(self) -> dict[str, Any]:
        return {name: rec.to_state() for name, rec in self.records.items()}

    def processes_of(self, name: str) -> list[ManagedProcess]:
        return [p for p in self.table.processes.values() if p.spec.workspace == name]

    def listing(self) -> list[dict[str, Any]]:
        """Each workspace with its processes' targets and counts by shown state."""
        listed = self.snapshot()
        return [self._describe(rec, listed) for rec in self.records.values()]

    def template_of(self, record: WorkspaceRecord) -> WorkspaceTemplate | None:
        """The workspace's template: the config's, else its last known definition."""
        template = self.config.templates.get(record.template)
        if template is not None:
            record.definition = template
            return template
        return record.definition

    def orphans(self) -> list[WorkspaceRecord]:
        """Workspaces whose template is no longer in the config."""
        return [r for r in self.records.values() if r.template not in self.config.templates]

    def current_spec(self, target: str) -> templates.PaneSpec | None:
        """The spec of supervised pane ``target`` under the running config (None if unknown)."""
        record = self.records.get(target.split("/", 1)[0])
        template = self.template_of(record) if record is not None else None
        if record is None or template is None:
            return None
        try:
            specs = self.expand(record.name, template, Path(record.dir))
        except (ProtocolError, ValueError):
            return None
        return next((s for s in specs if s.target == target and s.supervised), None)

    def expand(
        self, name: str, template: str | WorkspaceTemplate, directory: Path
    ) -> list[templates.PaneSpec]:
        """The pane specs of workspace ``name`` from ``template`` (by name: the config's)."""
        if isinstance(template, str):
            found = self.config.templates.get(template)
            if found is None:
                known = ", ".join(sorted(self.config.templates))
                raise ProtocolError(
                    protocol.NOT_FOUND, f"unknown template {template!r} (known: {known})"
                )
            template = found
        specs = templates.expand_workspace(name, directory, template, self.config)
        for hook in self.hooks:
            specs = hook.adjust_specs(name, template, directory, specs)
        return specs

    # -- create / delete --------------------------------------------------------------------

    async def handle_create(self, msg: dict[str, Any]) -> dict[str, Any]:
        name = protocol.field(msg, "name", str)
        template_name = (
            protocol.field(msg, "template", str, required=False) or self.config.default_template
        )
        directory = Path(
            os.path.expanduser(protocol.field(msg, "dir", str, required=False) or os.getcwd())
        )
        try:
            templates.validate_name("workspace", name)
        except ValueError as exc:
            raise ProtocolError(protocol.INVALID, str(exc)) from None
        if name in RESERVED_NAMES:
            raise ProtocolError(
                protocol.INVALID,
                f"{name!r} is reserved: `wzp stop {name}` means every process; pick another name",
            )
        if name in self.records:
            raise ProtocolError(protocol.CONFLICT, f"workspace {name!r} already exists")
        if not directory.is_absolute():
            raise ProtocolError(protocol.INVALID, f"directory {directory} must be absolute")
        if not directory.is_dir():
            raise ProtocolError(protocol.INVALID, f"directory {directory} does not exist")
        if directory.stat().st_uid != os.getuid():
            raise ProtocolError(protocol.INVALID, f"directory {directory} is not yours")
        limit = self.config.framework.max_workspaces
        if len(self.records) >= limit:
            raise ProtocolError(
                protocol.LIMIT,
                f"framework.max_workspaces is {limit}: delete a workspace "
                "first or raise the limit in the config",
            )
        specs = self.expand(name, template_name, directory)
        self._check_instances(specs)
        for hook in self.hooks:
            await hook.before_create(name, self.config.templates[template_name], directory, specs)
        template = self.config.templates[template_name]
        record = WorkspaceRecord(name, template_name, os.fspath(directory), time.time(), template)
        desired: Literal["running", "stopped"] = "running" if template.auto_start else "stopped"
        procs: list[ManagedProcess] = []
        try:
            for spec in specs:
                if spec.supervised:
                    procs.append(self.table.register(spec, desired))
        except Exception as exc:
            log.exception("creating workspace %s failed", name)
            await asyncio.gather(*(self.table.unregister(p) for p in procs))
            raise ProtocolError(protocol.INTERNAL, f"could not create {name}: {exc}") from None
        self.records[name] = record
        self.schedule_save()
        try:
            self.persist()  # saved before any agent starts: a refused create leaves nothing
        except ProtocolError:
            del self.records[name]
            await asyncio.gather(*(self.table.unregister(p) for p in procs))
            raise
        self.bus.publish(
            "WorkspaceCreated", "workspace", workspace=name, template=template_name, dir=record.dir
        )
        if template.auto_start:
            await asyncio.gather(*(self.table.start(p) for p in procs))
        return {"workspace": self._describe(record)}

    def _check_instances(self, specs: list[templates.PaneSpec]) -> None:
        supervised = sum(1 for s in specs if s.supervised)
        capacity = fd_budget.max_agents_for_fd_limit(fd_budget.nofile_limit())
        if len(self.table.processes) + supervised > capacity:
            raise ProtocolError(
                protocol.LIMIT,
                f"the open-files limit (ulimit -n {fd_budget.nofile_limit()}) allows "
                f"{capacity} supervised processes; {len(self.table.processes)} exist and this "
                f"workspace adds {supervised} (raise the limit, see docs/security.md)",
            )
        limit = self.config.processes.max_instances
        running = sum(1 for p in self.table.processes.values() if p.spec.agent == "claude")
        adding = sum(1 for s in specs if s.supervised and s.agent == "claude")
        if running + adding > limit:
            raise ProtocolError(
                protocol.LIMIT,
                f"processes.claude_code.max_instances is {limit}: {running} "
                f"agents exist and this workspace adds {adding}",
            )

    async def handle_delete(self, msg: dict[str, Any]) -> dict[str, Any]:
        name = protocol.field(msg, "name", str)
        force = bool(protocol.field(msg, "force", bool, required=False))
        record = self.records.get(name)
        if record is None:
            raise ProtocolError(protocol.NOT_FOUND, f"no workspace named {name!r}")
        procs = self.processes_of(name)
        for hook in self.hooks:
            await hook.check_delete(name, procs, force)
        await asyncio.gather(*(self.table.unregister(p) for p in procs))
        for hook in self.hooks:
            await hook.after_delete(name, procs, force)
        del self.records[name]
        self.bus.publish("WorkspaceDeleted", "workspace", workspace=name)
        self.schedule_save()
        return {"deleted": name, "processes": [p.target for p in procs]}

    async def handle_list(self, _msg: dict[str, Any]) -> dict[str, Any]:
        return {"workspaces": self.listing()}

    async def handle_layout(self, msg: dict[str, Any]) -> dict[str, Any]:
        name = protocol.field(msg, "name", str)
        record = self.records.get(name)
        if record is None:
            raise ProtocolError(protocol.NOT_FOUND, f"no workspace named {name!r}")
        template = self.template_of(record)
        if template is None:
            raise ProtocolError(protocol.NOT_FOUND, f"template {record.template!r} is gone")
        wzp = msg.get("wzp") or ["wzp"]
        return {
            "layout": templates.layout_plan(
                name,
                template,
                Path(record.dir),
                wzp_argv=tuple(wzp),
                default_command=tuple(self.config.processes.command),
            )
        }

    def _describe(
        self, record: WorkspaceRecord, listed: Sequence[Mapping[str, Any]] | None = None
    ) -> dict[str, Any]:
        """One workspace with its processes' targets and counts by shown state."""
        procs = self.processes_of(record.name)
        listed = self.snapshot() if listed is None else listed
        totals = states.counts(p for p in listed if p.get("workspace") == record.name)
        return {
            "name": record.name,
            "template": record.template,
            "dir": record.dir,
            "created": record.created,
            "processes": [p.target for p in procs],
            "totals": totals,
        }

    # -- restore ----------------------------------------------------------------------------

    async def restore(self, state: Mapping[str, Any], survivors: Mapping[str, int]) -> None:
        """Re-create every saved workspace: adopt the holders in ``survivors`` (target ->
        holder pid), apply the restart policy to those that ended while no daemon ran, and
        start what should run."""
        saved_procs: Mapping[str, Any] = state.get("processes", {})
        to_start: list[ManagedProcess] = []
        for name, data in state.get("workspaces", {}).items():
            record = WorkspaceRecord.from_state(name, data)
            self.records[name] = record
            template = self.template_of(record)
            if template is not None and record.template not in self.config.templates:
                reason = orphan_message([name], record.template)
                log.warning("%s", reason)
                self.bus.publish("Error", "error", workspace=name, reason=reason)
            try:
                specs = self.expand(name, template or record.template, Path(record.dir))
            except ProtocolError as exc:
                log.error("workspace %s cannot be restored: %s", name, exc.message)
                self.bus.publish("Error", "error", workspace=name, reason=exc.message)
                continue
            for spec in specs:
                if not spec.supervised:
                    continue
                saved = saved_procs.get(spec.target, {})
                desired: Literal["running", "stopped"] = (
                    "stopped" if saved.get("desired") == "stopped" else "running"
                )
                proc = self.table.register(spec, desired, int(saved.get("restarts") or 0))
                holder = survivors.get(spec.target)
                if holder is not None:
                    self.table.adopt(proc, holder)
                elif saved.get("state") == "fatal":
                    proc.desired = "stopped"
                    proc.set_state("fatal", "was fatal before the daemon restarted")
                elif desired == "running" and isinstance(saved.get("pid"), int):
                    self.table.ended_while_away(proc, saved["pid"])
                elif desired == "running":
                    to_start.append(proc)
        await asyncio.gather(*(self.table.start(p) for p in to_start))
