"""Text made safe to paste into a terminal program: no escape or control sequences.

Standard library only. A bracketed paste ends at the first ``ESC [ 201 ~``; anything after it
would be typed as keys (Enter on a dialog, Escape, a shell command). So everything that is
not plain text is removed before text is pasted: CSI, OSC, DCS/SOS/PM/APC strings, other
two-byte escapes, C1 controls, NUL and every other C0 control except tab and newline
(carriage returns become newlines).
"""

from __future__ import annotations

import re

_SEQUENCES = re.compile(
    r"""
    \x1b\[[0-?]*[ -/]*[@-~]?                 # CSI (ESC [ ... final), possibly cut short
  | \x9b[0-?]*[ -/]*[@-~]?                   # 8-bit CSI
  | \x1b[\]PX^_].*?(?:\x07|\x1b\\|\x9c|$)    # OSC, DCS, SOS, PM, APC ... BEL or ST
  | [\x9d\x90\x98\x9e\x9f].*?(?:\x07|\x1b\\|\x9c|$)
  | \x1b[ -/]*[0-~]?                         # other escapes (ESC c, ESC ( B, ...)
    """,
    re.VERBOSE | re.DOTALL,
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


def clean(text: str) -> str:
    """``text`` without escape sequences and control characters (tab and newline kept)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x1b" in text or any("\x80" <= ch <= "\x9f" for ch in text):
        text = _SEQUENCES.sub("", text)
    return _CONTROLS.sub("", text)
