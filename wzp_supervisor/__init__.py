"""wezterm-parallel: a per-user supervisor for many AI coding agents in WezTerm."""

__version__ = "0.1.0"
