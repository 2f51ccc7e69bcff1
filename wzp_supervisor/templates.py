"""Workspace templates → pane specs and WezTerm layout plans (pure functions).

A workspace is a template instantiated with a name and a directory. ``expand_workspace`` turns it
into one :class:`PaneSpec` per pane (what the daemon supervises); ``layout_plan`` turns it into
the split plan the WezTerm plugin follows (the JSON of ``wzp layout NAME --json``).

Layouts are fixed trees of splits. Each slot is split from an earlier slot; when a template
leaves a slot empty, the panes that would have been split from it take its place instead.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeVar

if TYPE_CHECKING:
    from wzp_supervisor.config import (
        AgentKind,
        Config,
        PaneTemplate,
        RestartPolicy,
        WorkspaceTemplate,
    )

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
NAME_MAX = 63
WORKSPACE_PLACEHOLDER = "{workspace}"
PLAN_VERSION = 1

Direction = Literal["Right", "Left", "Top", "Bottom"]
_T = TypeVar("_T")


class Slot(NamedTuple):
    """One slot of a layout: split from ``parent`` (None for the first) in ``direction``."""

    name: str
    parent: str | None
    direction: Direction | None
    size: float | None


def _root(name: str) -> Slot:
    return Slot(name, None, None, None)


def _split(name: str, parent: str, direction: Direction) -> Slot:
    return Slot(name, parent, direction, 0.5)


LAYOUTS: Mapping[str, tuple[Slot, ...]] = {
    "single": (_root("main"),),
    "two_pane_horizontal": (_root("left"), _split("right", "left", "Right")),
    "two_pane_vertical": (_root("top"), _split("bottom", "top", "Bottom")),
    "three_pane_horizontal": (
        _root("left"),
        _split("top_right", "left", "Right"),
        _split("bottom_right", "top_right", "Bottom"),
    ),
    "four_pane_grid": (
        _root("top_left"),
        _split("top_right", "top_left", "Right"),
        _split("bottom_left", "top_left", "Bottom"),
        _split("bottom_right", "top_right", "Bottom"),
    ),
}
"""Every layout and its slots, in spawn order."""


def layout_slots(layout: str) -> tuple[str, ...]:
    """The slot names of ``layout`` in spawn order; KeyError for an unknown layout."""
    return tuple(slot.name for slot in LAYOUTS[layout])


def validate_name(kind: str, name: object) -> str:
    """Return ``name`` if it is a valid ``kind`` name (workspace, pane, template), else raise.

    Names match ``^[a-z0-9][a-z0-9_-]{0,62}$`` so they are safe in paths, socket names,
    targets (``ws/pane``) and WezTerm workspace names. The ValueError says what is wrong.
    """
    if not isinstance(name, str):
        raise ValueError(f"{kind} name must be a string, not {type(name).__name__}")
    if NAME_RE.match(name):
        return name
    if not name:
        raise ValueError(f"{kind} name is empty")
    if len(name) > NAME_MAX:
        raise ValueError(f"{kind} name is too long ({len(name)} characters; at most {NAME_MAX})")
    if "/" in name:
        raise ValueError(f"{kind} name {name!r} must not contain '/' (it separates ws/pane)")
    if ".." in name:
        raise ValueError(f"{kind} name {name!r} must not contain '..'")
    if name != name.lower():
        raise ValueError(f"{kind} name {name!r} must be lower case (try {name.lower()!r})")
    if name[0] in "-_":
        raise ValueError(f"{kind} name {name!r} must start with a letter or digit")
    bad = next(c for c in name if not (c.isascii() and (c.isalnum() or c in "-_")))
    raise ValueError(
        f"{kind} name {name!r} contains {bad!r}; use lower-case letters, digits, '-' and '_'"
    )


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
