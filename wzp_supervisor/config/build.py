"""A merged config document → :class:`Config`: the sections whose fields depend on each other.

Everything else is read by ``validate.read_fields`` from the field declarations in
``schema.py``; here are the top level, the workspace templates and their panes.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import wzp_supervisor.config.validate as v
from wzp_supervisor.config.errors import ConfigError, KeyPath
from wzp_supervisor.config.schema import (
    AGENT_KINDS,
    AgentKind,
    CommunicationConfig,
    Config,
    FrameworkConfig,
    MetricsConfig,
    NotificationsConfig,
    PaneTemplate,
    PoolConfig,
    ProcessDefaults,
    UiConfig,
    WorkspaceTemplate,
)
from wzp_supervisor.config.source import Document
from wzp_supervisor.config.validate import Ctx
from wzp_supervisor.layouts import LAYOUTS, layout_slots, normalize_position


def _is_claude(argv: tuple[str, ...] | None, shell: bool) -> bool:
    if argv is None:
        return True
    words = argv
    if shell:
        try:
            words = tuple(shlex.split(argv[0]))
        except ValueError:
            return False
    return bool(words) and Path(words[0]).name == "claude"


def _position(layout: str) -> v.Parser[str]:
    """A slot of ``layout``; ``top-left`` is read as ``top_left``."""
    slots = layout_slots(layout)
    where = f" for layout {layout}"

    def parse(ctx: Ctx, value: object, path: KeyPath) -> str:
        word = v.string(ctx, value, path)
        slot = normalize_position(word)
        if slot in slots:
            return slot
        if layout == "three_pane_horizontal" and slot in layout_slots("main_and_stack"):
            raise ctx.error(
                path,
                f"unknown position {word!r}{where} (one of {', '.join(slots)}; a main pane "
                "beside a stack of two is layout main_and_stack)",
            )
        parsed: str = v.choice(slots, "position", where)(ctx, word, path)
        return parsed

    return parse


def _pane(ctx: Ctx, value: object, path: KeyPath, layout: str) -> PaneTemplate:
    """One pane; its name is "" when the file gives none (``_panes`` derives it)."""
    s, read = v.read_fields(PaneTemplate, ctx, value, path)
    shell = s.get("shell", v.boolean, False)
    command = s.get("command", v.shell_command if shell else v.argv, None)
    agent_default: AgentKind = "claude" if _is_claude(command, shell) else "none"
    return PaneTemplate(
        name=s.get("name", v.name("pane"), None) or "",
        position=s.get("position", _position(layout), ""),
        command=command,
        agent=s.get("agent", v.choice(AGENT_KINDS, "agent kind"), agent_default),
        shell=shell,
        **read,
    )


def _panes(ctx: Ctx, value: object, path: KeyPath, layout: str) -> tuple[PaneTemplate, ...]:
    """The panes of a template: at most one per slot, free slots filled in order, unique names.

    A pane without a name is named after its position (``top_left``).
    """
    slots = layout_slots(layout)
    if not isinstance(value, list):
        raise v.type_error(ctx, path, "a list of panes", value)
    if not value:
        raise ctx.error(path, "a template needs at least one pane")
    if len(value) > len(slots):
        raise ctx.error(
            path,
            f"{len(value)} panes but layout {layout} has {len(slots)} slots ({', '.join(slots)})",
        )
    panes = [_pane(ctx, item, (*path, i), layout) for i, item in enumerate(value)]
    used: dict[str, int] = {}
    for i, pane in enumerate(panes):
        if pane.position in used:
            raise ctx.error(
                (*path, i, "position"),
                f"position {pane.position!r} is already used by panes[{used[pane.position]}]",
            )
        if pane.position:
            used[pane.position] = i
    free = iter(slot for slot in slots if slot not in used)
    panes = [pane if pane.position else replace(pane, position=next(free)) for pane in panes]
    names: dict[str, int] = {}
    out: list[PaneTemplate] = []
    for i, pane in enumerate(panes):
        name = pane.name or pane.position
        if name in names:
            raise _duplicate_name(ctx, path, panes, names[name], i, name)
        names[name] = i
        out.append(replace(pane, name=name))
    return tuple(out)


def _duplicate_name(
    ctx: Ctx, path: KeyPath, panes: list[PaneTemplate], first: int, second: int, name: str
) -> ConfigError:
    if panes[first].name and panes[second].name:
        return ctx.error(
            (*path, second, "name"), f"duplicate pane name {name!r} (also panes[{first}])"
        )

    def how(i: int) -> str:
        if panes[i].name:
            return f"panes[{i}] is named {name!r}"
        return f"panes[{i}] takes the name {name!r} from its position"

    key = "name" if panes[second].name else "position"
    return ctx.error(
        (*path, second, key),
        f"duplicate pane name: {how(first)} and {how(second)}; give one of them another name",
    )


def _template(ctx: Ctx, name: str, value: object, path: KeyPath) -> WorkspaceTemplate:
    s, read = v.read_fields(WorkspaceTemplate, ctx, value, path)
    layout = s.require("layout", v.choice(list(LAYOUTS), "layout"))
    panes = s.require("panes", lambda c, val, p: _panes(c, val, p, layout))
    return WorkspaceTemplate(name=name, layout=layout, panes=panes, **read)


def _templates(ctx: Ctx, value: object, path: KeyPath) -> Mapping[str, WorkspaceTemplate]:
    out = {}
    for name, item in v.mapping(ctx, value, path).items():
        v.name("template")(ctx, name, (*path, name))
        out[name] = _template(ctx, name, item, (*path, name))
    return MappingProxyType(out)


def _processes(ctx: Ctx, value: object, path: KeyPath) -> ProcessDefaults:
    s = v.Section(ctx, value, path, ["claude_code"])
    return s.get("claude_code", v.reader(ProcessDefaults), ProcessDefaults())


def _pools(ctx: Ctx, value: object, path: KeyPath) -> Mapping[str, PoolConfig]:
    out = {}
    for name, item in v.mapping(ctx, value, path).items():
        v.name("pool")(ctx, name, (*path, name))
        _, read = v.read_fields(PoolConfig, ctx, item, (*path, name))
        pool = PoolConfig(name=name, **read)
        if pool.max < pool.min:
            key = "max" if "max" in read else "min"
            raise ctx.error((*path, name, key), f"max ({pool.max}) is below min ({pool.min})")
        if pool.worktree and pool.cwd is None:
            raise ctx.error(
                (*path, name, "worktree"),
                "worktree: true needs cwd: a directory inside the git repository to work on",
            )
        out[name] = pool
    return MappingProxyType(out)


SECTIONS: dict[str, v.Parser[Any]] = {
    "framework": v.reader(FrameworkConfig),
    "workspaces": v.mapping,  # read below: templates depend on each other
    "processes": _processes,
    "communication": v.reader(CommunicationConfig),
    "ui": v.reader(UiConfig),
    "metrics": v.reader(MetricsConfig),
    "notifications": v.reader(NotificationsConfig),
    "pools": _pools,
}
"""The top-level sections and how each is read."""


def build(doc: Document, path: Path | None) -> Config:
    """The Config of a (merged) document; ``path`` is recorded as ``Config.path``."""
    ctx = Ctx(doc.source, doc.lines)
    top = v.Section(ctx, doc.data, (), list(SECTIONS))
    workspaces = v.Section(
        ctx,
        top.data.get("workspaces"),
        ("workspaces",),
        ["default_template", "templates", "worktree_root"],
    )
    no_templates: Mapping[str, WorkspaceTemplate] = MappingProxyType({})
    templates = workspaces.get("templates", _templates, no_templates)
    default = workspaces.get("default_template", v.name("template"), "default")
    if default not in templates:
        known = ", ".join(templates) or "none"
        hint = v.did_you_mean(default, templates)
        raise ctx.error(
            ("workspaces", "default_template"),
            f"template {default!r} is not defined (defined: {known}){hint}",
        )
    return Config(
        path=path,
        framework=top.get("framework", SECTIONS["framework"], FrameworkConfig()),
        templates=templates,
        default_template=default,
        worktree_root=workspaces.get("worktree_root", v.abs_dir, None),
        processes=top.get("processes", _processes, ProcessDefaults()),
        communication=top.get("communication", SECTIONS["communication"], CommunicationConfig()),
        ui=top.get("ui", SECTIONS["ui"], UiConfig()),
        metrics=top.get("metrics", SECTIONS["metrics"], MetricsConfig()),
        notifications=top.get("notifications", SECTIONS["notifications"], NotificationsConfig()),
        pools=top.get("pools", _pools, MappingProxyType({})),
        locations=MappingProxyType(dict(doc.lines)),
    )
