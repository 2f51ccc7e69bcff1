"""A :class:`Config` back in its file format, for ``wzp config show``; secrets masked."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from typing import Any

import tomli_w
import yaml

from wzp_supervisor.config.schema import Config, PaneTemplate, PoolConfig, WorkspaceTemplate
from wzp_supervisor.config.source import ConfigFormat
from wzp_supervisor.config.validate import file_key

SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH")
_REFERENCE_RE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$")


def _is_secret(key: str, value: str) -> bool:
    """A literal value under a secret-looking name (not a pure ``${VAR}`` reference)."""
    return any(word in key.upper() for word in SECRET_WORDS) and not _REFERENCE_RE.match(value)


def _mask(env: Mapping[str, str]) -> dict[str, str]:
    return {key: "***" if _is_secret(key, value) else value for key, value in env.items()}


def _plain(value: object) -> Any:
    """Dataclasses (under their file keys), mappings and tuples as plain dicts and lists."""
    if is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in fields(value):
            if f.metadata.get("internal"):
                continue
            to_file = f.metadata.get("dump")
            item = getattr(value, f.name)
            out[file_key(f)] = _plain(to_file(item) if to_file else item)
        return out
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


def _pane_dict(pane: PaneTemplate, mask: bool) -> dict[str, Any]:
    out: dict[str, Any] = _plain(pane)
    if pane.shell and pane.command is not None:
        out["command"] = pane.command[0]
    out["environment"] = _mask(pane.environment) if mask else dict(pane.environment)
    return out


def _template_dict(template: WorkspaceTemplate, mask: bool) -> dict[str, Any]:
    out: dict[str, Any] = _plain(template)
    out["panes"] = [_pane_dict(pane, mask) for pane in template.panes]
    return out


def template_to_dict(template: WorkspaceTemplate) -> dict[str, Any]:
    """One template in its file format, for saving (``template_from_dict`` reads it).

    Literal secrets (see ``config_to_dict``) are left out, so they stay in the config file
    alone; ``${VAR}`` references are kept.
    """
    out = _template_dict(template, mask=False)
    for pane in out["panes"]:
        env = pane["environment"]
        pane["environment"] = {k: val for k, val in env.items() if not _is_secret(k, val)}
    return out


def config_to_dict(cfg: Config, mask_secrets: bool = True) -> dict[str, Any]:
    """The config in its file format (loads back to the same Config), for ``config show``.

    With ``mask_secrets`` environment values under secret-looking names (KEY, TOKEN, SECRET,
    PASSWORD, PASSWD, CREDENTIAL, AUTH) are shown as ``***`` unless they are a pure ``${VAR}``
    reference.
    """
    processes: dict[str, Any] = _plain(cfg.processes)
    env = cfg.processes.environment
    processes["environment"] = _mask(env) if mask_secrets else dict(env)
    return {
        "framework": _plain(cfg.framework),
        "workspaces": {
            "default_template": cfg.default_template,
            "worktree_root": os.fspath(cfg.worktree_root) if cfg.worktree_root else None,
            "templates": {
                name: _template_dict(t, mask_secrets) for name, t in cfg.templates.items()
            },
        },
        "processes": {"claude_code": processes},
        "communication": _plain(cfg.communication),
        "ui": _plain(cfg.ui),
        "metrics": _plain(cfg.metrics),
        "notifications": _plain(cfg.notifications),
        "pools": {name: _pool_dict(pool, mask_secrets) for name, pool in cfg.pools.items()},
    }


def _pool_dict(pool: PoolConfig, mask_secrets: bool) -> dict[str, Any]:
    out: dict[str, Any] = _plain(pool)
    out["cwd"] = os.fspath(pool.cwd) if pool.cwd else None
    out["environment"] = _mask(pool.environment) if mask_secrets else dict(pool.environment)
    return out


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(item) for item in value]
    return value


def dump_config(cfg: Config, fmt: ConfigFormat = "yaml", mask_secrets: bool = True) -> str:
    """``config_to_dict`` rendered as yaml, toml (None values dropped) or json."""
    data = config_to_dict(cfg, mask_secrets)
    if fmt == "toml":
        return tomli_w.dumps(_drop_none(data))
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
