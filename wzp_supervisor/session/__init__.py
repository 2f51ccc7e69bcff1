"""Session holders: one PTY per interactive pane, outliving the WezTerm pane that shows it.

``holder`` owns the PTY and serves clients on a Unix socket (``wire`` is the framing),
``screen`` keeps the screen model, ``logfile`` the rotated output log, ``attach`` is the
interactive client and ``control`` the small synchronous API for ``send``/``peek``/``info``.
This package knows PTYs, not Circus.
"""
