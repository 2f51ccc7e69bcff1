"""Reading a choice dialog (Claude Code's permission prompt and its kin) off a screen.

Standard library only. A dialog is a block of numbered options, ``1.`` to ``N.`` in order,
one of them marked by the selection pointer (``❯`` or ``>``), usually under a question line
(``Do you want to proceed?``). Options are chosen by their label, never by position:
:func:`choose` maps ``yes`` / ``no`` / ``always`` or an option's own text to its number.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_OPTION = re.compile(
    r"^\s*(?:[│┃|]\s*)?(?P<pointer>[❯›>▶]\s*)?(?P<number>[1-9])\.\s+(?P<label>\S.*?)\s*[│┃|]?\s*$"
)
_ALWAYS_WORDS = ("don't ask again", "do not ask again", "always", "allow all", "for this session")


@dataclass(frozen=True)
class Option:
    """One choice of a dialog."""

    number: int
    label: str
    selected: bool


@dataclass(frozen=True)
class Dialog:
    """A choice dialog found on the screen."""

    question: str | None
    options: tuple[Option, ...]

    @property
    def is_permission(self) -> bool:
        """Whether it asks for a yes/no decision (a permission prompt)."""
        labels = [o.label.casefold() for o in self.options]
        return any(lb.startswith("yes") for lb in labels) and any(
            lb.startswith("no") for lb in labels
        )

    def to_json(self) -> dict[str, object]:
        """JSON-ready form (hub replies)."""
        return {
            "question": self.question,
            "options": [
                {"number": o.number, "label": o.label, "selected": o.selected} for o in self.options
            ],
        }


def find(lines: Sequence[str]) -> Dialog | None:
    """The lowest dialog on the screen ``lines``, or None.

    A run of option lines numbered 1, 2, … (lines between them that are not options are
    wrapped label text and are skipped) with the selection pointer on one of them.
    """
    found: Dialog | None = None
    i = 0
    while i < len(lines):
        match = _OPTION.match(lines[i])
        if match is None or match.group("number") != "1":
            i += 1
            continue
        options = [_option(match)]
        start = i
        j = i + 1
        while j < len(lines) and j - start < 40:
            nxt = _OPTION.match(lines[j])
            if nxt is not None and int(nxt.group("number")) == len(options) + 1:
                options.append(_option(nxt))
            elif nxt is not None or not lines[j].strip():
                if not lines[j].strip() and j + 1 < len(lines):
                    following = _OPTION.match(lines[j + 1])
                    if following and int(following.group("number")) == len(options) + 1:
                        j += 1
                        continue
                break
            j += 1
        if len(options) >= 2 and any(o.selected for o in options):
            found = Dialog(_question(lines, start), tuple(options))
        i = j
    return found


def _option(match: re.Match[str]) -> Option:
    return Option(int(match.group("number")), match.group("label"), bool(match.group("pointer")))


def _question(lines: Sequence[str], start: int) -> str | None:
    for k in range(start - 1, max(-1, start - 4), -1):
        text = lines[k].strip(" │┃|")
        if text.endswith("?"):
            return text
    return None


class NoSuchOption(ValueError):
    """The answer matches no option of the dialog (or more than one)."""


def choose(dialog: Dialog, answer: str) -> Option:
    """The option ``answer`` names: ``yes`` (a plain yes), ``always`` (yes, and do not ask
    again), ``no``, or the text an option's label starts with. Raises NoSuchOption."""
    want = " ".join(answer.split()).casefold()
    options = dialog.options

    def always(option: Option) -> bool:
        label = option.label.casefold()
        return any(word in label for word in _ALWAYS_WORDS)

    if want == "yes":
        picks = [o for o in options if o.label.casefold().startswith("yes") and not always(o)]
    elif want == "always":
        picks = [o for o in options if o.label.casefold().startswith("yes") and always(o)]
    elif want == "no":
        picks = [o for o in options if o.label.casefold().startswith("no")]
    else:
        picks = [o for o in options if o.label.casefold() == want]
        if not picks and want:
            picks = [o for o in options if o.label.casefold().startswith(want)]
    if len(picks) >= 1 and (want in ("yes", "no", "always") or len(picks) == 1):
        return picks[0]
    labels = "; ".join(f"{o.number}. {o.label}" for o in options)
    what = "matches more than one option" if picks else "matches no option"
    raise NoSuchOption(f"{answer!r} {what} of the dialog ({labels})")
