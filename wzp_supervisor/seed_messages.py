"""The specification's message names on the hub: externally tagged JSON, answered in kind.

A client may send, instead of a native ``{"v":1,"type":…}`` request, one of these objects
(one NDJSON line each) and gets its answer in the same form:

==============================================================  ===============================
sent                                                            served as (native request)
==============================================================  ===============================
``{"TaskRequest": {"id", "workspace", "command"}}``             ``task.submit {workspace,
                                                                prompt: command, wait: true}``;
                                                                a ``workspace`` of the form
                                                                ``ws/pane`` is ``task.request
                                                                {target, prompt, wait: true}``
``{"StatusUpdate": {"process_id", "status"}}``                  ``status.update {agent:
                                                                process_id, event: status}``
``{"BroadcastMessage": {"content", "sender"?}}``                ``broadcast {text: content}``
==============================================================  ===============================

Answers: ``{"TaskResponse": {"id", "result", "task", "state", "done"}}`` (``result`` is the
agent's reply once the task is done, else null: ask ``task.wait`` with ``task`` for more),
``{"StatusUpdate": {"process_id", "status"}}`` (``status`` is the agent's state after the
update), ``{"BroadcastMessage": {"content", "sender", "delivered", "queued", "tasks"}}``. A
request that fails is answered in the same form with ``"error": {"code", "message"}`` (and
``"result": null`` for a task). Standard library only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from wzp_supervisor import protocol
from wzp_supervisor.protocol import ProtocolError

# The fields of each message the hub serves: name -> (types, required).
_FIELDS: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "TaskRequest": {
        "id": ((str, int), True),
        "workspace": ((str,), True),
        "command": ((str,), True),
    },
    "StatusUpdate": {"process_id": ((str,), True), "status": ((str,), True)},
    "BroadcastMessage": {"content": ((str,), True), "sender": ((str,), False)},
}
_ANSWER_KIND = {"TaskRequest": "TaskResponse"}
SEED_KINDS = (*_FIELDS, "TaskResponse")
_MARKERS = tuple(kind.encode() for kind in SEED_KINDS)


@dataclass(frozen=True)
class SeedMessage:
    """One message in the specification's form: its ``kind`` and the object under it."""

    kind: str
    body: object

    def request(self) -> dict[str, Any]:
        """The native request that serves this message; ProtocolError when it is malformed."""
        body = self._checked()
        if self.kind == "TaskRequest":
            workspace, command = body["workspace"], body["command"]
            if "/" in workspace:
                fields = {"type": "task.request", "target": workspace}
            else:
                fields = {"type": "task.submit", "workspace": workspace}
            return {
                "v": protocol.VERSION,
                "id": body["id"],
                **fields,
                "prompt": command,
                "wait": True,
            }
        if self.kind == "StatusUpdate":
            return {
                "v": protocol.VERSION,
                "id": None,
                "type": "status.update",
                "agent": body["process_id"],
                "event": body["status"],
                "payload": {},
            }
        return {"v": protocol.VERSION, "id": None, "type": "broadcast", "text": body["content"]}

    def answer(self, reply: dict[str, Any]) -> dict[str, Any]:
        """The native ``reply`` (ok or error) in this message's form."""
        body = self.body if isinstance(self.body, dict) else {}
        kind = _ANSWER_KIND.get(self.kind, self.kind)
        error = None if reply.get("ok") else reply.get("error")
        if kind == "TaskResponse":
            out: dict[str, Any] = {"id": body.get("id"), "result": reply.get("response")}
            task = reply.get("task")
            if isinstance(task, dict):
                out.update(task=task.get("id"), state=task.get("state"), done=reply.get("done"))
        elif kind == "StatusUpdate":
            out = {"process_id": body.get("process_id")}
            if error is None:
                out["status"] = reply.get("state", body.get("status"))
                if "ignored" in reply:
                    out["ignored"] = reply["ignored"]
        else:
            out = {"content": body.get("content"), "sender": body.get("sender")}
            if error is None:
                out.update({k: reply.get(k) for k in ("delivered", "queued", "tasks")})
        if error is not None:
            out["error"] = error
        return {kind: out}

    def _checked(self) -> dict[str, Any]:
        if self.kind == "TaskResponse":
            raise ProtocolError(
                protocol.BAD_REQUEST, "TaskResponse is the answer to a TaskRequest; send that"
            )
        if not isinstance(self.body, dict):
            raise ProtocolError(protocol.BAD_REQUEST, f"{self.kind} must hold a JSON object")
        spec = _FIELDS[self.kind]
        for name in self.body:
            if name not in spec:
                known = ", ".join(spec)
                raise ProtocolError(
                    protocol.BAD_REQUEST, f"unknown field {name!r} in {self.kind} ({known})"
                )
        for name, (types, required) in spec.items():
            value = self.body.get(name)
            if value is None:
                if required:
                    raise ProtocolError(
                        protocol.BAD_REQUEST, f"missing field {name!r} in {self.kind}"
                    )
                continue
            if isinstance(value, bool) or not isinstance(value, types):
                want = " or ".join("integer" if t is int else "string" for t in types)
                raise ProtocolError(
                    protocol.BAD_REQUEST, f"field {name!r} of {self.kind} must be a {want}"
                )
        return self.body


def parse(line: bytes) -> SeedMessage | None:
    """The seed message on ``line`` (``{"Kind": {…}}`` with one known kind), else None.

    Never raises: a line that is not a seed message is left to ``protocol.decode_request``.
    """
    if not any(marker in line for marker in _MARKERS):
        return None
    try:
        message = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(message, dict) or len(message) != 1:
        return None
    [(kind, body)] = message.items()
    return SeedMessage(kind, body) if kind in SEED_KINDS else None
