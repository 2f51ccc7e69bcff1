"""The one place the service commands touch the system, with a dry run that only prints.

Every file write, removal and move and every command (``systemctl``, ``launchctl``, …) goes
through a :class:`Runner`. With ``dry_run`` it prints each file (with its content) and each
command instead and changes nothing; it does not even run read-only queries.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from wzp_supervisor.atomic_file import atomic_write
from wzp_supervisor.service import ServiceError

__all__ = ["Runner"]


def _to_stderr(text: str) -> None:
    print(text, file=sys.stderr)


@dataclass
class Runner:
    """Performs (or, with ``dry_run``, only prints) every file change and command."""

    dry_run: bool = False
    out: Callable[[str], None] = print
    err: Callable[[str], None] = field(default=_to_stderr)

    def say(self, text: str) -> None:
        self.out(text)

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        capture: bool = False,
        echo: bool = True,
    ) -> subprocess.CompletedProcess[str] | None:
        """Run a command (None in a dry run); output is captured or goes to the terminal.

        With ``check`` a non-zero exit raises :class:`ServiceError`. ``echo`` announces an
        uncaptured command on ``out`` before running it.
        """
        line = shlex.join(argv)
        if self.dry_run:
            self.out(f"would run: {line}")
            return None
        if echo and not capture:
            self.out(f"running: {line}")
        try:
            result = subprocess.run(list(argv), check=False, capture_output=capture, text=True)
        except FileNotFoundError as exc:
            raise ServiceError(f"{argv[0]} not found on PATH: cannot run `{line}`") from exc
        if check and result.returncode != 0:
            detail = (result.stderr or "").strip() if capture else ""
            raise ServiceError(
                f"`{line}` failed with exit status {result.returncode}"
                + (f": {detail}" if detail else "")
            )
        return result

    def write(self, path: Path, data: bytes, *, show: bool = True, mode: int = 0o644) -> None:
        """Write ``data`` to ``path`` atomically (temp file + rename) with ``mode``."""
        if self.dry_run:
            if show:
                self.out(f"would write {path}:")
                text = data.decode("utf-8", "replace")
                self.out("".join(f"    {line}\n" for line in text.splitlines()).rstrip("\n"))
            else:
                self.out(f"would write {path}")
            return
        atomic_write(path, data, mode=mode)
        if show:
            self.out(f"wrote {path}")

    def remove(self, path: Path) -> None:
        if self.dry_run:
            self.out(f"would remove {path}")
            return
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self.out(f"removed {path}")

    def move(self, src: Path, dst: Path) -> None:
        if self.dry_run:
            self.out(f"would move {src} to {dst}")
            return
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
        self.out(f"moved {src} to {dst}")

    def mkdir(self, path: Path) -> None:
        if path.is_dir():
            return
        if self.dry_run:
            self.out(f"would create directory {path}")
            return
        path.mkdir(parents=True, exist_ok=True)
        self.out(f"created directory {path}")
