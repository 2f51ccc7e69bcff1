"""Resource sampling of each supervised process's whole process tree (cpu, memory, count).

Claude Code starts children (shells, language servers, tools), so an agent's cost is its tree,
not its top process. The sampler is called about once a second with the root pid of every
supervised process and returns one :class:`TreeSample` per root.

It never asks Circus (its ``stats`` command blocks the arbiter). On Linux it reads
``/proc/<pid>/stat`` through file descriptors kept open between samples (one ``pread`` per
process per sample: cpu ticks, rss and start time in one read) and finds children from
``/proc/<pid>/task/<tid>/children`` every few samples; elsewhere it keeps ``psutil.Process``
objects between samples. CPU is a percentage of one core (like ``top``), summed over the tree.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import psutil

# Most file descriptors kept open for /proc reads; beyond that, open and close per read.
MAX_OPEN_FDS = 2048


@dataclass(frozen=True)
class TreeSample:
    """One root's tree at one instant: cpu % of one core, resident bytes, process count."""

    cpu: float
    rss: int
    nprocs: int


@dataclass
class _Proc:
    """A process seen before: what the next sample's cpu delta needs."""

    pid: int
    start: float  # start time (ticks or epoch): tells a reused pid from the same process
    cpu_seconds: float | None = None
    at: float | None = None
    fd: int | None = None
    handle: psutil.Process | None = None


@dataclass
class _Tree:
    root: int
    members: list[int] = field(default_factory=list)
    age: int = 0  # samples since the members were last discovered


class _Reading:
    """(cpu seconds, rss bytes, start) of one process, or None when it is gone."""

    __slots__ = ("cpu_seconds", "rss", "start")

    def __init__(self, cpu_seconds: float, rss: int, start: float) -> None:
        self.cpu_seconds = cpu_seconds
        self.rss = rss
        self.start = start


