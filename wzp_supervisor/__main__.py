"""``python -m wzp_supervisor`` runs the ``wzp`` command."""

from wzp_supervisor.entry import main

main()
