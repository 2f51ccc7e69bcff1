"""Workspace templates → pane specs and WezTerm layout plans (pure functions).

A workspace is a template instantiated with a name and a directory. ``expand_workspace`` turns it
into one :class:`PaneSpec` per pane (what the daemon supervises); ``layout_plan`` turns it into
the split plan the WezTerm plugin follows (the JSON of ``wzp layout NAME --json``).

Layouts and their slots are in ``layouts.py``. When a template leaves a slot empty, the panes
that would have been split from it take its place instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from wzp_supervisor.layouts import LAYOUTS as LAYOUTS
from wzp_supervisor.layouts import Slot as Slot
from wzp_supervisor.layouts import layout_slots as layout_slots
from wzp_supervisor.layouts import validate_name as validate_name

if TYPE_CHECKING:
    from wzp_supervisor.config import (
        AgentKind,
        Config,
        PaneTemplate,
        RestartPolicy,
        WorkspaceTemplate,
    )

WORKSPACE_PLACEHOLDER = "{workspace}"
PLAN_VERSION = 1

_T = TypeVar("_T")


@dataclass(frozen=True)
class PaneSpec:
    """Everything needed to run one pane of one workspace."""

    workspace: str
    pane: str
    target: str  # "ws/pane"
    position: str
    argv: tuple[str, ...]  # shell panes: (command,), run as sh -c command
    agent: AgentKind
    supervised: bool
    shell: bool
    cwd: Path  # absolute
    environment: Mapping[str, str]  # unresolved: values may hold ${VAR}
    restart_policy: RestartPolicy
    min_uptime: float
    max_retries: int
    backoff_max: float
    graceful_timeout: float
    rlimits: Mapping[str, int]
    isolation: Literal["none", "worktree"]


def substitute(argv: Sequence[str], workspace: str) -> tuple[str, ...]:
    """Replace the ``{workspace}`` placeholder in every argument."""
    return tuple(arg.replace(WORKSPACE_PLACEHOLDER, workspace) for arg in argv)


def pane_argv(
    pane: PaneTemplate, workspace: str, default_command: Sequence[str]
) -> tuple[str, ...]:
    """The command a pane runs: its own (or ``default_command``), ``{workspace}`` substituted.

    A ``shell: true`` pane gives a 1-tuple: the command string, to be run with ``sh -c``.
    """
    return substitute(pane.command if pane.command is not None else default_command, workspace)


def _abs_dir(directory: Path) -> Path:
    return Path(os.path.abspath(directory.expanduser()))


def pane_cwd(pane: PaneTemplate, directory: Path) -> Path:
    """The absolute working directory of ``pane``: the workspace dir, or dir/cwd."""
    base = _abs_dir(directory)
    if pane.cwd is None:
        return base
    return Path(os.path.normpath(base / Path(pane.cwd).expanduser()))


def ordered_panes(template: WorkspaceTemplate) -> list[PaneTemplate]:
    """The template's panes in the slot order of its layout."""
    order = {name: i for i, name in enumerate(layout_slots(template.layout))}
    return sorted(template.panes, key=lambda pane: order[pane.position])


def expand_workspace(
    name: str, directory: Path, template: WorkspaceTemplate, cfg: Config
) -> list[PaneSpec]:
    """One PaneSpec per pane of ``template`` for workspace ``name`` in ``directory``.

    Pane settings override ``processes.claude_code`` defaults; agents get the
    ``processes.claude_code.environment`` merged under their own, other panes only their own.
    """
    validate_name("workspace", name)
    defaults = cfg.processes
    specs: list[PaneSpec] = []
    for pane in ordered_panes(template):
        is_agent = pane.agent == "claude"
        env = {**defaults.environment, **pane.environment} if is_agent else pane.environment
        specs.append(
            PaneSpec(
                workspace=name,
                pane=pane.name,
                target=f"{name}/{pane.name}",
                position=pane.position,
                argv=pane_argv(pane, name, defaults.command),
                agent=pane.agent,
                supervised=pane.supervised,
                shell=pane.shell,
                cwd=pane_cwd(pane, directory),
                environment=MappingProxyType(dict(env)),
                restart_policy=pane.restart_policy or defaults.restart_policy,
                min_uptime=_or(pane.min_uptime, defaults.min_uptime),
                max_retries=_or(pane.max_retries, defaults.max_retries),
                backoff_max=_or(pane.backoff_max, defaults.backoff_max),
                graceful_timeout=defaults.timeout,
                rlimits=MappingProxyType(dict(template.rlimits)),
                isolation=template.isolation,
            )
        )
    return specs


def _or(value: _T | None, default: _T) -> _T:
    return default if value is None else value


def _placement(slot: Slot, slots: Mapping[str, Slot], present: set[str]) -> Slot:
    """Where ``slot`` is split from when some slots are empty: an empty parent's own place."""
    placed = slot
    while placed.parent is not None and placed.parent not in present:
        parent = slots[placed.parent]
        placed = Slot(slot.name, parent.parent, parent.direction, parent.size)
    return placed


def _unsupervised_command(
    pane: PaneTemplate, workspace: str, wzp_argv: Sequence[str], default_command: Sequence[str]
) -> list[str]:
    argv = list(pane_argv(pane, workspace, default_command))
    if pane.shell:
        return ["sh", "-c", argv[0]]
    if argv[0] == "wzp":
        argv[:1] = wzp_argv
    return argv


def layout_plan(
    workspace: str,
    template: WorkspaceTemplate,
    directory: Path,
    wzp_argv: Sequence[str] = ("wzp",),
    *,
    default_command: Sequence[str] = ("claude",),
) -> dict[str, Any]:
    """The split plan of docs/contracts.md "Layout plan" for ``template`` as ``workspace``.

    Panes come in spawn order: the first is the one the window is spawned with, every later one
    names an earlier pane in ``split_from``. Supervised panes run ``wzp attach ws/pane``;
    unsupervised ones run their own command (``sh -c`` for shell panes, ``wzp`` replaced by
    ``wzp_argv``, ``default_command`` for an unsupervised pane without one). For a template with
    no workspace yet, pass the template name as ``workspace``.
    """
    slots = {slot.name: slot for slot in LAYOUTS[template.layout]}
    panes = ordered_panes(template)
    by_slot = {pane.position: pane for pane in panes}
    present = set(by_slot)
    entries: list[dict[str, Any]] = []
    for index, pane in enumerate(panes):
        placed = _placement(slots[pane.position], slots, present)
        if placed.parent is None and index > 0:  # an empty root: split from the first pane
            placed = Slot(pane.position, panes[0].position, slots[pane.position].direction, 0.5)
        target = f"{workspace}/{pane.name}"
        command = (
            [*wzp_argv, "attach", target]
            if pane.supervised
            else _unsupervised_command(pane, workspace, wzp_argv, default_command)
        )
        entries.append(
            {
                "pane": pane.name,
                "split_from": by_slot[placed.parent].name if placed.parent else None,
                "direction": placed.direction,
                "size": placed.size,
                "supervised": pane.supervised,
                "command": command,
                "target": target if pane.supervised else None,
            }
        )
    return {
        "version": PLAN_VERSION,
        "workspace": workspace,
        "template": template.name,
        "layout": template.layout,
        "cwd": str(_abs_dir(directory)),
        "panes": entries,
    }
