"""Console-script entry point of ``wzp``.

``wzp hook EVENT`` is called by Claude Code for every hook event and must return at once, and
plain ``wzp status``/``wzp list`` are what people and status bars run most, so these are
served by stdlib-only modules (:mod:`wzp_supervisor.cli.hook`,
:mod:`wzp_supervisor.cli.status_view`) before click or anything heavy is imported.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Run ``wzp``; when the reader of its output has gone (``wzp status | head -1``) it
    stops quietly with exit status 1 instead of a BrokenPipeError traceback."""
    try:
        try:
            _run(sys.argv[1:])
        finally:
            sys.stdout.flush()
    except BrokenPipeError:
        # what is left in the buffer goes nowhere, so the flush at exit cannot fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)


def _run(argv: list[str]) -> None:
    """The hook and status fast paths, else the click CLI."""
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
