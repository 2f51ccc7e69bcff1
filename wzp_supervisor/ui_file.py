"""The ui file: what the WezTerm plugin needs from the config, as JSON beside status.json.

The plugin reads it with ``io.open`` while WezTerm evaluates its config, so that evaluation
never starts a process. It holds the key bindings, the theme, the status bar settings, the
ui flags and the workspace templates (names, layouts, descriptions). The daemon writes it at
start and after each reload. Standard library only (plus the config dataclasses).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TypedDict

from wzp_supervisor import paths
from wzp_supervisor.atomic_file import atomic_write
from wzp_supervisor.config import Config
from wzp_supervisor.config.schema import UiConfig

SCHEMA = 1
"""Version of the ui file's layout; the plugin ignores a file with another one."""

FILE_NAME = "ui.json"


class StatusBarDoc(TypedDict):
    """``ui.status_bar`` as the plugin uses it."""

    enabled: bool
    update_interval: float
    show_resources: bool


class TemplateDoc(TypedDict):
    """One workspace template, for the plugin's template picker."""

    layout: str
    description: str
    panes: list[str]


class UiDocument(TypedDict):
    """The whole ui file."""

    schema: int
    generated: float
    config_path: str | None
    keybindings: dict[str, str]
    theme: str | dict[str, str]
    status_bar: StatusBarDoc
    show_process_status: bool
    auto_hide_inactive_panes: bool
    default_template: str
    templates: dict[str, TemplateDoc]
    token: str | None
    """The plugin token (``plugin_token.py``): the plugin ignores a file without the right one."""


def ui_file_path() -> Path:
    """The ui file, in the runtime dir next to status.json."""
    return paths.runtime_base() / FILE_NAME


def _theme(ui: UiConfig) -> str | dict[str, str]:
    theme: object = ui.theme
    if isinstance(theme, str):
        return theme
    if isinstance(theme, Mapping):
        return {str(k): str(v) for k, v in theme.items()}
    return {}


def _status_bar(ui: UiConfig) -> StatusBarDoc:
    bar = ui.status_bar
    enabled = bar.get("enabled", True)
    interval = bar.get("update_interval", 1.0)
    resources = bar.get("show_resources", True)
    return {
        "enabled": enabled if isinstance(enabled, bool) else True,
        "update_interval": float(interval) if not isinstance(interval, bool) else 1.0,
        "show_resources": resources if isinstance(resources, bool) else True,
    }


def build_ui_document(config: Config, token: str | None = None) -> UiDocument:
    """The ui file's content for ``config``, carrying the plugin ``token``."""
    ui = config.ui
    templates: dict[str, TemplateDoc] = {
        name: {
            "layout": template.layout,
            "description": template.description,
            "panes": [pane.name for pane in template.panes],
        }
        for name, template in sorted(config.templates.items())
    }
    return {
        "schema": SCHEMA,
        "generated": time.time(),
        "config_path": os.fspath(config.path) if config.path is not None else None,
        "keybindings": {str(k): str(v) for k, v in ui.keybindings.items()},
        "theme": _theme(ui),
        "status_bar": _status_bar(ui),
        "show_process_status": ui.show_process_status,
        "auto_hide_inactive_panes": ui.auto_hide_inactive_panes,
        "default_template": config.default_template,
        "templates": templates,
        "token": token,
    }


def write_ui_file(path: Path, doc: UiDocument) -> None:
    """Write ``doc`` to ``path`` atomically and durably (mode 0600).

    Raises OSError when it cannot be written; the old file is left as it was.
    """
    atomic_write(path, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())
