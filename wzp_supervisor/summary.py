"""Temporary re-export of the state vocabulary (removed once every caller imports states)."""

from wzp_supervisor.states import human_bytes, one_line
from wzp_supervisor.states import shown_state as state_of

__all__ = ["human_bytes", "one_line", "state_of"]
