"""``wzp answer TARGET yes|no|always|TEXT``: answer the dialog on an agent's screen by label."""

from __future__ import annotations

import click

from wzp_supervisor.cli.common import echo, hub_request, json_option, print_json
from wzp_supervisor.session.paste import clean


@click.command()
@click.argument("target")
@click.argument("answer")
@json_option
def answer(target: str, answer: str, as_json: bool) -> None:
    """Answer the dialog agent TARGET (ws/pane) is waiting on, by the label of an option:
    yes, no, always (yes, and do not ask again) or the text an option starts with.

    Refused unless the agent is waiting for input; with no options on screen, ANSWER is typed
    as text and submitted.
    """
    reply = hub_request("agent.answer", target=target, answer=answer)
    if as_json:
        print_json(reply)
        return
    option = reply.get("option")
    label = clean(str(reply.get("label") or "")).replace("\n", " ")
    if option is None:
        echo(f"{target}: typed the answer")
    else:
        echo(f"{target}: chose {option}. {label}")