class Sampler:
    """Samples process trees; reuse one instance so cpu deltas and open descriptors persist.

    The daemon calls ``sample`` from a worker thread so the event loop never waits for
    /proc; a lock keeps ``close`` from closing descriptors a sample is reading.
    """

    def __init__(
        self,
        discover_every: int = 5,
        clock: Callable[[], float] = time.monotonic,
        use_proc: bool | None = None,
    ) -> None:
        self.discover_every = max(1, discover_every)
        self.clock = clock
        self.use_proc = (
            use_proc
            if use_proc is not None
            else sys.platform.startswith("linux") and os.path.exists("/proc/self/stat")
        )
        self._ticks = float(os.sysconf("SC_CLK_TCK")) if self.use_proc else 100.0
        self._page = os.sysconf("SC_PAGE_SIZE") if self.use_proc else 4096
        self._procs: dict[int, _Proc] = {}
        self._trees: dict[str, _Tree] = {}
        self._open_fds = 0
        self._child_map: dict[int, list[int]] | None = None  # psutil: one scan per sample
        self._lock = threading.Lock()

    # -- public -----------------------------------------------------------------------------

    def sample(self, roots: Mapping[str, int | None]) -> dict[str, TreeSample]:
        """One sample of each named root pid's tree (a None root gives an empty sample)."""
        with self._lock:
            return self._sample(roots)

    def _sample(self, roots: Mapping[str, int | None]) -> dict[str, TreeSample]:
        now = self.clock()
        self._child_map = None
        out: dict[str, TreeSample] = {}
        seen: set[int] = set()
        for key, root in roots.items():
            if root is None:
                self._trees.pop(key, None)
                out[key] = TreeSample(0.0, 0, 0)
                continue
            tree = self._trees.get(key)
            if tree is None or tree.root != root:
                # Staggered: trees started together are not all rediscovered in one sample.
                tree = _Tree(root, self._discover(root), age=len(self._trees) % self.discover_every)
                self._trees[key] = tree
            elif tree.age >= self.discover_every:
                tree.members, tree.age = self._discover(root), 0
            tree.age += 1
            cpu = 0.0
            rss = 0
            alive: list[int] = []
            for pid in tree.members:
                if pid in seen:  # a process in two trees (a root inside another) counts once
                    continue
                delta = self._measure(pid, now)
                if delta is None:
                    continue
                seen.add(pid)
                alive.append(pid)
                cpu += delta[0]
                rss += delta[1]
            tree.members = alive
            if root not in alive:  # the root itself is gone: rediscover next time
                tree.age = self.discover_every
            out[key] = TreeSample(round(cpu, 1), rss, len(alive))
        for key in [k for k in self._trees if k not in roots]:
            del self._trees[key]
        for pid in [p for p in self._procs if p not in seen]:
            self._forget(pid)
        return out

    def close(self) -> None:
        """Close every descriptor kept open (waits for a sample in progress)."""
        with self._lock:
            for pid in list(self._procs):
                self._forget(pid)
            self._trees.clear()

    @property
    def tracked(self) -> int:
        """How many processes are tracked now."""
        return len(self._procs)

    # -- per process ------------------------------------------------------------------------

    def _measure(self, pid: int, now: float) -> tuple[float, int] | None:
        """(cpu %, rss) of one process since its previous sample; None when it is gone."""
        proc = self._procs.get(pid)
        reading = self._read(pid, proc)
        if reading is None:
            if proc is not None:
                self._forget(pid)
            return None
        if proc is None or proc.start != reading.start:
            if proc is not None:
                self._forget(pid)
            proc = self._track(pid, reading.start)
            if proc is None:
                return None
        cpu = 0.0
        if proc.cpu_seconds is not None and proc.at is not None and now > proc.at:
            cpu = max(0.0, (reading.cpu_seconds - proc.cpu_seconds) / (now - proc.at) * 100.0)
        proc.cpu_seconds = reading.cpu_seconds
        proc.at = now
        return cpu, reading.rss

    def _track(self, pid: int, start: float) -> _Proc | None:
        proc = _Proc(pid, start)
        if self.use_proc:
            if self._open_fds < MAX_OPEN_FDS:
                try:
                    proc.fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
                    self._open_fds += 1
                except OSError:
                    return None
        else:
            try:
                proc.handle = psutil.Process(pid)
            except psutil.Error:
                return None
        self._procs[pid] = proc
        return proc

    def _forget(self, pid: int) -> None:
        proc = self._procs.pop(pid, None)
        if proc is not None and proc.fd is not None:
            with contextlib.suppress(OSError):
                os.close(proc.fd)
            self._open_fds -= 1

    def _read(self, pid: int, proc: _Proc | None) -> _Reading | None:
        if self.use_proc:
            return self._read_proc(pid, proc.fd if proc is not None else None)
        return self._read_psutil(pid, proc.handle if proc is not None else None)

    def _read_proc(self, pid: int, fd: int | None) -> _Reading | None:
        try:
            if fd is not None:
                data = os.pread(fd, 4096, 0)
            else:
                with open(f"/proc/{pid}/stat", "rb") as handle:
                    data = handle.read()
        except OSError:
            return None
        fields = data[data.rfind(b")") + 2 :].split()
        if len(fields) < 22:
            return None
        # fields[0] is stat field 3 (state); utime 14, stime 15, starttime 22, rss 24
        if fields[0] in (b"Z", b"X"):
            return None
        cpu = (int(fields[11]) + int(fields[12])) / self._ticks
        return _Reading(cpu, int(fields[21]) * self._page, float(fields[19]))

    @staticmethod
    def _read_psutil(pid: int, handle: psutil.Process | None) -> _Reading | None:
        try:
            handle = handle or psutil.Process(pid)
            with handle.oneshot():
                times = handle.cpu_times()
                rss = handle.memory_info().rss
                start = handle.create_time()
                if handle.status() == psutil.STATUS_ZOMBIE:
                    return None
        except psutil.Error:
            return None
        return _Reading(times.user + times.system, rss, start)

    # -- trees ------------------------------------------------------------------------------

    def _discover(self, root: int) -> list[int]:
        """The root and all its descendants (root first)."""
        children = self._children if self.use_proc else self._children_psutil
        found = [root]
        queue = [root]
        seen = {root}
        while queue:
            pid = queue.pop()
            for child in children(pid):
                if child not in seen:
                    seen.add(child)
                    found.append(child)
                    queue.append(child)
        return found

    def _children_psutil(self, pid: int) -> list[int]:
        """Children from one parent map built per sample (not a process scan per root)."""
        if self._child_map is None:
            self._child_map = {}
            for proc in psutil.process_iter(["ppid"]):
                ppid = proc.info.get("ppid")
                if isinstance(ppid, int):
                    self._child_map.setdefault(ppid, []).append(proc.pid)
        return self._child_map.get(pid, [])

    @staticmethod
    def _children(pid: int) -> list[int]:
        """Children of every thread of ``pid`` (a child belongs to the thread that forked it)."""
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            return []
        out: list[int] = []
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/children", "rb") as handle:
                    out.extend(int(x) for x in handle.read().split())
            except (OSError, ValueError):
                continue
        return out
