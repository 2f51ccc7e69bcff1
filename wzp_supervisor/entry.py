"""Console-script entry point of ``wzp``.

``wzp hook EVENT`` is called by Claude Code for every hook event and must return at once, so it
is served by ``hookfast`` (standard library only) before click or anything heavy is imported.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Run ``wzp``: the hook fast path, else the click CLI."""
    argv = sys.argv[1:]
    if argv[:1] == ["hook"]:
        from wzp_supervisor import hookfast

        sys.exit(hookfast.main(argv[1:]))
    if argv[:1] in (["status"], ["list"]):
        from wzp_supervisor import fastpath

        code = fastpath.run(argv)
        if code is not None:
            sys.exit(code)
    from wzp_supervisor.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
