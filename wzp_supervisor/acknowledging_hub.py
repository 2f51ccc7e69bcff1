"""The hub as daemon features see it: requests checked against their schema, and replies to
requests that changed anything sent only once the change is durably saved."""

from __future__ import annotations

from typing import Any, Protocol

from wzp_supervisor.features import Handler
from wzp_supervisor.hub import HubServer
from wzp_supervisor.hub_schema import check_fields


class Persistence(Protocol):
    """How many changes were scheduled for saving, and saving them now."""

    changes: int

    def persist(self) -> None:
        """Save unsaved changes now; raises ProtocolError when they could not be saved."""


class AcknowledgingHub:
    """The hub as features see it: every request is checked against its type's schema
    first; a reply to a request that changed anything goes out only once the change is
    durably saved, and when it cannot be, the request fails with the reason."""

    def __init__(self, hub: HubServer, persistence: Persistence) -> None:
        self._hub = hub
        self._persistence = persistence

    @property
    def request_timeout(self) -> float:
        return self._hub.request_timeout

    def register(self, kind: str, handler: Handler) -> None:
        persistence = self._persistence

        async def acknowledged(msg: dict[str, Any]) -> dict[str, Any]:
            check_fields(kind, msg)
            before = persistence.changes
            reply = await handler(msg)
            if persistence.changes != before:
                persistence.persist()
            return reply

        self._hub.register(kind, acknowledged)

    def unregister(self, kind: str) -> None:
        self._hub.unregister(kind)

    def serves(self, kind: str) -> bool:
        return self._hub.serves(kind)
