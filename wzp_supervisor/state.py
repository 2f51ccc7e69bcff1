"""Saved state: atomic, versioned JSON with rotating backups and recovery from corruption.

Every change is written to a temp file, fsynced and renamed over ``state.json``; the previous
file is first copied into ``backups/`` (the last ``keep`` versions are kept). A state file that
does not parse is moved aside and the newest good backup is loaded instead.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

log = logging.getLogger(__name__)


def empty_state() -> dict[str, Any]:
    """The state of a daemon that has never run."""
    return {"schema": SCHEMA_VERSION, "workspaces": {}, "processes": {}, "tasks": {}, "task_seq": 0}


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same dir, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class StateStore:
    """Loads and saves the daemon's state file with backups."""

    def __init__(self, path: Path, backups: Path, keep: int = 5) -> None:
        self.path = path
        self.backups = backups
        self.keep = keep
        self.warnings: list[str] = []

    def load(self) -> dict[str, Any]:
        """The saved state; recovers from the newest good backup when the file is corrupt."""
        if not self.path.exists():
            return empty_state()
        try:
            return self._read(self.path)
        except (OSError, ValueError) as exc:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            os.replace(self.path, aside)
            for backup in self._backups_newest_first():
                try:
                    state = self._read(backup)
                except (OSError, ValueError):
                    continue
                self._warn(
                    f"state file {self.path} was unreadable ({exc}); moved it to "
                    f"{aside.name} and restored {backup.name}"
                )
                self.save(state)
                return state
            self._warn(
                f"state file {self.path} was unreadable ({exc}); moved it to "
                f"{aside.name}; no good backup, starting empty"
            )
            return empty_state()

    def save(self, state: dict[str, Any]) -> None:
        """Persist ``state`` atomically, rotating the previous version into the backups."""
        state = {**state, "schema": SCHEMA_VERSION, "saved_at": time.time()}
        data = json.dumps(state, indent=1, sort_keys=True).encode()
        if self.path.exists():
            self._rotate()
        atomic_write(self.path, data)

    def _read(self, path: Path) -> dict[str, Any]:
        state = json.loads(path.read_bytes())
        if not isinstance(state, dict):
            raise ValueError("state is not a JSON object")
        schema = state.get("schema")
        if schema != SCHEMA_VERSION:
            state = migrate(state)
        base = empty_state()
        base.update(state)
        return base

    def _rotate(self) -> None:
        self.backups.mkdir(mode=0o700, parents=True, exist_ok=True)
        stamp = f"{time.time():.6f}"
        shutil.copy2(self.path, self.backups / f"state.{stamp}.json")
        for old in self._backups_newest_first()[self.keep :]:
            old.unlink(missing_ok=True)

    def _backups_newest_first(self) -> list[Path]:
        if not self.backups.is_dir():
            return []
        files = [p for p in self.backups.iterdir() if p.name.startswith("state.")]
        return sorted(files, key=lambda p: float(p.name[6:-5] or 0), reverse=True)

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        log.warning(message)


def migrate(state: dict[str, Any]) -> dict[str, Any]:
    """Bring an older state document to SCHEMA_VERSION (raises ValueError when unknown)."""
    schema = state.get("schema")
    if schema is None:  # pre-release files had no schema field and the same shape
        return {**state, "schema": SCHEMA_VERSION}
    raise ValueError(f"unknown state schema {schema!r}")
