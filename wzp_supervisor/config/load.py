"""Finding and loading the configuration: the built-in file, the user's file merged over it."""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path

from wzp_supervisor import paths
from wzp_supervisor.config.build import build
from wzp_supervisor.config.errors import ConfigError
from wzp_supervisor.config.schema import Config, WorkspaceTemplate
from wzp_supervisor.config.source import ConfigFormat, Document, merge, parse, parse_yaml

BUILTIN_SOURCE = "<built-in config.yaml>"


@functools.cache
def _builtin_doc() -> Document:
    """The parsed built-in config; shared, so never mutated (``merge`` copies)."""
    text = resources.files("wzp_supervisor").joinpath("defaults/config.yaml").read_text("utf-8")
    return parse_yaml(text, BUILTIN_SOURCE)


@functools.cache
def builtin_config() -> Config:
    """The built-in configuration alone (``config/config.yaml``, shipped as ``defaults/``)."""
    return build(_builtin_doc(), None)


def parse_config_text(
    text: str, source: str, fmt: ConfigFormat = "yaml", *, path: Path | None = None
) -> Config:
    """Parse a user config (``fmt`` yaml, toml or json) merged over the built-in defaults.

    ``source`` names the text in errors; ``path`` is recorded as ``Config.path``.
    """
    return build(merge(_builtin_doc(), parse(text, source, fmt)), path)


def template_from_dict(name: str, data: object, source: str) -> WorkspaceTemplate:
    """The template ``name`` from its file form (``template_to_dict``), validated as if it
    were in a config file named ``source``. Raises ConfigError."""
    text = json.dumps({"workspaces": {"templates": {name: data}}})
    return parse_config_text(text, source, "json").templates[name]


def format_for(path: Path) -> ConfigFormat:
    """The format of a config file, from its suffix (YAML unless .toml or .json)."""
    suffix = path.suffix.lower()
    return "toml" if suffix == ".toml" else "json" if suffix == ".json" else "yaml"


def find_config() -> Path | None:
    """The first existing file of ``paths.config_candidates()``, or None."""
    return next((p for p in paths.config_candidates() if p.is_file()), None)


def load_config(path: Path | None = None) -> Config:
    """Load ``path`` (or the first user config found) merged over the built-in config.

    With no user config at all this is the built-in configuration. Raises ConfigError.
    """
    path = path if path is not None else find_config()
    if path is None:
        return builtin_config()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), None, "", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), None, "", f"cannot read the file: {exc}") from None
    return parse_config_text(text, str(path), format_for(path), path=path)
