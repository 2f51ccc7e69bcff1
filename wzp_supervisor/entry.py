"""Console-script entry point of ``wzp``.

``wzp hook EVENT`` is called by Claude Code for every hook event and must return at once, and
plain ``wzp status``/``wzp list`` are what people and status bars run most, so these are
served by stdlib-only modules (:mod:`wzp_supervisor.cli.hook`,
:mod:`wzp_supervisor.cli.status_view`) before click or anything heavy is imported.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Run ``wzp``: the hook and status fast paths, else the click CLI."""
    argv = sys.argv[1:]
    if argv[:1] == ["hook"]:
        from wzp_supervisor.cli import hook

        sys.exit(hook.main(argv[1:]))
    if argv[:1] in (["status"], ["list"]):
        from wzp_supervisor.cli import status_view

        code = status_view.run(argv)
        if code is not None:
            sys.exit(code)
    from wzp_supervisor.cli.root import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
