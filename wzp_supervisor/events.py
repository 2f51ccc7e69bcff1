"""In-process event bus: the daemon publishes, hub subscribers and plugins receive.

Event names follow the seed (WorkspaceCreated, ProcessStarted, TaskCompleted, Error, …).
A slow subscriber never stalls the daemon: its bounded queue drops the oldest events and it
is told how many it missed.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Event = dict[str, Any]


class Subscription:
    """One subscriber's bounded queue of events."""

    def __init__(self, topics: frozenset[str] | None, maxlen: int = 1000) -> None:
        self.topics = topics
        self._queue: deque[Event] = deque(maxlen=maxlen)
        self._ready = asyncio.Event()
        self.dropped = 0

    def wants(self, event: Event) -> bool:
        if not self.topics:
            return True
        name = str(event.get("event", ""))
        return name in self.topics or str(event.get("topic", "")) in self.topics

    def put(self, event: Event) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(event)
        self._ready.set()

    async def get(self) -> Event:
        """The next event, waiting for one."""
        while not self._queue:
            self._ready.clear()
            await self._ready.wait()
        return self._queue.popleft()


class EventBus:
    """Publish events to subscribers and to synchronous listeners (plugins, logs)."""

    def __init__(self, history: int = 200) -> None:
        self._subs: set[Subscription] = set()
        self._listeners: list[Callable[[Event], None]] = []
        self._seq = itertools.count(1)
        self.recent: deque[Event] = deque(maxlen=history)

    def subscribe(self, topics: frozenset[str] | None = None) -> Subscription:
        sub = Subscription(topics)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[Event], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def publish(self, name: str, topic: str, **fields: Any) -> Event:
        """Publish event ``name`` (topic: workspace, process, state, task, error, …)."""
        event: Event = {
            "seq": next(self._seq),
            "ts": time.time(),
            "event": name,
            "topic": topic,
            **fields,
        }
        self.recent.append(event)
        for sub in list(self._subs):
            if sub.wants(event):
                sub.put(event)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a listener must never take the daemon down
                log.exception("event listener %r failed; removing it", listener)
                self.remove_listener(listener)
        return event
