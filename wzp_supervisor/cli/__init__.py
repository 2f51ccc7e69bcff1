"""Everything that runs in the ``wzp`` process: click commands, the stdlib fast paths (the
status view and the hook command), the hub client and text rendering.

Importing this package costs nothing: the hook command and the status view import their
modules without click. The root click group is :data:`wzp_supervisor.cli.root.main`.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import click


def __getattr__(name: str) -> click.Group:
    """``wzp_supervisor.cli.main``: the root click group, imported on first use."""
    if name == "main":
        from wzp_supervisor.cli.root import main

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
