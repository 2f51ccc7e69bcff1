"""The configuration: YAML (or TOML) → typed, validated, immutable :class:`Config`.

The built-in ``config/config.yaml`` (shipped as ``wzp_supervisor/defaults/config.yaml``)
holds every default and documents the format.
A user file (``paths.config_candidates()``) is merged over it: sections merge key by key, a
user template replaces the built-in template of the same name. Every problem is reported as a
:class:`ConfigError` naming the file, the line and the dotted key path.

Modules: ``schema`` (the objects), ``source`` (located YAML/TOML parsing and merging),
``validate`` (value parsers and the generic section reader), ``build`` (templates and the top
level), ``load`` (finding and loading files), ``dump`` (back to YAML/TOML/JSON).
"""

from wzp_supervisor.config.dump import config_to_dict, dump_config, template_to_dict
from wzp_supervisor.config.errors import ConfigError
from wzp_supervisor.config.load import (
    builtin_config,
    find_config,
    format_for,
    load_config,
    parse_config_text,
    template_from_dict,
)
from wzp_supervisor.config.schema import (
    AgentKind,
    Config,
    NotificationsConfig,
    PaneTemplate,
    PoolConcurrency,
    PoolConfig,
    ProcessDefaults,
    RestartPolicy,
    WorkspaceTemplate,
)
from wzp_supervisor.config.source import ConfigFormat

__all__ = [
    "AgentKind",
    "Config",
    "ConfigError",
    "ConfigFormat",
    "NotificationsConfig",
    "PaneTemplate",
    "PoolConcurrency",
    "PoolConfig",
    "ProcessDefaults",
    "RestartPolicy",
    "WorkspaceTemplate",
    "builtin_config",
    "config_to_dict",
    "dump_config",
    "find_config",
    "format_for",
    "load_config",
    "parse_config_text",
    "template_from_dict",
    "template_to_dict",
]
