"""A tiny stand-in for Claude Code, run in a session holder's PTY by the task tests.

It behaves like the real CLI as far as wzp can see: it enables bracketed paste, fires
``wzp hook SessionStart`` (with the id from ``--session-id``/``--resume``) when it starts,
reads prompts from its terminal one line at a time and, for each, fires ``UserPromptSubmit``,
"works", appends the prompt to ``$FAKE_AGENT_LOG`` and fires ``Stop`` with
``last_assistant_message`` = ``"echo: <prompt>"``. Hooks run as ``python -m wzp_supervisor
hook EVENT`` with the JSON payload on stdin, exactly as Claude Code runs them.

Prompts may carry instructions: ``sleep=S`` sleeps S seconds before answering; ``hang-once``
hangs the first time it is seen (for the test to kill the agent mid-task; a marker file next
to the log records it); ``crash`` kills the agent with SIGKILL every time. Lost submissions:
``lose-enter-once`` keeps the first such prompt unsent (as if its Enter was lost) until an empty
line (Enter again) submits it; ``lose-twice`` ignores the prompt and the Enter after it, once;
``never-submit`` is never submitted.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

PASTE = re.compile(r"\x1b\[20[01]~")


def hook(event: str, **payload: object) -> None:
    """Run ``wzp hook EVENT`` like Claude Code does."""
    payload.setdefault("hook_event_name", event)
    subprocess.run(
        [sys.executable, "-m", "wzp_supervisor", "hook", event],
        input=json.dumps(payload).encode(),
        check=False,
        stdout=subprocess.DEVNULL,
    )


def session_id(argv: list[str]) -> str:
    for flag in ("--session-id", "--resume"):
        if flag in argv:
            return argv[argv.index(flag) + 1]
    return "00000000-0000-4000-8000-000000000000"


def main() -> None:
    sid = session_id(sys.argv)
    log_path = os.environ.get("FAKE_AGENT_LOG", os.devnull)
    sys.stdout.write("\x1b[?2004h")  # bracketed paste on, as the real TUI does
    sys.stdout.flush()
    hook("SessionStart", session_id=sid, source="resume" if "--resume" in sys.argv else "startup")
    unsent: str | None = None
    lost: set[str] = set()
    dropping = 0
    for raw in sys.stdin:
        prompt = PASTE.sub("", raw).strip()
        if dropping:
            dropping -= 1
            continue
        if not prompt and unsent is not None:
            prompt, unsent = unsent, None
        if not prompt or "never-submit" in prompt:
            continue
        if "lose-enter-once" in prompt and "enter" not in lost:
            lost.add("enter")
            unsent = prompt
            continue
        if "lose-twice" in prompt and "twice" not in lost:
            lost.add("twice")
            dropping = 1
            continue
        hook("UserPromptSubmit", session_id=sid, prompt=prompt)
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(prompt + "\n")
        match = re.search(r"sleep=([0-9.]+)", prompt)
        if match:
            time.sleep(float(match.group(1)))
        marker = log_path + ".hung"
        if "hang-once" in prompt and not os.path.exists(marker):
            open(marker, "w").close()
            time.sleep(3600)
        if "crash" in prompt:
            os.kill(os.getpid(), signal.SIGKILL)
        answer = f"echo: {prompt}"
        print(answer, flush=True)
        hook("Stop", session_id=sid, last_assistant_message=answer, stop_hook_active=False)


if __name__ == "__main__":
    main()
