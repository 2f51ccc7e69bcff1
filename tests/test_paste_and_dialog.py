"""Pasted text is plain text; dialogs are read off the screen and answered by label."""

from __future__ import annotations

import pytest

from wzp_supervisor.agents.claude import screen_prompt
from wzp_supervisor.session import dialog
from wzp_supervisor.session.paste import clean

RULE = "─" * 60
SCREEN = [
    "● Bash(touch x)",
    "",
    " Bash command",
    "   touch made-by-claude",
    "",
    " Do you want to proceed?",
    " ❯ 1. Yes",
    "   2. Yes, and don't ask again for touch commands in",
    "   /tmp/wzp-abc/work",
    "   3. No, and tell Claude what to do differently (esc)",
    "",
    " Esc to cancel",
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\x1b[201~b\x1b]0;title\x07c\x00d", "abcd"),
        ("x\x1b]8;;http://e\x1b\\link\x1b]8;;\x1b\\y", "xlinky"),
        ("tab\there\r\nnew\rline", "tab\there\nnew\nline"),
        ("esc\x1bcend\x1b(B!", "escend!"),
        ("é ünï 😀 ❯", "é ünï 😀 ❯"),
        ("cut at the end\x1b[20", "cut at the end"),
        ("c1\x9b201~ \x9d0;t\x9c", "c1 "),
        ("bell\x07 del\x7f bs\x08", "bell del bs"),
    ],
)
def test_clean_leaves_only_text(text: str, expected: str) -> None:
    assert clean(text) == expected
    assert "\x1b" not in clean(text)


def test_a_permission_dialog_is_found_and_answered_by_label() -> None:
    found = dialog.find(SCREEN)
    assert found is not None and found.is_permission
    assert found.question == "Do you want to proceed?"
    assert [o.number for o in found.options] == [1, 2, 3]
    assert found.options[0].selected
    assert dialog.choose(found, "yes").number == 1
    assert dialog.choose(found, "ALWAYS").number == 2
    assert dialog.choose(found, "no").number == 3
    assert dialog.choose(found, "No, and tell").number == 3
    with pytest.raises(dialog.NoSuchOption, match="matches no option"):
        dialog.choose(found, "maybe")
    with pytest.raises(dialog.NoSuchOption, match="more than one"):
        dialog.choose(found, "y")


def test_numbered_lists_without_a_pointer_are_not_dialogs() -> None:
    assert dialog.find(["1. first", "2. second", "", "❯ type here"]) is None
    assert dialog.find(["nothing here"]) is None
    only_yes = dialog.find(["❯ 1. Red", "  2. Blue"])
    assert only_yes is not None and not only_yes.is_permission


def test_screen_prompt_reads_the_input_box() -> None:
    assert screen_prompt(["x", RULE, "❯", RULE, "  ? for shortcuts"]) == ""
    assert screen_prompt(["x", RULE, "❯ hello there", RULE]) == "hello there"
    assert screen_prompt(SCREEN) is None
