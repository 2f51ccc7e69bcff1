"""Typing a task's prompt into an agent: through its session holder, once its prompt is ready.

``Deliver`` is the shape ``TaskQueue`` takes, so tests can hand it another one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from wzp_supervisor import paths
from wzp_supervisor.session.paste import clean
from wzp_supervisor.task_model import PASTE_READY_WAIT_S


class DeliveryError(Exception):
    """The prompt could not be typed into the agent (its holder did not answer)."""


Deliver = Callable[[str, str, Callable[[], bool]], Awaitable[None]]
"""``deliver(target, prompt, still_wanted)``: type ``prompt`` into ``target`` unless
``still_wanted()`` turns false first; raises DeliveryError."""


async def type_into_holder(target: str, prompt: str, still_wanted: Callable[[], bool]) -> None:
    """Wait (a while) for the agent to enable bracketed paste, then paste and press Enter.

    Runs the blocking socket calls in a thread.
    """
    from wzp_supervisor.session import control

    workspace, _, pane = target.partition("/")
    socket_path = paths.session_socket(workspace, pane)
    try:
        deadline = time.monotonic() + PASTE_READY_WAIT_S
        while time.monotonic() < deadline:
            info = await asyncio.to_thread(control.info, socket_path, timeout=5.0)
            if info.get("bracketed_paste"):
                break
            await asyncio.sleep(0.1)
        if not still_wanted():
            return  # cancelled or interrupted meanwhile
        await asyncio.to_thread(control.send_text, socket_path, clean(prompt), True)
    except control.SessionError as exc:
        raise DeliveryError(str(exc)) from exc
