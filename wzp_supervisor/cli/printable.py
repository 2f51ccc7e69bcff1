"""Text made safe to print on a terminal: the one sanitizer every CLI renderer uses.

Agents, hooks, prompts and task results carry text from elsewhere; printed raw, an escape
sequence in it could retitle the terminal, write the clipboard (OSC 52), clear the screen
or worse. :func:`printable` shows every control character as a visible escape instead
(``ESC`` as ``\\x1b``), and lone surrogates (from bytes that were not UTF-8) as ``\\udcff``,
which would otherwise fail to print at all. Standard library only.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls and lone surrogates; newline and tab kept when multi-line
_UNSAFE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_UNSAFE_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    short = _SHORT.get(char)
    if short is not None:
        return short
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, multiline: bool = False) -> str:
    """``text`` with every control character shown as an escape (``\\x1b``, ``\\n``, …).

    With ``multiline`` newlines and tabs are kept (for fields meant to span lines, such as
    a task's result); carriage returns are escaped either way.
    """
    pattern = _UNSAFE_TEXT if multiline else _UNSAFE_LINE
    return pattern.sub(_escape, text)
