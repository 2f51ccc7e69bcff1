"""Typing a task's prompt into an agent: through its session holder, once its prompt is ready.

``Deliver`` and ``Press`` are the shapes ``TaskQueue`` takes, so tests can hand it others.
Prompts are pasted as text only (escape and control sequences stripped).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from wzp_supervisor import paths
from wzp_supervisor.agents import claude
from wzp_supervisor.session.paste import clean
from wzp_supervisor.task_model import PASTE_READY_WAIT_S

CLEAR_KEY = "\x15"
"""Ctrl-U: erase the line before the cursor (Claude Code's input box, a tty's line editor)."""

MAX_CLEARS = 40


class DeliveryError(Exception):
    """The prompt could not be typed into the agent (its holder did not answer)."""


Deliver = Callable[[str, str, Callable[[], bool]], Awaitable[None]]
"""``deliver(target, prompt, still_wanted)``: type ``prompt`` into ``target`` unless
``still_wanted()`` turns false first; raises DeliveryError."""

Press = Callable[[str, str], Awaitable[None]]
"""``press(target, action)``: ``"enter"`` presses Enter, ``"clear"`` empties the agent's
input line; raises DeliveryError."""


def _socket(target: str) -> Any:
    workspace, _, pane = target.partition("/")
    return paths.session_socket(workspace, pane)


def _prompt_box_missing(lines: list[str]) -> bool:
    """Claude Code's banner is up but its input box is not drawn yet."""
    return any("Claude Code" in line for line in lines) and claude.screen_prompt(lines) is None


async def type_into_holder(target: str, prompt: str, still_wanted: Callable[[], bool]) -> None:
    """Wait (a while) for the agent to enable bracketed paste, then paste and press Enter.

    Runs the blocking socket calls in a thread.
    """
    from wzp_supervisor.session import control

    socket_path = _socket(target)
    try:
        deadline = time.monotonic() + PASTE_READY_WAIT_S
        while time.monotonic() < deadline:
            info = await asyncio.to_thread(control.info, socket_path, timeout=5.0)
            if info.get("bracketed_paste"):
                snapshot = await asyncio.to_thread(control.peek, socket_path, timeout=5.0)
                if not _prompt_box_missing(snapshot.lines):
                    break
            await asyncio.sleep(0.1)
        if not still_wanted():
            return  # cancelled or interrupted meanwhile
        await asyncio.to_thread(control.send_text, socket_path, clean(prompt), True)
    except control.SessionError as exc:
        raise DeliveryError(str(exc)) from exc


async def press_in_holder(target: str, action: str) -> None:
    """Press Enter, or empty the input line (Ctrl-U until the input box shows it empty)."""
    from wzp_supervisor.session import control

    socket_path = _socket(target)
    try:
        if action == "enter":
            await asyncio.to_thread(control.send_text, socket_path, "", True)
            return
        for _ in range(MAX_CLEARS):
            await asyncio.to_thread(control.send_text, socket_path, CLEAR_KEY, raw=True)
            await asyncio.sleep(0.1)
            snapshot = await asyncio.to_thread(control.peek, socket_path, timeout=5.0)
            if not claude.screen_prompt(snapshot.lines):  # empty, or no input box to read
                return
    except control.SessionError as exc:
        raise DeliveryError(str(exc)) from exc


async def press_nothing(target: str, action: str) -> None:
    """A ``Press`` that does nothing (for deliveries that are not through a holder)."""
    del target, action
