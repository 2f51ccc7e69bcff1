"""The screen model of a session: a pyte screen fed lazily from the program's output.

pyte interprets well under 1 MB/s, so output is not fed to it as it arrives. It is kept in a
bounded tail buffer and fed when the screen is needed (an attach redraw, a peek, a resize) or
when the program goes quiet. Under a burst longer than the tail, only the tail is interpreted,
on top of the older screen: exact for scrolling output, self-healing for full-screen programs
at their next repaint. pyte itself is imported only when a screen is first needed, so an
unwatched holder stays small.

Private modes (bracketed paste, cursor keys, mouse, alternate screen) are tracked exactly on
every byte by ``terminal_modes.ModeTracker``.
"""

from __future__ import annotations

from typing import Any

from wzp_supervisor.session.terminal_modes import ModeTracker

DEFAULT_TAIL = 64 * 1024


def _color_tables() -> tuple[dict[str, int], dict[str, int]]:
    from pyte import graphics

    fg = {name: code for code, name in {**graphics.FG_ANSI, **graphics.FG_AIXTERM}.items()}
    bg = {name: code for code, name in {**graphics.BG_ANSI, **graphics.BG_AIXTERM}.items()}
    return fg, bg


def _color(value: str, table: dict[str, int], extended: int) -> str:
    if value == "default":
        return ""
    code = table.get(value)
    if code is not None:
        return f";{code}"
    if len(value) == 6:
        try:
            r, g, b = int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
        except ValueError:
            return ""
        return f";{extended};2;{r};{g};{b}"
    return ""


class ScreenModel:
    """Screen contents, cursor and modes of one PTY, with ANSI and plain-text renderings."""

    def __init__(self, cols: int, rows: int, tail: int = DEFAULT_TAIL) -> None:
        self.cols = cols
        self.rows = rows
        self.modes = ModeTracker()
        self._tail = tail
        self._pending = bytearray()
        self._screen: Any = None
        self._stream: Any = None
        self._tables: tuple[dict[str, int], dict[str, int]] | None = None

    def feed(self, data: bytes) -> None:
        """Take a chunk of output (cheap: the screen is updated later)."""
        self.modes.scan(data)
        pending = self._pending
        pending += data
        if len(pending) > self._tail:
            cut = len(pending) - self._tail // 2
            newline = pending.find(b"\n", cut)
            del pending[: newline + 1 if 0 <= newline < cut + 4096 else cut]

    @property
    def pending(self) -> bool:
        """Whether output is waiting to be interpreted by an existing screen."""
        return bool(self._pending) and self._screen is not None

    def settle(self) -> None:
        """Interpret buffered output if a screen exists (called when the program is quiet)."""
        if self._screen is not None and self._pending:
            self._flush()

    def _flush(self) -> None:
        if self._screen is None:
            import pyte

            self._screen = pyte.Screen(self.cols, self.rows)
            self._stream = pyte.ByteStream(self._screen)
        if self._pending:
            data = bytes(self._pending)
            self._pending.clear()
            self._stream.feed(data)

    def resize(self, cols: int, rows: int) -> None:
        """Change the size; output so far is interpreted at the old size first."""
        if (cols, rows) == (self.cols, self.rows):
            return
        if self._screen is not None:
            self._flush()
            self._screen.resize(lines=rows, columns=cols)
        self.cols, self.rows = cols, rows

    def cursor(self) -> tuple[int, int]:
        """(x, y) of the cursor, zero-based."""
        self._flush()
        return int(self._screen.cursor.x), int(self._screen.cursor.y)

    def lines(self, last: int | None = None) -> list[str]:
        """The screen as text lines without trailing blanks; trailing blank lines dropped.

        ``last`` keeps only the last N of those lines.
        """
        self._flush()
        text = [line.rstrip() for line in self._screen.display]
        while text and not text[-1]:
            text.pop()
        if last is not None:
            text = text[-last:] if last > 0 else []
        return text

    def redraw(self) -> bytes:
        """ANSI bytes that paint the current screen, cursor and modes on a fresh terminal."""
        self._flush()
        if self._tables is None:
            self._tables = _color_tables()
        fg_table, bg_table = self._tables
        screen = self._screen
        default = screen.default_char
        out: list[str] = ["\x1b[0m"]
        if self.modes.alt_screen:
            out.append("\x1b[?1049h")
        out.append("\x1b[H\x1b[2J")
        for y in range(self.rows):
            line = screen.buffer[y]
            used = [x for x, ch in line.items() if ch != default and x < self.cols]
            if not used:
                continue
            out.append(f"\x1b[{y + 1};1H")
            current = "\x1b[0m"
            for x in range(max(used) + 1):
                ch = line[x]
                if ch.data == "":
                    continue
                sgr = self._sgr(ch, fg_table, bg_table)
                if sgr != current:
                    out.append(sgr)
                    current = sgr
                out.append(ch.data)
            if current != "\x1b[0m":
                out.append("\x1b[0m")
        out.append(f"\x1b[{screen.cursor.y + 1};{screen.cursor.x + 1}H")
        return "".join(out).encode("utf-8", "replace") + self.modes.restore_sequence()

    @staticmethod
    def _sgr(ch: Any, fg_table: dict[str, int], bg_table: dict[str, int]) -> str:
        params = "0"
        if ch.bold:
            params += ";1"
        if ch.italics:
            params += ";3"
        if ch.underscore:
            params += ";4"
        if ch.blink:
            params += ";5"
        if ch.reverse:
            params += ";7"
        if ch.strikethrough:
            params += ";9"
        params += _color(ch.fg, fg_table, 38) + _color(ch.bg, bg_table, 48)
        return f"\x1b[{params}m"


class TextReplay:
    """Output bytes replayed through a terminal screen, read back as plain text lines.

    What a TUI places with cursor movement (the spaces between words, a line redrawn in
    place) comes out as it was seen, not as the bytes were written. Lines leave in order:
    :meth:`feed` returns those that scrolled off the top, :meth:`settled` those above the
    cursor not given out yet (for following a live log), :meth:`finish` the rest. Lines
    are right-stripped and hold no control characters (pyte consumes them).
    """

    def __init__(self, cols: int = 200, rows: int = 50) -> None:
        import pyte

        replay = self

        class _Screen(pyte.Screen):  # type: ignore[misc,unused-ignore]
            def index(self) -> None:
                top, bottom = self.margins or (0, self.lines - 1)
                if self.cursor.y == bottom and top == 0:
                    replay._scrolled(self.buffer[0])
                super().index()

        self._screen = _Screen(cols, rows)
        self._stream = pyte.ByteStream(self._screen)
        self._out: list[str] = []
        self._given = 0  # rows at the top of the screen already given out

    def _scrolled(self, line: Any) -> None:
        if self._given:
            self._given -= 1
            return
        cols = self._screen.columns
        self._out.append("".join(line[x].data for x in range(cols)).rstrip())

    def feed(self, data: bytes) -> list[str]:
        """Interpret ``data``; the lines that scrolled off the top meanwhile."""
        self._stream.feed(data)
        out, self._out = self._out, []
        return out

    def settled(self) -> list[str]:
        """Rows above the cursor's not given out yet (a redraw of them later is not seen)."""
        rows = self._screen.display[self._given : self._screen.cursor.y]
        self._given = max(self._given, self._screen.cursor.y)
        return [row.rstrip() for row in rows]

    def finish(self) -> list[str]:
        """The rows not given out yet, trailing blank rows dropped."""
        rows = [row.rstrip() for row in self._screen.display[self._given :]]
        while rows and not rows[-1]:
            rows.pop()
        self._given = self._screen.lines
        return rows
