"""The record of what ``wzp service install`` did, so uninstall reverses exactly that.

Kept in ``<state dir>/service-manifest.json``: the files written (with their checksums and any
backup taken under ``--force``) and whether the service was enabled (systemd) or loaded
(launchd).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, TypedDict, cast

from wzp_supervisor.service.platform import manifest_path
from wzp_supervisor.service.runner import Runner

__all__ = ["FileRecord", "Manifest", "load_manifest", "save_manifest", "sha256"]

VERSION = 1


class FileRecord(TypedDict, total=False):
    """One file install wrote; ``backup`` is where ``--force`` moved the file it replaced."""

    path: str
    sha256: str
    backup: str | None


class Manifest(TypedDict, total=False):
    """What an install did (``version`` 1)."""

    version: int
    platform: str
    wzp_version: str
    files: list[FileRecord]
    enabled: bool
    loaded: bool


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data`` (the checksum recorded per file)."""
    return hashlib.sha256(data).hexdigest()


def load_manifest() -> Manifest | None:
    """The recorded installation, or None when there is none (or it is unreadable)."""
    try:
        data: Any = json.loads(manifest_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return None
    files = data.get("files", [])
    data["files"] = [f for f in files if isinstance(f, dict)] if isinstance(files, list) else []
    return cast(Manifest, data)  # checked: a version-1 object with a list of file records


def save_manifest(runner: Runner, manifest: Manifest) -> None:
    """Write the manifest (through ``runner``, so a dry run only says so), private to the user."""
    data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    runner.write(manifest_path(), data, show=False, mode=0o600)
