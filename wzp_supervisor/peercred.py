"""Who is on the other end of a Unix socket: the check every client and server makes.

Standard library only: the CLI, the hook command, attach and the holder import it.
"""

from __future__ import annotations

import _socket  # not socket: its enums cost the hook command milliseconds to import
import os
import struct
import sys


class PeerMismatch(PermissionError):
    """The other end of a socket runs as another user."""


def peer_uid(sock: _socket.socket) -> int | None:
    """The uid of the process on the other end of a Unix socket (None when unknown)."""
    if sys.platform.startswith("linux"):
        creds = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
        return int(uid)
    if sys.platform == "darwin":  # LOCAL_PEERCRED → struct xucred {u_int version; uid_t uid; …}
        local_peercred = 0x001
        creds = sock.getsockopt(0, local_peercred, struct.calcsize("2I"))
        _version, uid = struct.unpack("2I", creds)
        return int(uid)
    return None


def require_own_peer(sock: _socket.socket, what: str) -> None:
    """Raise PeerMismatch unless the peer of ``sock`` runs as our uid.

    ``what`` names the socket in the message (for example its path).
    """
    uid = peer_uid(sock)
    if uid is not None and uid != os.getuid():
        raise PeerMismatch(
            f"{what} is served by uid {uid}, not by you (uid {os.getuid()}); "
            "refusing to talk to it (another user may be impersonating wzp)"
        )
