"""Layouts and names: the slots of every layout and the rule for workspace, pane, template names.

Standard library only. A layout is a fixed tree of splits: each slot is split from an earlier
slot in a direction and takes ``size`` (a fraction) of it. ``validate_name`` is the one name
rule; names are safe in paths, socket names, targets (``ws/pane``) and WezTerm workspace names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal, NamedTuple

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
NAME_MAX = 63

Direction = Literal["Right", "Left", "Top", "Bottom"]


class Slot(NamedTuple):
    """One slot of a layout: split from ``parent`` (None for the first) in ``direction``."""

    name: str
    parent: str | None
    direction: Direction | None
    size: float | None


def _root(name: str) -> Slot:
    return Slot(name, None, None, None)


def _split(name: str, parent: str, direction: Direction, size: float = 0.5) -> Slot:
    return Slot(name, parent, direction, size)


LAYOUTS: Mapping[str, tuple[Slot, ...]] = {
    "single": (_root("main"),),
    "two_pane_horizontal": (_root("left"), _split("right", "left", "Right")),
    "two_pane_vertical": (_root("top"), _split("bottom", "top", "Bottom")),
    "three_pane_horizontal": (
        _root("left"),
        _split("center", "left", "Right", 2 / 3),
        _split("right", "center", "Right"),
    ),
    "main_and_stack": (
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


def normalize_position(position: str) -> str:
    """A position as slots are named: ``top-left`` and ``top_left`` are the same slot."""
    return position.replace("-", "_")


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
        lower = name.lower()
        hint = f" (try {lower!r})" if NAME_RE.match(lower) else ""
        raise ValueError(f"{kind} name {name!r} must be lower case{hint}")
    if name[0] in "-_":
        raise ValueError(f"{kind} name {name!r} must start with a letter or digit")
    bad = next(c for c in name if not (c.isascii() and (c.isalnum() or c in "-_")))
    raise ValueError(
        f"{kind} name {name!r} contains {bad!r}; use lower-case letters, digits, '-' and '_'"
    )
