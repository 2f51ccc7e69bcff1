"""The fields each hub message type may carry, and their types: checked before a handler runs.

Standard library only. Values are never coerced: ``"false"`` is not a boolean and ``1`` is
not one either. A field a type does not list is refused, so a misspelt option never passes
silently. Types served by plugins have no entry here; plugins check their own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from wzp_supervisor.protocol import BAD_REQUEST, ProtocolError

Kind = Literal["str", "int", "number", "bool", "object", "str_list"]
FieldSpec = tuple[Kind, bool]
"""(kind, required)."""

ENVELOPE = frozenset({"v", "id", "type"})

_TARGET: dict[str, FieldSpec] = {"target": ("str", True)}

SCHEMAS: dict[str, dict[str, FieldSpec]] = {
    "ping": {},
    "status": {},
    "process.list": {},
    "process.start": _TARGET,
    "process.stop": _TARGET,
    "process.restart": _TARGET,
    "process.kill": _TARGET,
    "process.signal": {**_TARGET, "signal": ("str", True)},
    "config.get": {},
    "events.recent": {"limit": ("int", False)},
    "shutdown": {"keep_agents": ("bool", False)},
    "daemon.restart": {},
    "workspace.create": {"name": ("str", True), "template": ("str", False), "dir": ("str", False)},
    "workspace.list": {},
    "workspace.delete": {"name": ("str", True), "force": ("bool", False)},
    "layout": {"name": ("str", True), "wzp": ("str_list", False)},
    "status.update": {
        "agent": ("str", True),
        "event": ("str", True),
        "payload": ("object", False),
        "ts": ("number", False),
    },
    "agent.states": {},
    "agent.answer": {"target": ("str", True), "answer": ("str", True)},
    "agent.health": {},
    "task.request": {
        "target": ("str", True),
        "prompt": ("str", True),
        "priority": ("int", False),
        "wait": ("bool", False),
        "timeout": ("number", False),
    },
    "task.submit": {
        "prompt": ("str", True),
        "workspace": ("str", False),
        "pool": ("str", False),
        "session": ("str", False),
        "priority": ("int", False),
        "wait": ("bool", False),
        "timeout": ("number", False),
    },
    "task.wait": {"task": ("str", True), "timeout": ("number", False)},
    "task.list": {"state": ("str", False), "limit": ("int", False), "pool": ("str", False)},
    "task.show": {"task": ("str", True)},
    "task.cancel": {"task": ("str", True)},
    "pool.list": {},
    "broadcast": {"text": ("str", True), "workspace": ("str", False)},
    "stats": {},
    "metrics": {},
    "plugin.list": {},
    "reload": {"wait": ("bool", False)},
    "diff": {"target": ("str", True), "stat": ("bool", False)},
}
"""Every type the daemon itself serves, with its fields."""


def check_fields(kind: str, message: Mapping[str, Any]) -> None:
    """Raise ProtocolError(bad_request) naming the first field that does not fit ``kind``."""
    schema = SCHEMAS.get(kind)
    if schema is None:
        return
    for name in message:
        if name not in schema and name not in ENVELOPE:
            known = ", ".join(sorted(schema)) or "none"
            raise ProtocolError(BAD_REQUEST, f"{kind}: unknown field {name!r} (fields: {known})")
    for name, (field_kind, required) in schema.items():
        value = message.get(name)
        if value is None:
            if required:
                raise ProtocolError(BAD_REQUEST, f"{kind}: missing field {name!r}")
            continue
        if not _fits(field_kind, value):
            raise ProtocolError(
                BAD_REQUEST,
                f"{kind}: field {name!r} must be {_NAMES[field_kind]}, "
                f"not {type(value).__name__} {_short(value)}",
            )


_NAMES: dict[Kind, str] = {
    "str": "a string",
    "int": "an integer",
    "number": "a finite number",
    "bool": "true or false",
    "object": "an object",
    "str_list": "a list of strings",
}


def _fits(kind: Kind, value: object) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    if kind == "object":
        return isinstance(value, dict)
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"
