"""The wzp daemon: Circus arbiter, hub, state and workspaces on one asyncio loop.

Run in the foreground by ``wzp daemon`` (systemd/launchd run exactly that); ``wzp up`` starts
it detached. One daemon per user: a lock in the runtime dir refuses a second one.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import IO, Any

import psutil

from wzp_supervisor import __version__, paths, protocol
from wzp_supervisor.circus_backend import CircusBackend, pid_matches, terminate_tree
from wzp_supervisor.config import Config, load_config
from wzp_supervisor.daemon_logging import setup_logging
from wzp_supervisor.events import EventBus
from wzp_supervisor.hub import HubServer
from wzp_supervisor.protocol import ProtocolError
from wzp_supervisor.sdnotify import SdNotifier, watchdog_loop
from wzp_supervisor.state import StateStore
from wzp_supervisor.summary import one_line
from wzp_supervisor.supervisor import ManagedProcess, Supervisor, SupervisorError
from wzp_supervisor.workspaces import WorkspaceManager

log = logging.getLogger("wzp.daemon")


# Daemon extensions, each a class taking the Daemon. An extension may define
# ``async start()`` / ``async stop()`` (after the arbiter is up / before it goes down),
# ``decorate_processes(list[dict])`` (add fields to process listings),
# ``state_contribution() -> dict`` (top-level keys saved in state.json) and
# ``restore(state)`` (called with the loaded state before workspaces are restored).
EXTENSIONS = (
    "wzp_supervisor.agent_states:AgentStates",
    "wzp_supervisor.tasks:TaskQueue",
    "wzp_supervisor.observe:Observer",
    "wzp_supervisor.worktrees:Worktrees",
    "wzp_supervisor.reload:Reloader",
    "wzp_supervisor.plugins:PluginHost",
)


def load_extensions(daemon: Daemon) -> list[Any]:
    """Instantiate the extensions that are installed."""
    import importlib

    loaded = []
    for spec in EXTENSIONS:
        module_name, _, class_name = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        loaded.append(getattr(module, class_name)(daemon))
    return loaded


class AlreadyRunning(RuntimeError):
    """Another daemon holds the lock."""


def acquire_lock() -> IO[str]:
    """Take the per-user daemon lock or raise AlreadyRunning naming the holder."""
    runtime = paths.runtime_dir()
    handle = open(paths.lock_file(), "a+")  # noqa: SIM115 - held for the daemon's lifetime
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise AlreadyRunning(
            f"another wzp daemon is running (pid {holder}, runtime dir {runtime}); "
            "stop it with `wzp down`"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


class Daemon:
    """Everything the daemon owns; ``run`` serves until SIGTERM/SIGINT or ``shutdown``."""

    def __init__(self, config: Config, config_path: Path | None = None) -> None:
        self.config = config
        self.config_path = config_path
        # Taken from the environment (and removed from it) before any agent is spawned, so
        # agents do not inherit NOTIFY_SOCKET.
        self.notifier = SdNotifier.from_env(unset=True)
        self._watchdog: asyncio.Task[None] | None = None
        self.bus = EventBus()
        self.store = StateStore(paths.state_file(), paths.backups_dir())
        self.started = time.time()
        self.stop_event = asyncio.Event()
        self._save_pending = False
        self.backend = CircusBackend(
            paths.circus_endpoint(),
            paths.circus_pubsub_endpoint(),
            on_exit=self._on_exits,
        )
        self.supervisor = Supervisor(
            self.backend,
            self.bus,
            on_change=self.schedule_save,
            passthrough=tuple(config.processes.env_passthrough),
        )
        self.workspaces = WorkspaceManager(self)
        self.hub = HubServer(
            paths.hub_socket(),
            self.bus,
            max_bytes=config.communication.max_message_bytes,
            request_timeout=config.communication.message_timeout,
        )
        self.extensions: list[Any] = load_extensions(self)

    # -- lifecycle --------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        state = self.store.load()
        for warning in self.store.warnings:
            self.bus.publish("Error", "error", reason=warning)
        await reap_orphans(state)
        await self.backend.start()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            loop.add_signal_handler(sig, self.stop_event.set)
        loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        self._register_handlers()
        for extension in self.extensions:
            restore = getattr(extension, "restore", None)
            if restore is not None:
                restore(state)
        for extension in self.extensions:
            start = getattr(extension, "start", None)
            if start is not None:
                await start()
        await self.workspaces.restore(state)
        await self.hub.start()
        paths.pid_file().write_text(f"{os.getpid()}\n")
        self.notifier.ready(status=self.summary())
        if self.notifier.watchdog_interval():
            self._watchdog = asyncio.ensure_future(watchdog_loop(self.notifier))
        log.info("daemon ready (pid %s, %d workspaces)", os.getpid(), len(self.workspaces.records))
        self.bus.publish("DaemonStarted", "daemon", pid=os.getpid())
        try:
            await self.stop_event.wait()
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        log.info("daemon stopping")
        self.notifier.stopping()
        if self._watchdog is not None:
            self._watchdog.cancel()
        self.bus.publish("DaemonStopping", "daemon")
        for extension in reversed(self.extensions):
            stop = getattr(extension, "stop", None)
            if stop is not None:
                try:
                    await stop()
                except Exception:
                    log.exception("extension %r failed to stop", extension)
        await self.hub.stop()
        await self.supervisor.shutdown()
        self.save_now()
        await self.backend.stop()
        with contextlib.suppress(FileNotFoundError):
            paths.pid_file().unlink()
        log.info("daemon stopped")

    def _on_sighup(self) -> None:
        handler = self.hub.handlers.get("reload")
        if handler is not None:
            task = asyncio.ensure_future(handler({"type": "reload"}))
            task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    def _on_exits(self, exits: Any) -> None:
        self.supervisor.on_exits(exits)

    # -- persistence ------------------------------------------------------------------------

    def schedule_save(self) -> None:
        """Persist soon: many changes within one loop iteration become one write."""
        if self._save_pending:
            return
        self._save_pending = True
        asyncio.get_running_loop().call_soon(self.save_now)

    def summary(self) -> str:
        """The one-line pool summary (systemd STATUS=, the WezTerm bar)."""
        return one_line(self.process_snapshot())

    def save_now(self) -> None:
        self._save_pending = False
        if self.notifier.enabled:  # the summary decorates every process: only under systemd
            self.notifier.status(self.summary())
        try:
            self.store.save(self.state_document())
        except OSError:
            log.exception("could not save state")

    def state_document(self) -> dict[str, Any]:
        state: dict[str, Any] = {"workspaces": self.workspaces.to_state(), "processes": {}}
        for proc in self.supervisor.processes.values():
            state["processes"][proc.target] = {
                "desired": proc.desired,
                "state": proc.state,
                "pid": proc.pid,
                "create_time": proc.create_time,
                "restarts": proc.restarts,
                "exit_code": proc.exit_code,
            }
        for extension in self.extensions:
            contribute = getattr(extension, "state_contribution", None)
            if contribute is not None:
                state.update(contribute())
        return state

    # -- hub handlers -----------------------------------------------------------------------

    def _register_handlers(self) -> None:
        h = self.hub.register
        h("ping", self._ping)
        h("status", self._status)
        h("process.list", self._status)
        h("workspace.create", self.workspaces.handle_create)
        h("workspace.list", self.workspaces.handle_list)
        h("workspace.delete", self.workspaces.handle_delete)
        h("layout", self.workspaces.handle_layout)
        h("process.start", self._control("start"))
        h("process.stop", self._control("stop"))
        h("process.restart", self._control("restart"))
        h("process.kill", self._control("kill"))
        h("process.signal", self._signal)
        h("config.get", self._config_get)
        h("events.recent", self._events_recent)
        h("shutdown", self._shutdown)

    async def _ping(self, _msg: dict[str, Any]) -> dict[str, Any]:
        return {"pid": os.getpid(), "version": __version__, "uptime": time.time() - self.started}

    def process_snapshot(self) -> list[dict[str, Any]]:
        """Every process's info, decorated by the extensions (agent state, cpu, task…)."""
        processes = self.supervisor.snapshot()
        for extension in self.extensions:
            decorate = getattr(extension, "decorate_processes", None)
            if decorate is not None:
                decorate(processes)
        return processes

    async def _status(self, _msg: dict[str, Any]) -> dict[str, Any]:
        processes = self.process_snapshot()
        return {
            "daemon": await self._ping(_msg),
            "workspaces": self.workspaces.listing(),
            "processes": processes,
        }

    def _targets(self, msg: dict[str, Any]) -> list[ManagedProcess]:
        target = protocol.field(msg, "target", str)
        try:
            return self.supervisor.select(target)
        except SupervisorError as exc:
            raise ProtocolError(exc.code, exc.message) from None

    def _control(self, action: str) -> Any:
        async def handle(msg: dict[str, Any]) -> dict[str, Any]:
            procs = self._targets(msg)
            sup = self.supervisor
            if action == "start":
                await asyncio.gather(*(sup.start(p) for p in procs))
            elif action == "stop":
                await asyncio.gather(*(sup.stop(p) for p in procs))
            elif action == "restart":
                await asyncio.gather(*(sup.restart(p) for p in procs))
            else:
                await asyncio.gather(*(sup.stop(p, kill=True) for p in procs))
            return {"processes": [p.info() for p in procs]}

        return handle

    async def _signal(self, msg: dict[str, Any]) -> dict[str, Any]:
        name = protocol.field(msg, "signal", str).upper()
        try:
            signum = signal.Signals[name if name.startswith("SIG") else f"SIG{name}"]
        except KeyError:
            raise ProtocolError(protocol.INVALID, f"unknown signal {name!r}") from None
        procs = self._targets(msg)
        try:
            for proc in procs:
                self.supervisor.signal(proc, signum)
        except SupervisorError as exc:
            raise ProtocolError(exc.code, exc.message) from None
        return {"signalled": [p.target for p in procs], "signal": signum.name}

    async def _config_get(self, _msg: dict[str, Any]) -> dict[str, Any]:
        from wzp_supervisor.config import config_to_dict

        return {
            "config": config_to_dict(self.config, mask_secrets=True),
            "path": os.fspath(self.config_path) if self.config_path else None,
        }

    async def _events_recent(self, msg: dict[str, Any]) -> dict[str, Any]:
        limit = protocol.field(msg, "limit", int, required=False) or 100
        return {"events": list(self.bus.recent)[-limit:]}

    async def _shutdown(self, _msg: dict[str, Any]) -> dict[str, Any]:
        asyncio.get_running_loop().call_soon(self.stop_event.set)
        return {"stopping": True, "pid": os.getpid()}


