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

from rich.console import Console, RenderableType
from rich.text import Text

from wzp_supervisor import paths
from wzp_supervisor.cli.dashboard_view import render, rows_of
from wzp_supervisor.cli.hub_client import DaemonNotRunning, HubClient, RequestFailed, UnsafeHub
from wzp_supervisor.cli.printable import printable
from wzp_supervisor.states import shown_state

ANSWER_KEYS = {"y": "yes", "n": "no", "A": "always"}
"""Keys that answer the selected agent's dialog (``a`` stays attach)."""
REFRESH_EVERY = 2.0  # seconds between status fetches without events (cpu and memory move)
PEEK_LINES = 12


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
        return rows_of(self.status)

    def selected_target(self) -> str | None:
        rows = self.rows()
        if not rows:
            return None
        return str(rows[min(self.selected, len(rows) - 1)]["target"])

    # -- rendering --------------------------------------------------------------------------

    def render(self, now: float | None = None, height: int | None = None) -> RenderableType:
        """The whole screen as a rich renderable; ``height`` (terminal lines) limits the table
        to a window of rows around the selected one."""
        peek = (self.peek_target or "", self.peek_text) if self.peek_text is not None else None
        return render(self.status, self.selected, self.message, peek, now, height)

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
