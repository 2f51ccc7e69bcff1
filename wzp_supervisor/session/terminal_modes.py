"""Terminal private modes (``ESC [ ? N h`` / ``l``) tracked by scanning raw output bytes.

Cheap enough for every chunk of output (a substring test, a regex only when a mode sequence
is present), so mode state stays exact even when the screen model skips output under load.
"""

from __future__ import annotations

import re

BRACKETED_PASTE = 2004
CURSOR_VISIBLE = 25
ALT_SCREENS = (47, 1047, 1049)

# Modes a new attacher's terminal must share with the program: cursor keys, cursor
# visibility, mouse reporting, focus events, bracketed paste (alternate screen is separate).
_RESTORED = (1, 25, 1000, 1002, 1003, 1004, 1005, 1006, 1015, 2004)
_DEFAULT_ON = frozenset({25})
_TRACKED = frozenset((*_RESTORED, *ALT_SCREENS))

_MODE_RE = re.compile(rb"\x1b\[\?([0-9;]*)([hl])|\x1bc")
_CARRY = 24


class ModeTracker:
    """The on/off state of the private modes that matter to attachers and to ``send``."""

    def __init__(self) -> None:
        self._on: set[int] = set(_DEFAULT_ON)
        self._carry = b""

    def scan(self, data: bytes) -> None:
        """Update the modes from a chunk of output (sequences may straddle chunks)."""
        buf = self._carry + data if self._carry else data
        if b"\x1b[?" in buf or b"\x1bc" in buf:
            for match in _MODE_RE.finditer(buf):
                if match.group(2) is None:  # RIS: full reset
                    self._on = set(_DEFAULT_ON)
                    continue
                enable = match.group(2) == b"h"
                for part in match.group(1).split(b";"):
                    if part.isdigit() and int(part) in _TRACKED:
                        if enable:
                            self._on.add(int(part))
                        else:
                            self._on.discard(int(part))
        esc = buf.rfind(b"\x1b", max(0, len(buf) - _CARRY))
        self._carry = bytes(buf[esc:]) if esc >= 0 else b""

    def is_on(self, mode: int) -> bool:
        """Whether private mode ``mode`` is set."""
        return mode in self._on

    @property
    def bracketed_paste(self) -> bool:
        """Whether the program asked for bracketed paste (``ESC [ ? 2004 h``)."""
        return BRACKETED_PASTE in self._on

    @property
    def alt_screen(self) -> bool:
        """Whether the program is on the alternate screen."""
        return any(m in self._on for m in ALT_SCREENS)

    def restore_sequence(self) -> bytes:
        """Escape sequences putting a fresh terminal into the program's modes."""
        out = []
        for mode in _RESTORED:
            on = mode in self._on
            if on != (mode in _DEFAULT_ON):
                out.append(b"\x1b[?%d%s" % (mode, b"h" if on else b"l"))
        return b"".join(out)

    def reset_sequence(self) -> bytes:
        """Escape sequences returning a terminal to defaults (used when an attacher leaves)."""
        out = [b"\x1b[0m"]
        if self.alt_screen:
            out.append(b"\x1b[?1049l")
        for mode in _RESTORED:
            if mode in self._on and mode not in _DEFAULT_ON:
                out.append(b"\x1b[?%dl" % mode)
        out.append(b"\x1b[?25h")
        return b"".join(out)
