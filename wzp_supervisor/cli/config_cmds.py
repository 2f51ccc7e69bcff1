"""Configuration verbs: ``config check [PATH]`` and ``config show``."""

from __future__ import annotations

import os
from pathlib import Path

import click

from wzp_supervisor.cli.common import config_option, echo, fail, json_option, plural, print_json


@click.group()
def config() -> None:
    """Check and show the configuration."""


@config.command(name="check")
@click.argument("path", required=False, type=click.Path(path_type=Path, dir_okay=False))
@config_option
@json_option
def config_check(path: Path | None, config_path: Path | None, as_json: bool) -> None:
    """Validate the config (--config FILE or PATH; default: the user's config file).

    Errors name file, line and key; warnings (a program not on PATH, an unset ${VAR}) are
    printed on stderr.

    \b
    Example:
      wzp config check --config ~/.config/wezterm-parallel/config.yaml
    """
    from wzp_supervisor.config import ConfigError, load_config

    if path is not None and config_path is not None and path != config_path:
        raise click.UsageError("give the file once: PATH or --config FILE")
    try:
        cfg = load_config(path or config_path)
    except ConfigError as exc:
        fail(str(exc))
    except FileNotFoundError as exc:
        fail(f"{exc.filename}: no such file")
    from wzp_supervisor.preflight import config_warnings

    warnings = config_warnings(cfg, os.environ)
    source = cfg.path or "built-in defaults"
    if as_json:
        print_json(
            {
                "path": os.fspath(cfg.path) if cfg.path else None,
                "templates": sorted(cfg.templates),
                "warnings": [str(w) for w in warnings],
            }
        )
        return
    for warning in warnings:
        echo(str(warning), err=True)
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
