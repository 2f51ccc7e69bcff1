"""``wzp dashboard``: the control pane, a live table of every workspace and agent (rich).

It follows the hub's event stream (a ``subscribe`` connection in a thread) and fetches
``status`` when something changed (and every few seconds for cpu and memory); it never runs
the CLI in a loop. The pools of headless workers are listed below the table, one line each.
Keys act on the selected agent:

    ↑/↓ or k/j  select        r restart   s stop   t start
    p peek (toggle)           a attach (returns after detach)
    y / n / A answer yes / no / always (agent waiting for input)
    w jump to the oldest waiting agent           q quit
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from wzp_supervisor import paths
from wzp_supervisor.cli.hub_client import DaemonNotRunning, HubClient, RequestFailed, UnsafeHub
from wzp_supervisor.cli.printable import printable
from wzp_supervisor.cli.tables import plural, pool_lines
from wzp_supervisor.states import human_bytes, one_line, shown_state

STATE_STYLES = {
    "running": "green",
    "idle": "green",
    "busy": "cyan",
    "starting": "blue",
    "waiting_input": "bold yellow",
    "backoff": "magenta",
    "fatal": "bold red",
    "exited": "white",
    "stopped": "dim",
    "stopping": "blue",
}
HELP = (
    "↑↓ select  r restart  s stop  t start  p peek  a attach  y yes  n no  A always"
    "  w oldest waiting  q quit"
)
ANSWER_KEYS = {"y": "yes", "n": "no", "A": "always"}
"""Keys that answer the selected agent's dialog (``a`` stays attach)."""
REFRESH_EVERY = 2.0  # seconds between status fetches without events (cpu and memory move)
PEEK_LINES = 12


def _since(ts: Any, now: float) -> str:
    if not isinstance(ts, int | float) or ts <= 0:
        return "-"
    secs = int(max(0.0, now - ts))
    if secs < 60:
        return f"{secs}s"
    if secs < 3600:
        return f"{secs // 60}m{secs % 60:02d}s"
    return f"{secs // 3600}h{secs % 3600 // 60:02d}m"


def _reason(proc: dict[str, Any]) -> str:
    state = shown_state(proc)
    if proc.get("state") == "running" and proc.get("agent_state"):
        parts = [proc.get("agent_reason"), proc.get("agent_message")]
        return printable(": ".join(str(p) for p in parts if p))
    if state in ("exited", "fatal", "backoff", "stopped"):
        return printable(str(proc.get("reason") or ""))
    return ""


def _task(proc: dict[str, Any]) -> str:
    task = proc.get("task")
    if isinstance(task, dict):
        return printable(str(task.get("prompt") or task.get("id") or "")[:40])
    return printable(str(task)[:40]) if task else ""


