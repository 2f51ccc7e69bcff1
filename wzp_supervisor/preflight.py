"""Checks before processes start: programs missing from PATH and environment pitfalls.

Pure functions over a :class:`Config` and an environment mapping. ``config_warnings`` is what
``wzp config check`` prints (and what the daemon may print when it starts); ``missing_program``
says why a pane's program cannot start, for the process table.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from wzp_supervisor.agent_environment import env_references, resolve_environment
from wzp_supervisor.config import Config, PaneTemplate
from wzp_supervisor.templates import WORKSPACE_PLACEHOLDER, PaneSpec

# Words that sh runs itself: a shell pane starting with one of these has no program to find.
_SH_WORDS = frozenset(
    (
        "!",
        ".",
        ":",
        "[",
        "{",
        "case",
        "cd",
        "command",
        "eval",
        "exec",
        "exit",
        "export",
        "for",
        "if",
        "set",
        "test",
        "true",
        "false",
        "ulimit",
        "umask",
        "unset",
        "until",
        "while",
    )
)
_CLAUDE_KEY_WRONG = "CLAUDE_API_KEY"
_CLAUDE_KEY_RIGHT = "ANTHROPIC_API_KEY"


@dataclass(frozen=True)
class ConfigWarning:
    """Something that validates but will not work as meant, at ``file:line`` under ``key``."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: warning: {self.key}: {self.message}"


def missing_program(argv: Sequence[str], path: str | None, *, shell: bool = False) -> str | None:
    """Why ``argv``'s program cannot be run with ``path`` as PATH, or None when it can.

    With ``shell`` the command is one string for ``sh -c`` and its first word is checked
    (unless sh runs that word itself). A program with a ``/`` is checked as a file.
    """
    if not argv:
        return "the command is empty"
    program = argv[0]
    if shell:
        try:
            words = shlex.split(argv[0])
        except ValueError:
            return None  # sh reports it; nothing to look up
        if not words or words[0] in _SH_WORDS or "=" in words[0] or "$" in words[0]:
            return None
        program = words[0]
    if "/" in program:
        if not os.path.exists(program):
            return f"{program}: no such file"
        if os.path.isdir(program) or not os.access(program, os.X_OK):
            return f"{program}: not an executable file"
        return None
    found = _which(program, path)
    return None if found else f"{program}: not found on PATH"


def pane_missing_program(spec: PaneSpec, environ: Mapping[str, str]) -> str | None:
    """:func:`missing_program` for a pane about to start with ``environ`` as the daemon's
    environment (the pane's own ``PATH`` wins when it sets one)."""
    resolved, _ = resolve_environment(spec.environment, environ)
    return missing_program(spec.argv, resolved.get("PATH", environ.get("PATH")), shell=spec.shell)


def _which(program: str, path: str | None) -> bool:
    for directory in (path or "").split(os.pathsep):
        candidate = os.path.join(directory or ".", program)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return True
    return False


def config_warnings(config: Config, environ: Mapping[str, str]) -> list[ConfigWarning]:
    """Every warning about ``config`` run with ``environ`` as the daemon's environment.

    - a pane's program that is not on ``environ["PATH"]`` (``wzp`` itself excepted);
    - ``CLAUDE_API_KEY`` set for a process: Claude Code reads ``ANTHROPIC_API_KEY``;
    - a ``${VAR}`` (without a ``:-default``) whose variable is unset in ``environ``;
    - the same for each pool's command and environment;
    - a pool with ``worktree: true`` whose ``cwd`` is not inside a git repository.
    """
    out: list[ConfigWarning] = []
    path = environ.get("PATH")
    default_used = False
    for name, template in config.templates.items():
        for index, pane in enumerate(template.panes):
            where = ("workspaces", "templates", name, "panes", index)
            default_used = default_used or pane.command is None
            reason = pane.command and _program_problem(pane, pane.command, path)
            if reason:
                message = _explain(reason) + "; the pane will fail to start"
                out.append(_warning(config, (*where, "command"), message))
            out += _env_warnings(config, pane.environment, (*where, "environment"), environ)
    if default_used:
        reason = _program_problem(None, config.processes.command, path)
        if reason:
            key = ("processes", "claude_code", "command")
            message = _explain(reason) + "; panes without a command run it and will fail to start"
            out.append(_warning(config, key, message))
    key = ("processes", "claude_code", "environment")
    out += _env_warnings(config, config.processes.environment, key, environ)
    for name, pool in config.pools.items():
        command = pool.command or config.processes.command
        resolved, _ = resolve_environment(pool.environment, environ)
        reason = _program_problem(None, command, resolved.get("PATH", path))
        if reason:
            pool_key: tuple[str, ...] = (
                ("pools", name, "command") if pool.command else ("pools", name)
            )
            message = _explain(reason) + "; the pool's tasks will fail"
            out.append(_warning(config, pool_key, message))
        out += _env_warnings(config, pool.environment, ("pools", name, "environment"), environ)
        if pool.worktree and pool.cwd is not None and not _in_git_repository(pool.cwd):
            message = (
                f"{pool.cwd} (cwd) is not inside a git repository; the workers cannot get "
                "their worktrees and the pool's tasks will fail"
            )
            out.append(_warning(config, ("pools", name, "worktree"), message))
    return out


def _in_git_repository(directory: Path) -> bool:
    """Whether ``directory`` or a parent holds ``.git`` (a directory, or a worktree's file)."""
    return any((d / ".git").exists() for d in (directory, *directory.parents))


def _program_problem(
    pane: PaneTemplate | None, argv: Sequence[str], path: str | None
) -> str | None:
    shell = pane is not None and pane.shell
    first = argv[0] if argv else ""
    if not shell and (first == "wzp" or WORKSPACE_PLACEHOLDER in first):
        return None  # `wzp` is replaced by this wzp; a placeholder is only known per workspace
    return missing_program(argv, path, shell=shell)


def _explain(reason: str) -> str:
    if reason.startswith("claude-code:"):
        reason += " (the Claude Code command is `claude`)"
    return reason


def _env_warnings(
    config: Config,
    env: Mapping[str, str],
    where: tuple[str | int, ...],
    environ: Mapping[str, str],
) -> list[ConfigWarning]:
    out: list[ConfigWarning] = []
    for var, value in env.items():
        key = (*where, var)
        if var == _CLAUDE_KEY_WRONG and _CLAUDE_KEY_RIGHT not in env:
            out.append(
                _warning(
                    config,
                    key,
                    f"Claude Code does not read {_CLAUDE_KEY_WRONG}; set {_CLAUDE_KEY_RIGHT} "
                    f"(for example {_CLAUDE_KEY_RIGHT}: ${{{_CLAUDE_KEY_RIGHT}}})",
                )
            )
        unset = sorted(
            {ref for ref, default in env_references(value) if default is None} - set(environ)
        )
        for ref in unset:
            out.append(
                _warning(
                    config,
                    key,
                    f"${{{ref}}} is not set in the environment; it will expand to an empty string",
                )
            )
    return out


def _warning(config: Config, key: tuple[str | int, ...], message: str) -> ConfigWarning:
    file, line = config.where(*key)
    return ConfigWarning(file, line, _dotted(key), message)


def _dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out
