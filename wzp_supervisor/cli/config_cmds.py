"""Configuration verbs: ``config check [PATH]`` and ``config show``."""

from __future__ import annotations

import os
from pathlib import Path

import click

from wzp_supervisor.cli.common import config_option, echo, fail, plural


@click.group()
def config() -> None:
    """Check and show the configuration."""


@config.command(name="check")
@click.argument("path", required=False, type=click.Path(path_type=Path, dir_okay=False))
def config_check(path: Path | None) -> None:
    """Validate PATH (default: the user's config file); errors name file, line and key."""
    from wzp_supervisor.config import ConfigError, load_config

    try:
        cfg = load_config(path)
    except ConfigError as exc:
        fail(str(exc))
    except FileNotFoundError as exc:
        fail(f"{exc.filename}: no such file")
    from wzp_supervisor.preflight import config_warnings

    for warning in config_warnings(cfg, os.environ):
        echo(str(warning), err=True)
    source = cfg.path or "built-in defaults"
    names = ", ".join(sorted(cfg.templates))
    echo(f"{source}: ok ({plural(len(cfg.templates), 'template')}: {names})")


@config.command(name="show")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["yaml", "toml", "json"]),
    default="yaml",
    show_default=True,
)
@config_option
def config_show(fmt: str, config_path: Path | None) -> None:
    """Print the effective configuration (secrets masked)."""
    from wzp_supervisor.config import ConfigError, dump_config, load_config

    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        fail(str(exc))
    echo(dump_config(cfg, fmt).rstrip("\n"), multiline=True)  # type: ignore[arg-type]