class Dashboard:
    """Model, rendering and key handling; ``run`` adds the terminal and the event thread."""

    def __init__(self, request: Callable[..., dict[str, Any]] | None = None) -> None:
        self._request = request or self._hub_request
        self.status: dict[str, Any] = {"processes": [], "workspaces": []}
        self.selected = 0
        self.message = ""
        self.peek_text: str | None = None
        self.peek_target: str | None = None
        self.connected = False
        self.unsafe: str | None = None  # why the hub socket was refused, when it was
        self.actions: list[threading.Thread] = []
        self._lock = threading.Lock()

    # -- data -------------------------------------------------------------------------------

    @staticmethod
    def _hub_request(kind: str, **fields: Any) -> dict[str, Any]:
        timeout = None if kind.startswith("process.") else 30.0 if kind == "agent.answer" else 10.0
        with HubClient(timeout=timeout) as client:
            return client.request(kind, **fields)

    def refresh(self) -> None:
        """Fetch ``status`` from the daemon."""
        try:
            status = self._request("status")
        except UnsafeHub as exc:
            self.connected = False
            self.unsafe = self.message = str(exc)
            return
        except (DaemonNotRunning, ConnectionError, OSError) as exc:
            self.connected = False
            self.message = f"daemon not reachable: {exc}"
            return
        with self._lock:
            self.status = status
            self.connected = True
            count = len(self.rows())
            self.selected = min(self.selected, max(0, count - 1))
        if self.peek_target is not None:
            self._load_peek(self.peek_target)

    def rows(self) -> list[dict[str, Any]]:
        """Processes in display order: by workspace, then pane name."""
        procs = list(self.status.get("processes", []))
        return sorted(procs, key=lambda p: (str(p.get("workspace")), str(p.get("target"))))

    def selected_target(self) -> str | None:
        rows = self.rows()
        if not rows:
            return None
        return str(rows[min(self.selected, len(rows) - 1)]["target"])

    # -- rendering --------------------------------------------------------------------------

    def render(self, now: float | None = None, height: int | None = None) -> RenderableType:
        """The whole screen as a rich renderable; ``height`` (terminal lines) limits the table
        to a window of rows around the selected one."""
        now = time.time() if now is None else now
        rows = self.rows()
        lines: list[tuple[int, dict[str, Any]] | str] = []  # agent rows and workspace titles
        for index, proc in enumerate(rows):
            if index == 0 or proc.get("workspace") != rows[index - 1].get("workspace"):
                lines.append(str(proc.get("workspace")))
            lines.append((index, proc))
        hidden_above = hidden_below = 0
        if height is not None:
            peek_lines = (self.peek_text or "").count("\n") + 3 if self.peek_text else 0
            pool_count = len(self.status.get("pools") or [])
            budget = max(3, height - 8 - peek_lines - pool_count)
            if len(lines) > budget:
                at = next(i for i, line in enumerate(lines) if line[0] == self.selected)
                start = min(max(0, at - budget // 2), len(lines) - budget)
                hidden_above, hidden_below = start, len(lines) - start - budget
                lines = lines[start : start + budget]
        table = Table(expand=True, box=None, header_style="bold", pad_edge=False)
        for name, kwargs in (
            ("", {"width": 1}),
            ("agent", {"no_wrap": True}),
            ("state", {"no_wrap": True}),
            ("since", {"justify": "right"}),
            ("cpu", {"justify": "right"}),
            ("mem", {"justify": "right"}),
            ("restarts", {"justify": "right"}),
            ("reason", {"ratio": 2, "overflow": "ellipsis", "no_wrap": True}),
            ("task", {"ratio": 1, "overflow": "ellipsis", "no_wrap": True}),
        ):
            table.add_column(name, **kwargs)
        for line in lines:
            if isinstance(line, str):
                table.add_row("", Text(printable(line), style="bold underline"))
                continue
            index, proc = line
            state = shown_state(proc)
            since = proc.get("agent_since") if proc.get("agent_state") else proc.get("since")
            mark = "▶" if index == self.selected else ""
            table.add_row(
                mark,
                Text(printable(f"  {proc.get('pane')}"), style="reverse" if mark else ""),
                Text(printable(state), style=STATE_STYLES.get(state, "")),
                _since(since, now),
                f"{float(proc.get('cpu') or 0):.1f}%",
                human_bytes(int(proc.get("rss") or 0)),
                str(proc.get("restarts", 0)),
                _reason(proc),
                _task(proc),
            )
        daemon = self.status.get("daemon") or {}
        agents = [proc for proc in rows if proc.get("kind", "claude") != "none"]
        others = len(rows) - len(agents)
        counts = [
            plural(len(self.status.get("workspaces", [])), "workspace"),
            plural(len(agents), "agent"),
        ]
        if others:
            counts.append(plural(others, "other pane"))
        title = printable(
            f"wezterm-parallel · {' · '.join(counts)} · daemon pid {daemon.get('pid', '-')}"
        )
        header = Text(one_line(agents), style="bold")
        parts: list[RenderableType] = [header]
        if hidden_above:
            parts.append(Text(f"  ↑ {hidden_above} more lines", style="dim"))
        parts.append(table)
        if hidden_below:
            parts.append(Text(f"  ↓ {hidden_below} more lines", style="dim"))
        pools = list(self.status.get("pools") or [])
        for pool, line in zip(pools, pool_lines(pools), strict=True):
            paused = pool.get("rate_limited_until") is not None
            parts.append(Text(line, style="bold yellow" if paused else ""))
        if not rows and not pools:
            parts.append(Text("no agents; create a workspace with `wzp workspace create`"))
        if self.peek_text is not None:
            peek = Text(printable(self.peek_text, multiline=True))
            parts.append(Panel(peek, title=f"peek {self.peek_target}", expand=True))
        footer = Text(HELP, style="dim")
        if self.message:
            footer = Text.assemble((printable(self.message), "bold"), "   ", (HELP, "dim"))
        parts.append(footer)
        return Panel(Group(*parts), title=title, border_style="blue")

    # -- keys -------------------------------------------------------------------------------

    def handle_key(self, key: str) -> bool:
        """Act on one key; False means quit."""
        rows = self.rows()
        if key in ("q", "Q", "\x03"):
            return False
        if key in ("j", "down") and rows:
            self.selected = min(self.selected + 1, len(rows) - 1)
        elif key in ("k", "up") and rows:
            self.selected = max(self.selected - 1, 0)
        elif key == "w":
            self.jump_to_waiting()
        elif key in ("r", "s", "t"):
            action = {"r": "restart", "s": "stop", "t": "start"}[key]
            target = self.selected_target()
            if target is not None:
                self.act(action, target)
        elif key in ANSWER_KEYS:
            target = self.selected_target()
            if target is not None:
                self.answer(target, ANSWER_KEYS[key])
        elif key == "p":
            target = self.selected_target()
            if self.peek_target == target or target is None:
                self.peek_target = self.peek_text = None
            else:
                self._load_peek(target)
        return True

    def jump_to_waiting(self) -> None:
        """Select the agent that has waited longest for input."""
        waiting = [
            (float(p.get("agent_since") or p.get("since") or 0), i)
            for i, p in enumerate(self.rows())
            if shown_state(p) == "waiting_input"
        ]
        if not waiting:
            self.message = "no agent is waiting for input"
            return
        self.selected = min(waiting)[1]
        self.message = f"{self.selected_target()} waits longest"

    def act(self, action: str, target: str) -> threading.Thread:
        """``process.<action>`` on ``target`` in a thread (a graceful stop may take seconds)."""
        self.message = f"{action} {target}…"

        def work() -> None:
            try:
                self._request(f"process.{action}", target=target)
                self.message = f"{action} {target}: done"
            except RequestFailed as exc:
                self.message = f"{action} {target}: {exc.message}"
            except (DaemonNotRunning, UnsafeHub, ConnectionError, OSError) as exc:
                self.message = f"{action} {target}: {exc}"

        thread = threading.Thread(target=work, name=f"wzp-{action}", daemon=True)
        thread.start()
        self.actions = [t for t in self.actions if t.is_alive()] + [thread]
        return thread

    def answer(self, target: str, answer: str) -> threading.Thread:
        """``agent.answer`` on ``target`` in a thread; the daemon's reply or refusal is the
        status line."""
        self.message = f"answer {answer} {target}…"

        def work() -> None:
            try:
                reply = self._request("agent.answer", target=target, answer=answer)
            except RequestFailed as exc:
                self.message = f"answer {answer} {target}: {exc.message}"
                return
            except (DaemonNotRunning, UnsafeHub, ConnectionError, OSError) as exc:
                self.message = f"answer {answer} {target}: {exc}"
                return
            option = reply.get("option")
            if option is None:
                self.message = f"answer {answer} {target}: typed the answer"
            else:
                label = str(reply.get("label") or "").replace("\n", " ")
                self.message = f"answer {answer} {target}: chose {option}. {label}"

        thread = threading.Thread(target=work, name="wzp-answer", daemon=True)
        thread.start()
        self.actions = [t for t in self.actions if t.is_alive()] + [thread]
        return thread

    def _load_peek(self, target: str) -> None:
        from wzp_supervisor.session.control import SessionError, peek

        workspace, _, pane = target.partition("/")
        self.peek_target = target
        try:
            snapshot = peek(paths.session_socket(workspace, pane), PEEK_LINES)
            self.peek_text = snapshot.text or "(empty screen)"
        except SessionError as exc:
            self.peek_text = f"(no session screen: {exc})"
        except OSError as exc:
            self.peek_text = f"(cannot peek: {exc})"

    # -- terminal ---------------------------------------------------------------------------

    def run(self, console: Console | None = None) -> int:
        """The interactive loop; returns the exit code."""
        import termios
        import tty

        from rich.live import Live

        console = console or Console()
        wake_r, wake_w = os.pipe()
        stop = threading.Event()
        events = threading.Thread(
            target=self._follow_events, args=(wake_w, stop), name="wzp-events", daemon=True
        )
        self.refresh()
        if self.unsafe is not None:
            console.print(Text(printable(f"wzp: {self.unsafe}")))
            return 1
        if not self.connected:
            console.print(Text(printable(f"wzp: {self.message}; run `wzp up`")))
            return 3
        events.start()
        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd)
            with Live(
                self.render(height=console.height),
                console=console,
                screen=True,
                auto_refresh=False,
            ) as live:
                last_fetch = time.monotonic()
                while True:
                    ready, _, _ = select.select([fd, wake_r], [], [], 1.0)
                    if wake_r in ready:
                        os.read(wake_r, 4096)
                        self.refresh()
                        last_fetch = time.monotonic()
                    if fd in ready:
                        key = _read_key(fd)
                        if key == "a":
                            target = self.selected_target()
                            if target is not None:
                                live.stop()
                                termios.tcsetattr(fd, termios.TCSADRAIN, saved)
                                self._attach(target)
                                tty.setcbreak(fd)
                                live.start(refresh=True)
                        elif not self.handle_key(key):
                            break
                    if time.monotonic() - last_fetch >= REFRESH_EVERY:
                        self.refresh()
                        last_fetch = time.monotonic()
                    live.update(self.render(height=console.height), refresh=True)
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
            stop.set()
            os.close(wake_r)
            with contextlib.suppress(OSError):
                os.close(wake_w)
        return 0

    @staticmethod
    def _attach(target: str) -> None:
        subprocess.run([sys.executable, "-m", "wzp_supervisor", "attach", target], check=False)

    def _follow_events(self, wake_w: int, stop: threading.Event) -> None:
        """Wake the UI for every event; reconnect when the daemon comes back."""
        while not stop.is_set():
            try:
                with HubClient(timeout=None) as client:
                    client.request("subscribe")
                    for _event in client.events():
                        if stop.is_set():
                            return
                        os.write(wake_w, b".")
            except (DaemonNotRunning, UnsafeHub, ConnectionError, OSError, RequestFailed):
                pass
            if stop.is_set():
                return
            with contextlib.suppress(OSError):
                os.write(wake_w, b"!")
            stop.wait(2.0)


def _read_key(fd: int) -> str:
    """One key press: a character, or ``up``/``down`` for the arrow keys."""
    data = os.read(fd, 1)
    if data == b"\x1b":
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            seq = os.read(fd, 2)
            return {b"[A": "up", b"[B": "down"}.get(seq, "")
        return ""
    return data.decode(errors="replace")
