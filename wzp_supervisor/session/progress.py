"""Terminal progress reports (``OSC 9 ; 4 ; state [; value] ST``) seen in a program's output.

Claude Code (and other programs: ConEmu's convention, shown by WezTerm and Windows Terminal)
writes these for the whole of a turn: a hook-free signal that the program is working. States:
0 none (cleared), 1 normal, 2 error, 3 indeterminate, 4 paused. Cheap per chunk: a substring
test, a regex only when a report is present; reports straddling chunks are carried over.
"""

from __future__ import annotations

import re
import time
from typing import TypedDict

_REPORT = re.compile(rb"\x1b\]9;4;([0-4])(?:;([0-9]{0,3}))?(?:\x07|\x1b\\)")
_MARK = b"\x1b]9;4;"
_CARRY = 16
NAMES = {0: "none", 1: "busy", 2: "error", 3: "busy", 4: "paused"}


class ProgressInfo(TypedDict):
    """The last progress report, as the holder's ``info`` shows it."""

    state: str | None  # none | busy | error | paused; None: no report seen yet
    value: int | None
    since: float | None  # time.time() of the last change


class ProgressTracker:
    """The last progress state a program reported, and when it changed."""

    def __init__(self) -> None:
        self.state: int | None = None
        self.value: int | None = None
        self.since: float | None = None
        self._carry = b""

    def scan(self, data: bytes) -> None:
        """Update from a chunk of output."""
        buf = self._carry + data if self._carry else data
        if _MARK in buf:
            for match in _REPORT.finditer(buf):
                state = int(match.group(1))
                value = int(match.group(2)) if match.group(2) else None
                if state != self.state or value != self.value:
                    if state != self.state:
                        self.since = time.time()
                    self.state, self.value = state, value
        esc = buf.rfind(b"\x1b", max(0, len(buf) - _CARRY))
        self._carry = bytes(buf[esc:]) if esc >= 0 and not buf.endswith(b"\x07") else b""

    def describe(self) -> ProgressInfo:
        """JSON-ready form."""
        name = NAMES.get(self.state) if self.state is not None else None
        return {"state": name, "value": self.value, "since": self.since}
