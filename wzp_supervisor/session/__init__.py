"""Session holders: one PTY per interactive pane, outliving the WezTerm pane that shows it.

``holder`` is the process that owns the PTY and serves clients on a Unix socket: its loop is
``reactor``, its clients ``connections``, what they ask ``requests`` (``wire`` is the framing,
``terminal_modes`` the private-mode tracker). ``screen`` keeps the screen model, ``logfile``
the rotated output log, ``attach`` is the interactive client and ``control`` the small
synchronous API for ``send``/``peek``/``info``. This package knows PTYs, not Circus.
"""
