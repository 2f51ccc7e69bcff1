"""Answering an agent's dialog without attaching: the ``agent.answer`` hub type.

A daemon feature. ``agent.answer {target, answer}`` reads the dialog on the agent's screen
(the holder's screen model) and picks the option ``answer`` names by its label: ``yes``,
``no``, ``always`` (yes, and do not ask again) or the text an option starts with; never by
position. The option's number is then typed as a key press. It is refused unless the agent is
``waiting_input``; with no numbered options on screen (a free-text question), the answer is
pasted and submitted as text. Publishes ``AgentAnswered {target, answer, option, label}``.

Some answers end the turn without a hook (Claude Code fires none when a tool is refused with
"No"): once the dialog is gone and the screen shows the prompt ready while no hook has moved
the state, the agent is ``idle`` (source ``screen``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from wzp_supervisor import paths, protocol
from wzp_supervisor.agent_states import AgentStates
from wzp_supervisor.agents import claude
from wzp_supervisor.features import DaemonContext, FeatureBase
from wzp_supervisor.protocol import ProtocolError
from wzp_supervisor.session import control, dialog

DIALOG_WAIT_S = 3.0
"""How long to wait for a dialog to be drawn after the hook that announced it."""

FOLLOW_S = 10.0
"""How long after an answer the screen is watched for the turn having ended hook-less."""

SCREEN_GRACE_S = 0.5
"""How long the screen's word waits for a hook to contradict it."""

CONFIRM_WAIT_S = 1.5
"""How long to watch whether typing an option's number chose it or only selected it."""

_LABEL_ANSWERS = ("yes", "no", "always")


class AgentAnswers(FeatureBase):
    """Serves ``agent.answer``."""

    def __init__(self, ctx: DaemonContext, states: AgentStates) -> None:
        self.ctx = ctx
        self._states = states
        self._jobs: set[asyncio.Task[None]] = set()
        ctx.hub.register("agent.answer", self.handle_answer)

    async def handle_answer(self, msg: dict[str, Any]) -> dict[str, Any]:
        """``agent.answer {target, answer}`` → ``{option, label, dialog}``."""
        target = protocol.field(msg, "target", str)
        answer = protocol.field(msg, "answer", str)
        if not answer.strip():
            raise ProtocolError(protocol.INVALID, "'answer' is empty")
        proc = self.ctx.processes.processes.get(target)
        if proc is None:
            raise ProtocolError(protocol.NOT_FOUND, f"no supervised process {target!r}")
        state = self._states.state_of(target)
        if state != "waiting_input":
            raise ProtocolError(
                protocol.CONFLICT,
                f"{target} is {state or proc.state}, not waiting for input; nothing to answer",
            )
        workspace, _, pane = target.partition("/")
        socket_path = paths.session_socket(workspace, pane)
        found = await self._dialog(socket_path)
        try:
            if found is None or not found.options:
                if answer.strip().casefold() in _LABEL_ANSWERS:
                    raise ProtocolError(
                        protocol.CONFLICT,
                        f"no dialog with options is on {target}'s screen to answer {answer!r}",
                    )
                await asyncio.to_thread(control.send_text, socket_path, answer, True, force=True)
                option_number, label = None, answer
            else:
                try:
                    option = dialog.choose(found, answer)
                except dialog.NoSuchOption as exc:
                    raise ProtocolError(protocol.INVALID, str(exc)) from None
                await asyncio.to_thread(
                    control.send_text, socket_path, str(option.number), force=True, raw=True
                )
                await self._confirm_choice(socket_path, found, option.number)
                option_number, label = option.number, option.label
        except control.SessionError as exc:
            raise ProtocolError(protocol.CONFLICT, f"{target}: {exc}") from None
        since = self._states.records[target].since if target in self._states.records else None
        self._spawn(self._follow(target, socket_path, since, label))
        self.ctx.bus.publish(
            "AgentAnswered",
            "state",
            target=target,
            answer=answer,
            option=option_number,
            label=label,
        )
        return {
            "target": target,
            "option": option_number,
            "label": label,
            "dialog": found.to_json() if found is not None else None,
        }

    async def stop(self) -> None:
        for job in list(self._jobs):
            job.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)

    def _spawn(self, coro: Any) -> None:
        job = asyncio.ensure_future(coro)
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    async def _follow(self, target: str, socket_path: Any, since: float | None, label: str) -> None:
        """After an answer: no hook, no dialog and the prompt ready on screen mean idle."""
        deadline = time.monotonic() + FOLLOW_S
        while time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            record = self._states.records.get(target)
            if record is None or record.state != "waiting_input" or record.since != since:
                return  # a hook (or anything else) said what happened
            try:
                snapshot = await asyncio.to_thread(control.peek, socket_path, timeout=5.0)
            except control.SessionError:
                return
            lines = snapshot.lines
            if dialog.find(lines) is None and claude.screen_prompt(lines) is not None:
                await asyncio.sleep(SCREEN_GRACE_S)  # a late hook wins
                record = self._states.records.get(target)
                if record is not None and record.state == "waiting_input" and record.since == since:
                    self._states.set_state(
                        target, "idle", f"answered {label!r}; the turn ended", None, "screen"
                    )
                return

    @staticmethod
    async def _confirm_choice(socket_path: Any, asked: dialog.Dialog, number: int) -> None:
        """Where a digit only moves the selection (newer CLIs), press Enter on it: when the
        same dialog stays on screen with that option selected in two looks in a row."""
        labels = [o.label for o in asked.options]
        seen_selected = 0
        deadline = time.monotonic() + CONFIRM_WAIT_S
        while time.monotonic() < deadline:
            await asyncio.sleep(0.15)
            snapshot = await asyncio.to_thread(control.peek, socket_path, timeout=5.0)
            now = dialog.find(snapshot.lines)
            if now is None or [o.label for o in now.options] != labels:
                return  # the dialog is gone: the digit chose
            if any(o.selected and o.number == number for o in now.options):
                seen_selected += 1
                if seen_selected >= 2:
                    await asyncio.to_thread(
                        control.send_text, socket_path, "\r", force=True, raw=True
                    )
                    return

    @staticmethod
    async def _dialog(socket_path: Any) -> dialog.Dialog | None:
        """The dialog on the screen, waiting a little for it to be drawn."""
        deadline = time.monotonic() + DIALOG_WAIT_S
        while True:
            try:
                snapshot = await asyncio.to_thread(control.peek, socket_path, timeout=5.0)
            except control.SessionError as exc:
                raise ProtocolError(protocol.CONFLICT, str(exc)) from None
            found = dialog.find(snapshot.lines)
            if found is not None or time.monotonic() >= deadline:
                return found
            await asyncio.sleep(0.1)
