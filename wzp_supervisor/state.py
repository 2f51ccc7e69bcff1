"""Temporary re-export of atomic_write (removed once every caller imports atomic_file)."""

from wzp_supervisor.atomic_file import atomic_write

__all__ = ["atomic_write"]
