"""The token that tells the WezTerm plugin a status.json or ui.json is really ours.

The plugin reads those files with ``io.open`` and cannot check who owns the directory they
are in without starting a process. So the daemon puts this per-user random token in both, and
keeps it 0600 in the user's own state dir, which no other user can read or replace: a file
planted by someone else (in a runtime dir under /tmp they created first) cannot carry it.
Standard library only.
"""

from __future__ import annotations

import os
import secrets

from wzp_supervisor import paths
from wzp_supervisor.atomic_file import atomic_write


def plugin_token() -> str:
    """This user's token, created on first use."""
    path = paths.plugin_token_file()
    try:
        token = path.read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        token = ""
    if len(token) == 32 and all(c in "0123456789abcdef" for c in token):
        return token
    token = secrets.token_hex(16)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(path, (token + "\n").encode(), mode=0o600)
    os.chmod(path, 0o600)
    return token
