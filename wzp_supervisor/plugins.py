"""Plugins: Python entry points in the group ``wezterm_parallel.plugins``.

An entry point names a callable (a function or a class) that takes a :class:`PluginContext`.
What it returns (may be None) is the plugin object; when that object has ``on_event(event)``
it receives every daemon event (a dict: ``seq, ts, event, topic, …``), and ``close()`` is
called when the daemon stops. Through the context a plugin may register new hub message
types (``context.register("myplugin.hello", async_handler)``) and publish events.

A plugin that raises (while loading, in ``on_event`` or in a hub handler, except for
``ProtocolError`` replies) is logged, disabled (its listener and hub types removed) and never
takes the daemon down. An ``on_event`` that returns an awaitable is run as a task.

``PluginHost`` is the daemon feature that runs them.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from importlib import metadata
from typing import Any, Protocol

from wzp_supervisor import protocol
from wzp_supervisor.events import EventBus
from wzp_supervisor.features import FeatureBase, HubRegistry
from wzp_supervisor.protocol import ProtocolError

log = logging.getLogger(__name__)

GROUP = "wezterm_parallel.plugins"
"""The entry-point group plugins are found in."""

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class HostContext(Protocol):
    """What the plugin host needs of the daemon: its event bus and hub registration."""

    @property
    def bus(self) -> EventBus: ...

    @property
    def hub(self) -> HubRegistry: ...


class PluginContext:
    """What a plugin gets: its name, a logger, hub registration and event publishing."""

    def __init__(self, host: PluginHost, name: str) -> None:
        self.name = name
        self.log = logging.getLogger(f"wzp.plugin.{name}")
        self._host = host
        self.types: list[str] = []

    def register(self, kind: str, handler: Handler) -> None:
        """Serve hub messages of type ``kind`` (must not be a type the daemon already has)."""
        if self._host.ctx.hub.serves(kind):
            raise ValueError(f"hub type {kind!r} is already served")
        self._host.ctx.hub.register(kind, self._host.guard(self.name, handler))
        self.types.append(kind)

    def publish(self, event: str, **fields: Any) -> None:
        """Publish ``event`` (topic ``plugin``) on the daemon's event bus."""
        self._host.ctx.bus.publish(event, "plugin", plugin=self.name, **fields)


class Plugin:
    """One loaded plugin."""

    def __init__(self, name: str, context: PluginContext, obj: Any) -> None:
        self.name = name
        self.context = context
        self.obj = obj
        self.enabled = True
        self.error: str | None = None


class PluginHost(FeatureBase):
    """Loads the plugins, feeds them events, disables failing ones."""

    def __init__(self, ctx: HostContext, entry_points: Iterable[Any] | None = None) -> None:
        self.ctx = ctx
        self.plugins: dict[str, Plugin] = {}
        self._entry_points = entry_points
        self._jobs: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        points = self._entry_points
        if points is None:
            points = metadata.entry_points(group=GROUP)
        for point in points:
            self.load(point.name, point.load)
        self.ctx.bus.add_listener(self._on_event)
        self.ctx.hub.register("plugin.list", self.handle_list)

    async def stop(self) -> None:
        self.ctx.bus.remove_listener(self._on_event)
        for plugin in self.plugins.values():
            close = getattr(plugin.obj, "close", None) if plugin.enabled else None
            if close is not None:
                try:
                    result = close()
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("plugin %s failed to close", plugin.name)

    def load(self, name: str, loader: Callable[[], Any]) -> Plugin | None:
        """Load one plugin (``loader`` returns its factory); None when it failed."""
        context = PluginContext(self, name)
        try:
            factory = loader()
            obj = factory(context)
        except Exception as exc:
            log.exception("plugin %s failed to load; it is disabled", name)
            for kind in context.types:
                self.ctx.hub.unregister(kind)
            self.ctx.bus.publish("PluginFailed", "plugin", plugin=name, reason=repr(exc))
            return None
        plugin = Plugin(name, context, obj)
        self.plugins[name] = plugin
        log.info("plugin %s loaded (hub types: %s)", name, ", ".join(context.types) or "none")
        return plugin

    def disable(self, name: str, reason: str) -> None:
        """Stop feeding ``name`` events and remove its hub types."""
        plugin = self.plugins.get(name)
        if plugin is None or not plugin.enabled:
            return
        plugin.enabled = False
        plugin.error = reason
        for kind in plugin.context.types:
            self.ctx.hub.unregister(kind)
        log.error("plugin %s disabled: %s", name, reason)
        self.ctx.bus.publish("PluginFailed", "plugin", plugin=name, reason=reason)

    def guard(self, name: str, handler: Handler) -> Handler:
        """``handler`` wrapped so that a crash disables the plugin instead of spreading."""

        async def guarded(msg: dict[str, Any]) -> dict[str, Any]:
            try:
                result = await handler(msg)
            except ProtocolError:
                raise
            except Exception as exc:
                log.exception("plugin %s: handler for %r failed", name, msg.get("type"))
                self.disable(name, f"hub handler raised {exc!r}")
                raise ProtocolError(protocol.INTERNAL, f"plugin {name} failed: {exc}") from None
            if not isinstance(result, dict):
                self.disable(name, "hub handler returned a non-dict")
                raise ProtocolError(protocol.INTERNAL, f"plugin {name} returned no reply")
            return result

        return guarded

    async def handle_list(self, msg: dict[str, Any]) -> dict[str, Any]:
        """``plugin.list``: loaded plugins, their state and hub types."""
        del msg
        return {
            "plugins": [
                {"name": p.name, "enabled": p.enabled, "error": p.error, "types": p.context.types}
                for p in self.plugins.values()
            ]
        }

    def _on_event(self, event: dict[str, Any]) -> None:
        for plugin in list(self.plugins.values()):
            on_event = getattr(plugin.obj, "on_event", None) if plugin.enabled else None
            if on_event is None:
                continue
            try:
                result = on_event(dict(event))
                if inspect.isawaitable(result):
                    self._run(plugin.name, result)
            except Exception as exc:
                log.exception("plugin %s failed on %s", plugin.name, event.get("event"))
                self.disable(plugin.name, f"on_event raised {exc!r}")

    def _run(self, name: str, awaitable: Awaitable[Any]) -> None:
        async def run() -> None:
            try:
                await awaitable
            except Exception as exc:
                log.exception("plugin %s failed in an event task", name)
                self.disable(name, f"on_event raised {exc!r}")

        job = asyncio.ensure_future(run())
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)
