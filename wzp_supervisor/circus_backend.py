"""The embedded Circus arbiter: the only module that imports circus, tornado or zmq.

Circus spawns the processes (environment, working dir, rlimits, own session), serves the
``circusctl`` control endpoint and publishes events. What Circus lacks is ours: exits are
noticed from SIGCHLD at once instead of every ``check_delay``, restarts follow our policy
with backoff (watchers never respawn on their own), and stopping reaches the whole process
group and every descendant.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

import psutil
from circus.arbiter import Arbiter
from circus.exc import ConflictError
from circus.process import Process
from circus.watcher import Watcher
from tornado.ioloop import IOLoop

from wzp_supervisor.parent_death import ending_with_this_process
from wzp_supervisor.process_tree import is_running

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessExit:
    """A supervised process that ended: its watcher, pid and exit code (< 0: signal).

    ``exit_code`` is None for an adopted process that is not our child: its status went to
    whoever reaped it, and the caller looks for what the process recorded itself.
    """

    name: str
    pid: int
    exit_code: int | None


class _AdoptedWorker(psutil.Process):
    """What circus's Process expects of its Popen, for a process that someone else started.

    It has no pipes (they belonged to the daemon that started it) and no status of its own
    to poll: it is running until it is gone.
    """

    stdout = None
    stderr = None
    returncode: int | None = None

    def poll(self) -> int | None:
        try:
            if self.is_running() and self.status() != psutil.STATUS_ZOMBIE:
                return None
        except psutil.Error:
            pass
        return -1

    def wait(self, timeout: float | None = None) -> int | None:  # type: ignore[override]
        with contextlib.suppress(psutil.Error):
            super().wait(timeout)
        return self.returncode


class _PipedProcess(Process):  # type: ignore[misc]
    """A circus process whose stdin, stdout and stderr are pipes owned by the daemon.

    Circus pipes stdout/stderr only into its stream redirectors and never stdin; a headless
    worker is driven through its stdin and read on the daemon's loop, so the pipes are handed
    to the caller and circus leaves them alone (``close_output_channels`` does nothing).
    """

    def spawn(self) -> None:
        self.started = time.time()
        self._worker = subprocess.Popen(
            [self.cmd, *self.args],
            cwd=self.working_dir,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
            start_new_session=True,
            preexec_fn=ending_with_this_process(),  # a lock-free prctl only
        )

    def close_output_channels(self) -> None:
        return None


@dataclass(frozen=True)
class PipedChild:
    """A process started with pipes: its pid, create time and the parent's pipe ends."""

    pid: int
    create_time: float
    stdin: IO[bytes]
    stdout: IO[bytes]
    stderr: IO[bytes]


def exit_code_of(status: int) -> int:
    """The waitpid status as an exit code, negative for a signal (like Popen.returncode)."""
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return -1


class _WzpArbiter(Arbiter):  # type: ignore[misc]
    """An arbiter whose periodic check runs our reconcile instead of circus's respawn logic."""

    backend: CircusBackend

    def reap_processes(self) -> None:
        # Circus waits on pid -1, which would steal exit statuses from subprocesses the
        # daemon runs itself (git, notify-send). Reap only our own watchers' processes.
        self.backend.reap()

    def manage_watchers(self) -> None:
        # Called every check_delay by circus's controller: a safety net behind SIGCHLD.
        self.backend.reap()


