"""The output log of a session: size-rotated files, and readers for ``wzp logs``.

``pane.log`` is the current file; when it reaches ``max_bytes`` it becomes ``pane.log.1``,
``pane.log.1`` becomes ``pane.log.2`` and so on up to ``backups`` (the oldest is dropped).
Files are 0600: they hold whatever the agent printed.
"""

from __future__ import annotations

import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_BACKUPS = 3

_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC, DCS, SOS, PM, APC strings
    r"|\x1b[ -/]*[0-~]"  # two-byte and nF escapes
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
    r"|[\x00-\x08\x0b-\x1f\x7f]"  # other C0 controls (keeps \t and \n)
)


class RotatingLog:
    """An append-only log file rotated by size."""

    def __init__(
        self, path: Path, max_bytes: int = DEFAULT_MAX_BYTES, backups: int = DEFAULT_BACKUPS
    ) -> None:
        self.path = path
        self.max_bytes = max(1, max_bytes)
        self.backups = max(0, backups)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._fd = self._open()
        self._size = os.fstat(self._fd).st_size

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def write(self, data: bytes) -> None:
        """Append ``data``, rotating whenever the current file is full: no file holds more
        than ``max_bytes``, however large the writes."""
        view = memoryview(data)
        while view:
            if self._size >= self.max_bytes:
                self._rotate()
            part = view[: self.max_bytes - self._size]
            view = view[len(part) :]
            self._size += len(part)
            while part:
                part = part[os.write(self._fd, part) :]

    def _rotate(self) -> None:
        os.close(self._fd)
        if self.backups:
            for index in range(self.backups - 1, 0, -1):
                older = Path(f"{self.path}.{index}")
                if older.exists():
                    os.replace(older, f"{self.path}.{index + 1}")
            os.replace(self.path, f"{self.path}.1")
        else:
            os.unlink(self.path)
        self._fd = self._open()
        self._size = 0

    def close(self) -> None:
        """Close the file."""
        os.close(self._fd)


def log_files(path: Path) -> list[Path]:
    """The existing files of the log at ``path``, oldest first (``path.N`` … ``path``)."""
    rotated: list[tuple[int, Path]] = []
    if path.parent.is_dir():
        prefix = path.name + "."
        for entry in path.parent.iterdir():
            suffix = entry.name[len(prefix) :]
            if entry.name.startswith(prefix) and suffix.isdigit():
                rotated.append((int(suffix), entry))
    files = [p for _, p in sorted(rotated, reverse=True)]
    if path.exists():
        files.append(path)
    return files


def strip_escapes(text: str) -> str:
    """``text`` without terminal escape sequences and control characters.

    ``\\r\\n`` becomes ``\\n``; a lone ``\\r`` (a redrawn progress line) keeps only what was
    written after it.
    """
    lines = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if "\r" in line:
            parts = [p for p in line.split("\r") if p]
            line = parts[-1] if parts else ""
        lines.append(_ESCAPES.sub("", line))
    return "\n".join(lines)


def read_all(path: Path) -> Iterator[bytes]:
    """Every byte of the log, oldest first, in chunks."""
    for file in log_files(path):
        try:
            with open(file, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    yield chunk
        except FileNotFoundError:  # rotated away while reading
            continue


def last_lines(path: Path, count: int) -> bytes:
    """The last ``count`` lines of the log (across rotated files), as bytes."""
    if count <= 0:
        return b""
    keep: deque[bytes] = deque(maxlen=count)
    partial = b""
    for chunk in read_all(path):
        parts = (partial + chunk).split(b"\n")
        partial = parts.pop()
        keep.extend(part + b"\n" for part in parts)
    if partial:
        keep.append(partial)
    return b"".join(keep)


def follow(
    path: Path,
    interval: float = 0.25,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[bytes]:
    """Bytes appended to the log from now on, across rotations, until ``stop()`` is true."""
    handle = None
    inode = None
    at_start = True  # the file present now is followed from its end, later ones from the top
    try:
        while not stop():
            if handle is None:
                try:
                    handle = open(path, "rb")  # noqa: SIM115 (kept open across iterations)
                except FileNotFoundError:
                    at_start = False
                    time.sleep(interval)
                    continue
                inode = os.fstat(handle.fileno()).st_ino
                if at_start:
                    handle.seek(0, os.SEEK_END)
                    at_start = False
            chunk = handle.read(1 << 20)
            if chunk:
                yield chunk
                continue
            try:
                current: int | None = os.stat(path).st_ino
            except FileNotFoundError:
                current = None
            if current != inode:  # rotated: the old file is complete, go to the new one
                handle.close()
                handle = None
                continue
            time.sleep(interval)
    finally:
        if handle is not None:
            handle.close()


class PlainFilter:
    """Turns a stream of log bytes into plain text, one complete line at a time."""

    def __init__(self) -> None:
        self._partial = b""

    def feed(self, data: bytes) -> str:
        """Plain text of the complete lines now available (each ending in a newline)."""
        data = self._partial + data
        end = data.rfind(b"\n")
        if end < 0:
            self._partial = data
            return ""
        self._partial = data[end + 1 :]
        return strip_escapes(data[: end + 1].decode("utf-8", "replace"))

    def finish(self) -> str:
        """Plain text of the last, unterminated line."""
        rest, self._partial = self._partial, b""
        return strip_escapes(rest.decode("utf-8", "replace"))
