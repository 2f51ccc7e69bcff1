"""The wzp daemon: Circus arbiter, hub, state store, workspaces and features on one loop.

Run in the foreground by ``wzp daemon`` (systemd/launchd run exactly that); ``wzp up`` starts
it detached. One daemon per user: a lock in the runtime dir refuses a second one.

``Daemon.__init__`` is the wiring diagram: every feature is built here by name, given the
shared ``DaemonContext`` and the other features it depends on. The order of ``features`` is the
order of restore, decorate and start; stop runs in reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any, NoReturn

from wzp_supervisor import agent_leftovers, fd_budget, paths, protocol
from wzp_supervisor.acknowledging_hub import AcknowledgingHub
from wzp_supervisor.adoption import verify_survivors
from wzp_supervisor.agent_answer import AgentAnswers
from wzp_supervisor.agent_health import AgentHealth
from wzp_supervisor.agent_states import AgentStates
from wzp_supervisor.circus_backend import CircusBackend, ProcessExit
from wzp_supervisor.config import Config, load_config
from wzp_supervisor.config_reload import Reloader
from wzp_supervisor.daemon_lock import AlreadyRunning, acquire_lock, release_lock
from wzp_supervisor.daemon_logging import setup_logging
from wzp_supervisor.events import EventBus
from wzp_supervisor.features import DaemonContext, Feature
from wzp_supervisor.holder_scope import scope_prefix
from wzp_supervisor.hub import HubServer
from wzp_supervisor.observe import Observer
from wzp_supervisor.plugin_token import plugin_token
from wzp_supervisor.plugins import PluginHost
from wzp_supervisor.pools import Pools
from wzp_supervisor.process_control import ProcessControl
from wzp_supervisor.process_table import ProcessTable
from wzp_supervisor.protocol import ProtocolError
from wzp_supervisor.state_store import StateStore
from wzp_supervisor.states import ProcessInfo, one_line
from wzp_supervisor.systemd_notify import SdNotifier, watchdog_loop
from wzp_supervisor.task_queue import TaskQueue
from wzp_supervisor.task_requests import TaskRequests
from wzp_supervisor.ui_file import build_ui_document, ui_file_path, write_ui_file
from wzp_supervisor.workspaces import WorkspaceManager, orphan_message
from wzp_supervisor.worktrees import Worktrees

log = logging.getLogger("wzp.daemon")


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
        self._unsaved = False  # changes not yet durably saved (pending, or a save failed)
        self.changes = 0  # counts schedule_save calls: did a request change anything?
        self._save_error: str | None = None
        self.keep_agents = False  # on stop, leave the holders for the next daemon
        self.extra_hub: HubServer | None = None  # communication.socket_path, when set
        self._jobs: set[asyncio.Task[None]] = set()
        self.exec_again = False  # on stop, exec a new daemon in this process
        self.backend = CircusBackend(
            paths.circus_endpoint(),
            paths.circus_pubsub_endpoint(),
            on_exit=self._on_exits,
        )
        self.processes = ProcessTable(
            self.backend,
            self.bus,
            on_change=self.schedule_save,
            passthrough=tuple(config.processes.env_passthrough),
        )
        self.processes.after_stop = agent_leftovers.after_stop
        self.workspaces = WorkspaceManager(
            self.processes,
            self.bus,
            lambda: self.config,
            self.schedule_save,
            self.persist,
            snapshot=self.process_snapshot,
        )
        self.hub = HubServer(
            paths.hub_socket(),
            self.bus,
            max_bytes=config.communication.max_message_bytes,
            request_timeout=config.communication.message_timeout,
        )
        ctx = DaemonContext(
            bus=self.bus,
            hub=AcknowledgingHub(self.hub, self),
            processes=self.processes,
            workspaces=self.workspaces,
            config=lambda: self.config,
            schedule_save=self.schedule_save,
            snapshot=self.process_snapshot,
            started=self.started,
        )
        control = ProcessControl(ctx, config_path, self.request_stop, self.store.warnings)
        states = AgentStates(ctx)
        answers = AgentAnswers(ctx, states)
        health = AgentHealth(ctx, states)
        tasks = TaskQueue(ctx, states)
        task_requests = TaskRequests(tasks)
        self.pools = Pools(ctx, self.backend, tasks)
        control.status_sections["pools"] = self.pools.summary
        observer = Observer(ctx, tasks, pools=self.pools.summary)
        worktrees = Worktrees(ctx)
        self.workspaces.add_hook(worktrees)
        reloader = Reloader(ctx, self.notifier, config_path, self.apply_config)
        plugins = PluginHost(ctx)
        self.reloader = reloader
        self.features: list[Feature] = [
            control,
            states,
            answers,
            health,
            tasks,
            task_requests,
            self.pools,
            observer,
            worktrees,
            reloader,
            plugins,
        ]
        self._register_workspace_handlers()

    def apply_config(self, config: Config) -> None:
        """Make ``config`` the running config (after a reload)."""
        self.config = config
        self.processes.passthrough = tuple(config.processes.env_passthrough)
        self.write_ui_file()

    def write_ui_file(self) -> None:
        """What the WezTerm plugin needs of the config (keys, theme, templates), for Lua."""
        try:
            write_ui_file(ui_file_path(), build_ui_document(self.config, plugin_token()))
        except OSError as exc:
            log.warning("could not write %s: %s", ui_file_path(), exc)

    # -- lifecycle --------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        state = self.store.load()
        for warning in self.store.warnings:
            self.bus.publish("Error", "error", reason=warning)
        survivors = await verify_survivors(state)
        await self.backend.start()
        self.write_ui_file()
        for sig in (signal.SIGINT, signal.SIGQUIT):
            loop.add_signal_handler(sig, self.request_stop)
        # Under a systemd user manager the holders live in scopes of their own, so a stop or
        # restart of the service replaces the daemon and leaves the agents (wzp down stops all).
        in_scopes = bool(scope_prefix("-", environ=os.environ))
        loop.add_signal_handler(signal.SIGTERM, lambda: self.request_stop(keep_agents=in_scopes))
        loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        for feature in self.features:
            feature.restore(state)
        for feature in self.features:
            await feature.start()
        await self.workspaces.restore(state, survivors.holders)
        if survivors.outdated:
            self._background(self._renew_outdated(sorted(survivors.outdated)))
        orphans: dict[str, list[str]] = {}
        for record in self.workspaces.orphans():
            orphans.setdefault(record.template, []).append(record.name)
        for template, names in orphans.items():  # `wzp up` shows these
            self.store.warnings.append(orphan_message(names, template))
        await self.hub.start()
        await self._open_extra_socket()
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

    def request_stop(self, keep_agents: bool = False, exec_again: bool = False) -> None:
        """End ``run``: stop every agent first, or leave them for the next daemon to adopt
        (``keep_agents``); ``exec_again`` replaces this process with a new daemon (same pid)."""
        self.keep_agents = self.keep_agents or keep_agents or exec_again
        self.exec_again = self.exec_again or exec_again
        self.stop_event.set()

    async def shutdown(self) -> None:
        log.info("daemon stopping%s", " (agents keep running)" if self.keep_agents else "")
        if self.exec_again:
            self.notifier.reloading()
        else:
            self.notifier.stopping()
        if self._watchdog is not None:
            self._watchdog.cancel()
        self.bus.publish("DaemonStopping", "daemon")
        for feature in reversed(self.features):
            try:
                await feature.stop()
            except Exception:
                log.exception("feature %s failed to stop", type(feature).__name__)
        await self.hub.stop()
        if self.extra_hub is not None:
            await self.extra_hub.stop()
        if self.keep_agents:
            self.processes.shutting_down = True  # exits from here on are the next daemon's
        else:
            await self.processes.shutdown()
        self.save_now()
        await self.backend.stop()
        leftovers = [paths.pid_file()]
        if not self.keep_agents:  # the holders are gone: so is what only they used
            agent_leftovers.remove_session_files()
            leftovers.append(ui_file_path())
        for path in leftovers:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        log.info("daemon stopped")

    async def _open_extra_socket(self) -> None:
        """Also serve the hub at ``communication.socket_path`` when the config names one."""
        configured = self.config.communication.socket_path
        if not configured or Path(configured) == paths.hub_socket():
            return
        path = Path(configured)
        try:
            paths.check_extra_socket_path(path)
            extra = HubServer(
                path,
                self.bus,
                max_bytes=self.config.communication.max_message_bytes,
                request_timeout=self.config.communication.message_timeout,
            )
            extra.handlers = self.hub.handlers  # the same types, registered once
            await extra.start()
        except (OSError, paths.RuntimeDirError) as exc:
            message = f"not listening on communication.socket_path: {exc}"
            log.error(message)
            self.store.warnings.append(message)
            self.bus.publish("Error", "error", reason=message)
            return
        self.extra_hub = extra
        log.info("also serving the hub on %s", path)

    async def _renew_outdated(self, targets: list[str]) -> None:
        """Restart holders of an older version one at a time (agents resume), never all at
        once: each is back running before the next goes down."""
        for target in targets:
            proc = self.processes.processes.get(target)
            if proc is None or proc.pid is None:
                continue
            log.info("restarting %s: its holder is from an older version", target)
            await self.processes.restart(proc)
            for _ in range(600):
                if proc.state != "starting":
                    break
                await asyncio.sleep(0.1)

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    def _on_sighup(self) -> None:
        task = asyncio.ensure_future(self.reloader.reload())
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    def _on_exits(self, exits: list[ProcessExit]) -> None:
        self.processes.on_exits(exits)
        self.pools.on_exits(exits)

    # -- persistence ------------------------------------------------------------------------

    def schedule_save(self) -> None:
        """Persist soon: many changes within one loop iteration become one write."""
        self._unsaved = True
        self.changes += 1
        if self._save_pending:
            return
        self._save_pending = True
        asyncio.get_running_loop().call_soon(self.save_now)

    def summary(self) -> str:
        """The one-line pool summary (systemd STATUS=, the WezTerm bar)."""
        return one_line(self.process_snapshot())

    def save_now(self) -> bool:
        """Write the state now; False (logged, and an Error event) when it failed."""
        self._save_pending = False
        if self.notifier.enabled:  # the summary decorates every process: only under systemd
            self.notifier.status(self.summary())
        try:
            self.store.save(self.state_document())
        except OSError as exc:
            message = f"could not save state to {self.store.path}: {exc.strerror or exc}"
            if message != self._save_error:  # once per kind of failure, not per change
                log.error(message)
                self.bus.publish("Error", "error", reason=message)
            self._save_error = message
            self._unsaved = True
            return False
        self._unsaved = False
        self._save_error = None
        return True

    def persist(self) -> None:
        """Save unsaved changes now; raises ProtocolError when they could not be saved."""
        if self._unsaved and not self.save_now():
            raise ProtocolError(protocol.INTERNAL, self._save_error or "could not save state")

    def state_document(self) -> dict[str, Any]:
        state: dict[str, Any] = {"workspaces": self.workspaces.to_state(), "processes": {}}
        for proc in self.processes.processes.values():
            state["processes"][proc.target] = {
                "desired": proc.desired,
                "state": proc.state,
                "pid": proc.pid,
                "create_time": proc.create_time,
                "restarts": proc.restarts,
                "exit_code": proc.exit_code,
            }
        for feature in self.features:
            state.update(feature.state_contribution())
        return state

    def process_snapshot(self) -> list[ProcessInfo]:
        """Every process's info, decorated by each feature (agent state, task, cpu, …)."""
        processes = self.processes.snapshot()
        for feature in self.features:
            feature.decorate(processes)
        for info in processes:  # every pane lists the agent keys; null where it is no agent
            info.setdefault("agent_state", None)
            info.setdefault("agent_since", None)
            info.setdefault("agent_reason", None)
            info.setdefault("agent_message", None)
            info.setdefault("session_id", None)
        return processes

    def _register_workspace_handlers(self) -> None:
        register = AcknowledgingHub(self.hub, self).register
        register("workspace.create", self.workspaces.handle_create)
        register("workspace.list", self.workspaces.handle_list)
        register("workspace.delete", self.workspaces.handle_delete)
        register("layout", self.workspaces.handle_layout)


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
    fd_budget.raise_nofile_limit()  # before the hub sizes its connection cap from it
    try:
        daemon = Daemon(config, config.path)
        asyncio.run(daemon.run())
    finally:
        release_lock(lock)
    if daemon.exec_again:
        exec_new_daemon(daemon.notifier.environment)
    return 0


def exec_new_daemon(notify_environment: Mapping[str, str]) -> NoReturn:
    """Replace this process with a new daemon of the installed version (same pid, so systemd
    keeps tracking it); it adopts the holders this one left running."""
    env = {**os.environ, **notify_environment}
    argv = [sys.executable, "-m", "wzp_supervisor", *sys.argv[1:]]
    log.info("re-executing the daemon: %s", " ".join(argv))
    logging.shutdown()
    os.execve(sys.executable, argv, env)
