"""What a daemon feature is given (``DaemonContext``) and what it must offer (``Feature``).

The daemon (``daemon.py``) builds each feature by name, in code, handing it the context and
the collaborators it needs (``TaskQueue(ctx, states)``); the order of that list is the order
of ``restore``, ``decorate`` and ``start`` (``stop`` runs in reverse). Features never reach
into each other: what one needs of another is passed to its constructor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from wzp_supervisor.config import Config
from wzp_supervisor.events import EventBus
from wzp_supervisor.process_table import ProcessTable
from wzp_supervisor.states import ProcessInfo
from wzp_supervisor.workspaces import WorkspaceManager

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
"""A hub handler: the request's fields in, the reply's fields out (or ProtocolError)."""

SavedState = Mapping[str, Any]
"""The loaded state document (validated by the state store)."""


class HubRegistry(Protocol):
    """Where features register the hub message types they serve."""

    @property
    def request_timeout(self) -> float:
        """Seconds a request may take before the hub answers with a timeout."""

    def register(self, kind: str, handler: Handler) -> None:
        """Serve ``kind`` with ``handler`` (a later registration replaces an earlier one)."""

    def unregister(self, kind: str) -> None:
        """Stop serving ``kind`` (no error when it was not served)."""

    def serves(self, kind: str) -> bool:
        """Whether ``kind`` has a handler."""


@dataclass
class DaemonContext:
    """The daemon's shared pieces, as features see them."""

    bus: EventBus
    hub: HubRegistry
    processes: ProcessTable
    workspaces: WorkspaceManager
    config: Callable[[], Config]
    """The current config (a reload replaces it; never keep the returned object)."""
    schedule_save: Callable[[], None]
    """Persist the state soon (many calls within one loop iteration make one write)."""
    snapshot: Callable[[], list[ProcessInfo]]
    """Every process, decorated by every feature."""
    started: float
    """When the daemon started (time.time())."""


class Feature(Protocol):
    """A part of the daemon with its own state, hub types and event listeners."""

    def restore(self, state: SavedState) -> None:
        """Take back what ``state_contribution`` saved (before any process starts)."""

    async def start(self) -> None:
        """Begin work: the arbiter runs and saved workspaces are not yet restored."""

    async def stop(self) -> None:
        """End work; called in reverse order while the processes still run."""

    def decorate(self, processes: list[ProcessInfo]) -> None:
        """Add this feature's keys to each process of a listing."""

    def state_contribution(self) -> dict[str, Any]:
        """Top-level keys this feature keeps in the state file."""


class FeatureBase:
    """A feature that does nothing at each step; subclasses override what they need."""

    def restore(self, state: SavedState) -> None:
        del state

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def decorate(self, processes: list[ProcessInfo]) -> None:
        del processes

    def state_contribution(self) -> dict[str, Any]:
        return {}
