"""Plugins (issue #4): entry points in ``wezterm_parallel.plugins`` receive events and serve hub
types over a real hub socket; a plugin that raises is logged and disabled, nothing else stops."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.claude_env import short_tmpdir
from wzp_supervisor.cli.hub_client import HubClient, RequestFailed
from wzp_supervisor.events import EventBus
from wzp_supervisor.hub import HubServer
from wzp_supervisor.plugins import GROUP, PluginHost

PLUGIN_SOURCE = '''
"""Test plugins."""

seen = []


class Recorder:
    def __init__(self, context):
        self.context = context
        context.register("recorder.seen", self.handle_seen)
        context.register("recorder.crash", self.handle_crash)

    def on_event(self, event):
        seen.append(event["event"])
        if event["event"] == "Echo":
            self.context.publish("Echoed", text=event.get("text"))

    async def handle_seen(self, msg):
        return {"events": list(seen)}

    async def handle_crash(self, msg):
        raise RuntimeError("boom")


def fragile(context):
    class Fragile:
        def on_event(self, event):
            if event["event"] == "Poison":
                raise ValueError("cannot digest")

    context.register("fragile.ping", _pong)
    return Fragile()


async def _pong(msg):
    return {"pong": True}


def broken(context):
    context.register("broken.ping", _pong)
    raise ImportError("missing dependency")
'''


@pytest.fixture
def plugin_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed-looking distribution (dist-info with entry points) on sys.path."""
    (tmp_path / "wzp_test_plugins.py").write_text(PLUGIN_SOURCE)
    dist = tmp_path / "wzp_test_plugins-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: wzp-test-plugins\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        textwrap.dedent(f"""
        [{GROUP}]
        recorder = wzp_test_plugins:Recorder
        fragile = wzp_test_plugins:fragile
        broken = wzp_test_plugins:broken
        """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_plugins_get_events_serve_types_and_are_disabled_when_they_raise(
    plugin_dist: Path,
) -> None:
    with short_tmpdir() as tmp:
        asyncio.run(_scenario(tmp / "hub.sock"))


def _request(path: Path, kind: str, **fields: Any) -> dict[str, Any]:
    with HubClient(path, timeout=10) as client:
        return client.request(kind, **fields)


async def _scenario(sock: Path) -> None:
    bus = EventBus()
    hub = HubServer(sock, bus)
    daemon: Any = SimpleNamespace(bus=bus, hub=hub)
    host = PluginHost(daemon)
    await host.start()
    await hub.start()
    try:
        # the broken plugin failed at load: logged, not loaded, its type gone
        assert set(host.plugins) == {"recorder", "fragile"}
        assert "broken.ping" not in hub.handlers
        assert any(e["event"] == "PluginFailed" for e in bus.recent)

        bus.publish("Echo", "test", text="hi")
        seen = await asyncio.to_thread(_request, sock, "recorder.seen")
        assert "Echo" in seen["events"] and "Echoed" in seen["events"]
        assert (await asyncio.to_thread(_request, sock, "fragile.ping"))["pong"] is True

        # an event that makes a plugin raise disables that plugin only
        bus.publish("Poison", "test")
        assert host.plugins["fragile"].enabled is False
        assert "cannot digest" in (host.plugins["fragile"].error or "")
        with pytest.raises(RequestFailed) as failed:
            await asyncio.to_thread(_request, sock, "fragile.ping")
        assert failed.value.code == "unknown_type"
        bus.publish("Echo", "test", text="again")
        assert (await asyncio.to_thread(_request, sock, "recorder.seen"))["events"].count(
            "Echo"
        ) == 2

        # a crashing hub handler: an error reply, then the plugin is disabled
        with pytest.raises(RequestFailed) as crashed:
            await asyncio.to_thread(_request, sock, "recorder.crash")
        assert crashed.value.code == "internal"
        assert host.plugins["recorder"].enabled is False
        listing = await asyncio.to_thread(_request, sock, "plugin.list")
        assert {p["name"]: p["enabled"] for p in listing["plugins"]} == {
            "recorder": False,
            "fragile": False,
        }
        # the bus and the hub still work
        bus.publish("AfterAll", "test")
        assert (await asyncio.to_thread(_request, sock, "plugin.list"))["plugins"]
    finally:
        await host.stop()
        await hub.stop()
