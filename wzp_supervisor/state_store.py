"""The daemon's saved state: validated, durable JSON with backups made from complete files.

``save`` writes a temp file, fsyncs it, renames it over ``state.json`` and fsyncs the
directory; it raises OSError when that fails (a full disk), so the caller can refuse the
change it was asked to make. Before each save the current file, which is always complete (it
only ever appears by rename), is hard-linked into ``backups/state.<time>.json`` (copied where
links fail): no copy cost. Only names of that exact form count as backups and are pruned.
``load`` validates the document; a file that does not parse or has the wrong shape is moved
aside and the newest valid backup is used, with a warning in ``warnings``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wzp_supervisor.atomic_file import atomic_write

SCHEMA_VERSION = 1

_BACKUP_NAME = re.compile(r"^state\.(\d+\.\d{6})\.json$")

log = logging.getLogger(__name__)


class StateError(ValueError):
    """A state document that does not have the expected shape."""


def empty_state() -> dict[str, Any]:
    """The state of a daemon that has never run."""
    return {"schema": SCHEMA_VERSION, "workspaces": {}, "processes": {}}


class StateStore:
    """Loads and saves the daemon's state file with backups."""

    def __init__(self, path: Path, backups: Path, keep: int = 5) -> None:
        self.path = path
        self.backups = backups
        self.keep = keep
        self.warnings: list[str] = []

    def load(self) -> dict[str, Any]:
        """The saved state; the newest valid backup when the file is unreadable or invalid."""
        if not self.path.exists():
            return empty_state()
        try:
            return self._read(self.path)
        except (OSError, ValueError, RecursionError) as exc:
            problem = _describe(exc)
        aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
        os.replace(self.path, aside)
        for backup in self.backup_files():
            try:
                state = self._read(backup)
            except (OSError, ValueError, RecursionError):
                continue
            self._warn(
                f"state file {self.path} was unreadable ({problem}); moved it to "
                f"{aside.name} and restored {backup.name}"
            )
            try:
                self.save(state)
            except OSError as exc:
                self._warn(f"could not save the restored state: {exc}")
            return state
        self._warn(
            f"state file {self.path} was unreadable ({problem}); moved it to "
            f"{aside.name}; no valid backup, starting empty"
        )
        return empty_state()

    def save(self, state: Mapping[str, Any]) -> None:
        """Persist ``state`` durably; raises OSError when it could not be written."""
        document = {**state, "schema": SCHEMA_VERSION, "saved_at": time.time()}
        data = json.dumps(document, indent=1, sort_keys=True).encode()
        if self.path.exists():
            self._backup()
        atomic_write(self.path, data)

    def backup_files(self) -> list[Path]:
        """Our backups (by exact name), newest first."""
        if not self.backups.is_dir():
            return []
        found = []
        for entry in self.backups.iterdir():
            match = _BACKUP_NAME.match(entry.name)
            if match is not None:
                found.append((float(match.group(1)), entry))
        return [path for _, path in sorted(found, reverse=True)]

    def _read(self, path: Path) -> dict[str, Any]:
        state = json.loads(path.read_bytes())
        if not isinstance(state, dict):
            raise StateError("the document is not a JSON object")
        if state.get("schema") != SCHEMA_VERSION:
            state = migrate(state)
        validate_state(state)
        return {**empty_state(), **state}

    def _backup(self) -> None:
        """Keep the current (complete) state file as a backup, then prune."""
        target = self.backups / f"state.{time.time():.6f}.json"
        try:
            self.backups.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                os.link(self.path, target)
            except OSError:  # a filesystem without hard links: a copy, complete or nothing
                atomic_write(target, self.path.read_bytes(), durable=False)
        except OSError as exc:
            log.warning("no backup of %s this time: %s", self.path, exc)
            return
        for old in self.backup_files()[self.keep :]:
            old.unlink(missing_ok=True)

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        log.warning(message)


def migrate(state: dict[str, Any]) -> dict[str, Any]:
    """Bring an older state document to SCHEMA_VERSION (raises StateError when unknown)."""
    schema = state.get("schema")
    if schema is None:  # pre-release files had no schema field and the same shape
        return {**state, "schema": SCHEMA_VERSION}
    raise StateError(f"unknown state schema {schema!r}")


def validate_state(state: Mapping[str, Any]) -> None:
    """Raise StateError naming the first key whose value has the wrong type."""
    workspaces = _mapping(state.get("workspaces", {}), "workspaces")
    for name, record in workspaces.items():
        where = f"workspaces.{name}"
        record = _mapping(record, where)
        _typed(record, "template", str, where, required=True)
        _typed(record, "dir", str, where, required=True)
        _typed(record, "created", (int, float), where)
    processes = _mapping(state.get("processes", {}), "processes")
    for target, record in processes.items():
        where = f"processes.{target}"
        record = _mapping(record, where)
        desired = record.get("desired")
        if desired is not None and desired not in ("running", "stopped"):
            raise StateError(f"{where}.desired must be running or stopped, not {desired!r}")
        _typed(record, "state", str, where)
        _typed(record, "pid", int, where)
        _typed(record, "create_time", (int, float), where)
        _typed(record, "restarts", int, where)
        _typed(record, "exit_code", int, where)
    for key in ("tasks", "agent_states", "worktrees", "observe"):
        if key in state:
            _mapping(state[key], key)


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise StateError(f"{where} must be a JSON object, not {type(value).__name__}")
    return value


def _typed(
    record: Mapping[str, Any],
    key: str,
    kind: type | tuple[type, ...],
    where: str,
    required: bool = False,
) -> None:
    value = record.get(key)
    if value is None:
        if required:
            raise StateError(f"{where}.{key} is missing")
        return
    if isinstance(value, bool) or not isinstance(value, kind):
        raise StateError(f"{where}.{key} has the wrong type ({type(value).__name__})")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)
