"""Every file location of wezterm-parallel, derived from the XDG variables here and nowhere else.

Config lives under ``$XDG_CONFIG_HOME/wezterm-parallel``, state (saved state, backups, logs,
scrollback) under ``$XDG_STATE_HOME/wezterm-parallel`` and everything that must not outlive a
boot (sockets, pid, status.json) under ``$XDG_RUNTIME_DIR/wezterm-parallel``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

APP = "wezterm-parallel"

# sun_path is 108 bytes on Linux and 104 on macOS; keep a margin for the NUL.
_MAX_SOCKET_PATH = 100


class RuntimeDirError(RuntimeError):
    """The runtime directory is not private to this user."""


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / fallback


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/wezterm-parallel``."""
    return _xdg("XDG_CONFIG_HOME", ".config") / APP


def config_candidates() -> list[Path]:
    """Config files looked for, in order: config.yaml, config.yml, config.toml."""
    base = config_dir()
    return [base / "config.yaml", base / "config.yml", base / "config.toml"]


def state_dir() -> Path:
    """``$XDG_STATE_HOME/wezterm-parallel``."""
    return _xdg("XDG_STATE_HOME", ".local/state") / APP


def state_file() -> Path:
    return state_dir() / "state.json"


def backups_dir() -> Path:
    return state_dir() / "backups"


def plugin_token_file() -> Path:
    """The per-user token that authenticates status.json and ui.json to the plugin."""
    return state_dir() / "plugin.token"


def logs_dir() -> Path:
    return state_dir() / "logs"


def daemon_log() -> Path:
    """Structured JSON-lines log of the daemon."""
    return logs_dir() / "daemon.jsonl"


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")


def _name_part(name: str) -> str:
    """``name`` as one file-name part: itself when made of ``[a-z0-9_-]`` only (every valid
    workspace and pane name), else ``%`` and the name with each other character as ``%XX``
    (its UTF-8 bytes). Different names give different parts, never empty, never ``.``, ``..``
    or containing ``/`` or ``.``, so a separator ``.`` between parts stays unambiguous."""
    if name and all(ch in _NAME_CHARS for ch in name):
        return name
    escaped = (
        ch
        if ch in _NAME_CHARS
        else "".join(f"%{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
        for ch in name
    )
    return "%" + "".join(escaped)


def pane_log(workspace: str, pane: str) -> Path:
    """Output log (scrollback) of one supervised pane."""
    return logs_dir() / _name_part(workspace) / f"{_name_part(pane)}.log"


def session_id_file(workspace: str, pane: str) -> Path:
    """The Claude Code session id an agent resumes, kept current by the daemon."""
    return state_dir() / "sessions" / _name_part(workspace) / f"{_name_part(pane)}.id"


def worktrees_dir() -> Path:
    return state_dir() / "worktrees"


def runtime_base() -> Path:
    """The directory the runtime dir is created in (not yet checked)."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / APP
    import tempfile  # only without XDG_RUNTIME_DIR (keeps the holder's imports small)

    return Path(tempfile.gettempdir()) / f"{APP}-{os.getuid()}"


def runtime_dir(create: bool = True) -> Path:
    """The private runtime dir, mode 0700 and owned by us; created when asked.

    Raises RuntimeDirError when it exists with another owner or looser mode: sockets there
    would let another user drive agents that run as us.
    """
    path = runtime_base()
    check_parent_dir(path.parent)
    if create:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    check_private_dir(path)
    return path


def check_parent_dir(path: Path) -> None:
    """Refuse a parent of the runtime dir that other users could rename our dir in.

    The parent must belong to us or to root, and must not be writable by group or others
    unless it is sticky (like /tmp), else someone else could swap the runtime dir for theirs.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if st.st_uid not in (0, os.getuid()):
        raise RuntimeDirError(
            f"{path} is owned by uid {st.st_uid}, not by you (uid {os.getuid()}) or root; "
            "refusing to keep the runtime dir there (set XDG_RUNTIME_DIR to a private dir)"
        )
    if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
        raise RuntimeDirError(
            f"{path} has mode {stat.S_IMODE(st.st_mode):04o}: other users could replace the "
            "runtime dir in it; make it 0700 or sticky, or set XDG_RUNTIME_DIR to a private dir"
        )


def check_private_dir(path: Path) -> None:
    """Refuse a directory that is a symlink, not ours, or open to group/others."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise RuntimeDirError(f"{path} is not a directory (refusing a symlink or file)")
    if st.st_uid != os.getuid():
        raise RuntimeDirError(
            f"{path} is owned by uid {st.st_uid}, not by you (uid {os.getuid()}); "
            "refusing to use it"
        )
    if st.st_mode & 0o077:
        raise RuntimeDirError(
            f"{path} has mode {stat.S_IMODE(st.st_mode):04o}; it must be 0700 "
            f"(fix with: chmod 700 {path})"
        )


def hub_socket() -> Path:
    return runtime_base() / "hub.sock"


def circus_endpoint() -> str:
    """ZeroMQ control endpoint of the embedded arbiter (usable by plain ``circusctl``)."""
    return f"ipc://{runtime_base() / 'circus.sock'}"


def circus_pubsub_endpoint() -> str:
    return f"ipc://{runtime_base() / 'circus-pub.sock'}"


def pid_file() -> Path:
    return runtime_base() / "daemon.pid"


def lock_file() -> Path:
    return runtime_base() / "daemon.lock"


def status_json() -> Path:
    """The status file the WezTerm plugin reads each tick."""
    return runtime_base() / "status.json"


def session_socket(workspace: str, pane: str) -> Path:
    """Unix socket of the session holder of ``workspace/pane``: ``s/WORKSPACE.PANE.sock``.

    Names hold no ``.``, so two panes never share a socket. Falls back to a short hashed name
    (``s/HEX.sock``, one dot) when the readable one would not fit in sun_path.
    """
    sessions = runtime_base() / "s"
    workspace, pane = _name_part(workspace), _name_part(pane)
    readable = sessions / f"{workspace}.{pane}.sock"
    if len(os.fsencode(readable)) <= _MAX_SOCKET_PATH:
        return readable
    import hashlib  # only for names too long for sun_path

    digest = hashlib.sha256(f"{workspace}/{pane}".encode()).hexdigest()[:24]
    return sessions / f"{digest}.sock"


def agent_record_file(workspace: str, pane: str) -> Path:
    """The record a session holder keeps of its agent (``session/agent_record.py``), left
    behind when it ends: how the agent ended is read from it by a daemon that adopted the
    holder (not its parent, so no exit status) or found it gone after a time away."""
    return session_socket(workspace, pane).with_suffix(".agent")


def check_extra_socket_path(path: Path) -> None:
    """Refuse an extra hub socket path that another user could take or swap.

    Its directory must pass ``check_parent_dir`` (ours or root's, and not writable by others
    unless sticky, like /tmp), and anything already at the path must be a socket of ours (a
    leftover of an earlier daemon), never a symlink or another user's file.
    """
    if not path.is_absolute():
        raise RuntimeDirError(f"communication.socket_path {path} must be an absolute path")
    check_parent_dir(path.parent)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.getuid():
        raise RuntimeDirError(
            f"communication.socket_path {path} exists and is not a socket of yours "
            f"(owner uid {st.st_uid}); remove it or choose another path"
        )
