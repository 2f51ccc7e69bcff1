"""A stand-in for ``claude -p --input-format stream-json --output-format stream-json``: one
reply per user line, for cases the real CLI shows only with a subscription login.

Ignores its arguments. For a prompt ``rate-limit:N`` seen for the first time (a marker file in
the working directory remembers it) it reports a rejecting ``rate_limit_event`` that resets in
N seconds and ends the turn with an HTTP 429 error result; ``sleep:N`` answers after N
seconds; any other prompt, or the same one again, gets ``fake reply: PROMPT``. Costs add up
per process like the CLI's.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path


def emit(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> None:
    session = str(uuid.uuid4())
    cost = 0.0
    for line in sys.stdin:
        message = json.loads(line)
        if message.get("type") != "user":
            continue
        prompt = str(message["message"]["content"])
        emit({"type": "system", "subtype": "init", "session_id": session})
        marker = Path(f"seen-{prompt.replace(':', '-')}")
        if prompt.startswith("rate-limit:") and not marker.exists():
            marker.touch()
            resets = int(time.time()) + int(prompt.split(":", 1)[1])
            info = {"status": "rejected", "resetsAt": resets, "rateLimitType": "five_hour"}
            emit({"type": "rate_limit_event", "rate_limit_info": info, "session_id": session})
            text = "API Error: 429 rate limit reached"
            result = {"is_error": True, "api_error_status": 429, "result": text}
        else:
            if prompt.startswith("sleep:"):
                time.sleep(float(prompt.split(":", 1)[1]))
            cost += 0.01
            content = [{"type": "text", "text": f"fake reply: {prompt}"}]
            emit({"type": "assistant", "message": {"content": content}, "session_id": session})
            result = {"is_error": False, "api_error_status": None, "result": content[0]["text"]}
        emit(
            {
                "type": "result",
                "subtype": "error_during_execution" if result["is_error"] else "success",
                "session_id": session,
                "total_cost_usd": cost,
                "usage": {"input_tokens": 1, "output_tokens": 1},
                "duration_ms": 5,
                **result,
            }
        )


if __name__ == "__main__":
    main()