class CircusBackend:
    """Owns the arbiter and the watchers; reports exits, never decides restarts."""

    def __init__(
        self,
        endpoint: str,
        pubsub_endpoint: str,
        on_exit: Callable[[list[ProcessExit]], None],
        check_delay: float = 5.0,
    ) -> None:
        self.endpoint = endpoint
        self.pubsub_endpoint = pubsub_endpoint
        self._on_exit = on_exit
        self.check_delay = check_delay
        self.arbiter: Any = None
        self._foreign: dict[int, psutil.Process] = {}  # adopted pids that are not our children
        self._exit_watches: dict[int, int] = {}  # pid -> pidfd being watched for its exit

    async def start(self) -> None:
        """Start the arbiter on the running asyncio loop (through tornado's IOLoop)."""
        arbiter = _WzpArbiter(
            [],
            self.endpoint,
            self.pubsub_endpoint,
            check_delay=self.check_delay,
            loop=IOLoop.current(),
            multicast_endpoint=None,
            statsd=False,
            httpd=False,
            proc_name="wzp-daemon",
        )
        arbiter.backend = self
        self.arbiter = arbiter
        await arbiter.start()
        for endpoint in (self.endpoint, self.pubsub_endpoint):
            if endpoint.startswith("ipc://"):
                os.chmod(endpoint[len("ipc://") :], 0o600)
        asyncio.get_running_loop().add_signal_handler(signal.SIGCHLD, self._sigchld)

    async def stop(self) -> None:
        """Stop the controller and close the sockets (processes are stopped or left alone)."""
        if self.arbiter is None:
            return
        for pid in list(self._exit_watches):
            self._unwatch_exit(pid)
        asyncio.get_running_loop().remove_signal_handler(signal.SIGCHLD)
        self.arbiter._stopping = True
        self.arbiter.stop_controller_and_close_sockets()
        self.arbiter = None
        for endpoint in (self.endpoint, self.pubsub_endpoint):
            if endpoint.startswith("ipc://"):  # zmq leaves the socket files behind
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(endpoint[len("ipc://") :])

    def _sigchld(self) -> None:
        self.reap()

    # -- watchers ---------------------------------------------------------------------------

    def add(self, name: str, cmd: str, options: dict[str, Any]) -> None:
        """Register a watcher (stopped: we start it when our policy says so)."""
        self.arbiter.add_watcher(name, cmd, **options)

    def has(self, name: str) -> bool:
        return name.lower() in self.arbiter._watchers_names

    def names(self) -> list[str]:
        return [w.name for w in self.arbiter.watchers]

    def _watcher(self, name: str) -> Watcher:
        return self.arbiter.get_watcher(name)

    async def remove(self, name: str) -> None:
        """Forget a watcher whose processes are already stopped."""
        if not self.has(name):
            return
        for _ in range(100):
            try:
                await self.arbiter.rm_watcher(name, nostop=True)
                return
            except ConflictError:  # a circusctl command is running; it ends soon
                await asyncio.sleep(0.05)
        raise RuntimeError(f"could not remove watcher {name}: the arbiter stayed busy")

    async def spawn(self, name: str) -> tuple[int, float] | None:
        """Start one process for the watcher; returns (pid, create_time) or None on failure."""
        watcher = self._watcher(name)
        if watcher.is_stopped():
            await watcher._start()
        elif not watcher.processes:
            watcher.spawn_process()
        for process in watcher.processes.values():
            try:
                return process.pid, psutil.Process(process.pid).create_time()
            except psutil.NoSuchProcess:
                return process.pid, 0.0
        return None

    def add_piped(self, name: str, argv: Sequence[str], cwd: str, env: Mapping[str, str]) -> None:
        """Register a watcher whose process the daemon drives through pipes (``spawn_piped``).

        Circus never starts, respawns or stops it by itself: exits are reported through
        ``on_exit`` like every other watcher's, and stopping is ``terminate_tree``.
        """
        self.arbiter.add_watcher(
            name,
            argv[0],
            args=list(argv[1:]),
            working_dir=cwd,
            env=dict(env),
            copy_env=False,
            copy_path=False,
            numprocesses=1,
            respawn=False,
            autostart=False,
            stop_children=True,
            max_retry=1,
        )

    def spawn_piped(self, name: str) -> PipedChild:
        """Start the process of a watcher registered by ``add_piped``; OSError when the
        program cannot be started."""
        watcher = self._watcher(name)
        process = _process_of(watcher, _PipedProcess, spawn=True)
        worker: subprocess.Popen[bytes] = process._worker
        assert worker.stdin and worker.stdout and worker.stderr  # spawned with pipes
        watcher.processes[worker.pid] = process
        watcher._status = "active"
        try:
            created = psutil.Process(worker.pid).create_time()
        except psutil.NoSuchProcess:
            created = 0.0
        return PipedChild(worker.pid, created, worker.stdin, worker.stdout, worker.stderr)

    def adopt(self, name: str, pid: int) -> float:
        """Make the live process ``pid`` the watcher's process without spawning; its create
        time. Exits of a process that is not our child are seen through a pidfd (or a poll)."""
        watcher = self._watcher(name)
        worker = _AdoptedWorker(pid)
        process = _process_of(watcher, Process, spawn=False)
        process._worker = worker
        process.started = worker.create_time()
        watcher.processes[pid] = process
        watcher._status = "active"
        try:
            os.waitpid(pid, os.WNOHANG)  # our child (the daemon re-executed itself)?
        except ChildProcessError:
            self._foreign[pid] = worker
            self._watch_exit(pid)
        return float(worker.create_time())

    def _watch_exit(self, pid: int) -> None:
        loop = asyncio.get_running_loop()
        pidfd_open = getattr(os, "pidfd_open", None)
        if pidfd_open is not None:
            try:
                fd = int(pidfd_open(pid))
            except OSError:  # gone already, or a kernel without pidfds
                loop.call_soon(self.reap)
                return
            self._exit_watches[pid] = fd
            loop.add_reader(fd, self._foreign_exited, pid)
            return
        loop.call_later(1.0, self._poll_foreign, pid)  # macOS: no pidfd; a cheap poll

    def _poll_foreign(self, pid: int) -> None:
        if pid not in self._foreign:
            return
        self.reap()
        if pid in self._foreign:
            asyncio.get_running_loop().call_later(1.0, self._poll_foreign, pid)

    def _foreign_exited(self, pid: int) -> None:
        self._unwatch_exit(pid)
        self.reap()

    def _unwatch_exit(self, pid: int) -> None:
        fd = self._exit_watches.pop(pid, None)
        if fd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(fd)
            os.close(fd)

    def pid(self, name: str) -> int | None:
        """The pid of the watcher's live process, if any."""
        if not self.has(name):
            return None
        for process in self._watcher(name).processes.values():
            return int(process.pid)
        return None

    def reap(self) -> None:
        """Collect exits of our watchers' processes (never waitpid(-1)) and report them."""
        if self.arbiter is None:
            return
        exits: list[ProcessExit] = []
        for watcher in list(self.arbiter.watchers):
            for pid in list(watcher.processes):
                code: int | None
                foreign = self._foreign.get(pid)
                if foreign is not None:
                    if is_running(foreign):
                        continue
                    del self._foreign[pid]
                    self._unwatch_exit(pid)
                    code = None
                else:
                    try:
                        got, status = os.waitpid(pid, os.WNOHANG)
                    except ChildProcessError:
                        got, status = pid, 0
                    if got != pid:
                        continue
                    code = exit_code_of(status)
                process = watcher.processes.pop(pid)
                try:
                    process.stop()  # closes circus's pipes for the dead process
                except Exception:
                    log.debug("closing process %s of %s failed", pid, watcher.name)
                watcher.notify_event("reap", {"process_pid": pid, "exit_code": code})
                exits.append(ProcessExit(watcher.name, pid, code))
        if exits:
            self._on_exit(exits)

    async def mark_stopped(self, name: str) -> None:
        """Put a watcher without processes into circus's 'stopped' status."""
        watcher = self._watcher(name)
        if not watcher.processes and not watcher.is_stopped():
            await watcher._stop()


def _process_of(watcher: Watcher, kind: type[Process], spawn: bool) -> Any:
    """A circus process object of ``kind`` for ``watcher``'s command (spawned or not)."""
    return kind(
        watcher.name,
        watcher._nextwid,
        watcher.cmd,
        args=watcher.args,
        working_dir=watcher.working_dir,
        env=watcher.env,
        watcher=watcher,
        spawn=spawn,
    )