async def reap_orphans(state: dict[str, Any]) -> None:
    """Stop processes left behind by a daemon that was SIGKILLed, before anything respawns.

    Recorded (pid, create time) pairs are matched exactly; holders of this runtime dir that
    no record names (a crash between spawn and save) are found by their command line.
    """
    victims: list[tuple[int, float]] = []
    for target, record in state.get("processes", {}).items():
        pid, created = record.get("pid"), record.get("create_time")
        if isinstance(pid, int) and isinstance(created, float) and pid_matches(pid, created):
            log.warning("stopping %s (pid %s) left over from a previous daemon", target, pid)
            victims.append((pid, 5.0))
    marker = os.fspath(paths.runtime_base())
    seen = {pid for pid, _ in victims}
    for proc in psutil.process_iter(["pid", "cmdline", "uids"]):
        cmdline = proc.info.get("cmdline") or []
        if (
            proc.info["pid"] not in seen
            and "wzp_supervisor.session.holder" in cmdline
            and any(arg.startswith(marker) for arg in cmdline)
            and proc.info["pid"] != os.getpid()
        ):
            log.warning("stopping orphaned holder pid %s", proc.info["pid"])
            victims.append((proc.info["pid"], 5.0))
    await asyncio.gather(*(terminate_tree(pid, timeout) for pid, timeout in victims))


def run_daemon(config_path: Path | None = None) -> int:
    """Run the daemon in the foreground; returns the process exit code."""
    try:
        config = load_config(config_path)
    except Exception as exc:  # ConfigError carries file:line: key: message
        print(f"wzp daemon: {exc}", file=sys.stderr)
        return 1
    os.umask(0o077)
    try:
        lock = acquire_lock()
    except (AlreadyRunning, paths.RuntimeDirError) as exc:
        print(f"wzp daemon: {exc}", file=sys.stderr)
        return 1
    setup_logging(config.framework.log_level)
    try:
        daemon = Daemon(config, config.path)
        asyncio.run(daemon.run())
    finally:
        lock.close()
    return 0
