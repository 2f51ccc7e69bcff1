"""Unit tests of the session pieces that need no process: wire, modes, screen, keys, text."""

from __future__ import annotations

import pyte
import pytest

from wzp_supervisor.session import wire
from wzp_supervisor.session.attach import (
    ExitStatus,
    default_waiting_line,
    detach_sequences,
    parse_detach_key,
)
from wzp_supervisor.session.logfile import PlainFilter, strip_escapes
from wzp_supervisor.session.screen import ScreenModel
from wzp_supervisor.session.terminal_modes import ModeTracker


def test_frames_survive_any_split() -> None:
    frames = (
        wire.encode_json(wire.Frame.HELLO, {"mode": "attach", "cols": 80, "rows": 24})
        + wire.encode(wire.Frame.INPUT, b"ls\r")
        + wire.encode_size(100, 30)
        + wire.encode(wire.Frame.DETACH)
    )
    for step in (1, 2, 3, 7, len(frames)):
        decoder = wire.Decoder()
        got = []
        for i in range(0, len(frames), step):
            got += decoder.feed(frames[i : i + step])
        assert [k for k, _ in got] == [
            wire.Frame.HELLO, wire.Frame.INPUT, wire.Frame.RESIZE, wire.Frame.DETACH
        ]  # fmt: skip
        assert wire.decode_json(got[0][1]) == {"mode": "attach", "cols": 80, "rows": 24}
        assert got[1][1] == b"ls\r"
        assert wire.decode_size(got[2][1]) == (100, 30)
        assert not decoder.partial


def test_bad_frames_are_refused() -> None:
    with pytest.raises(wire.WireError):
        wire.Decoder().feed(b"\x7f\x00\x00\x00\x00")
    with pytest.raises(wire.WireError):
        wire.Decoder(max_payload=10).feed(wire.encode(wire.Frame.INPUT, b"x" * 11))
    with pytest.raises(wire.WireError):
        wire.decode_json(b"[1]")
    with pytest.raises(wire.WireError):
        wire.decode_size(b"\x00\x00\x00\x05")


def test_modes_tracked_across_chunks() -> None:
    modes = ModeTracker()
    assert not modes.bracketed_paste
    modes.scan(b"hello \x1b[?20")
    modes.scan(b"04h world")
    assert modes.bracketed_paste
    modes.scan(b"\x1b[?1;2004l\x1b[?1049h")
    assert not modes.bracketed_paste
    assert modes.alt_screen
    assert modes.restore_sequence() == b""
    modes.scan(b"\x1b[?2004h\x1b[?25l")
    assert modes.restore_sequence() == b"\x1b[?25l\x1b[?2004h"
    assert b"\x1b[?1049l" in modes.reset_sequence()
    modes.scan(b"\x1bc")
    assert not modes.bracketed_paste and not modes.alt_screen


def test_redraw_reproduces_the_screen() -> None:
    model = ScreenModel(40, 8)
    model.feed(b"plain line\r\n\x1b[1;31mbold red\x1b[0m and \x1b[38;5;208morange\x1b[0m\r\n")
    model.feed(b"\x1b[44mblue bg\x1b[0m wide:\xe4\xb8\xad\xe6\x96\x87 end\r\n\x1b[5;10Hat 5,10")
    model.feed(b"\x1b[?2004h")
    replica = pyte.Screen(40, 8)
    pyte.ByteStream(replica).feed(model.redraw())
    assert replica.display == model._screen.display
    assert (replica.cursor.x, replica.cursor.y) == model.cursor()
    for y in range(8):
        for x in range(40):
            assert replica.buffer[y][x] == model._screen.buffer[y][x], (x, y)
    assert model.redraw().endswith(b"\x1b[?2004h")


def test_screen_lines_and_tail_bound() -> None:
    model = ScreenModel(20, 5, tail=1024)
    for i in range(5000):
        model.feed(b"line %d\r\n" % i)
    assert model.lines() == ["line 4996", "line 4997", "line 4998", "line 4999"]
    assert model.lines(2) == ["line 4998", "line 4999"]
    assert model.lines(0) == []
    model.resize(30, 3)
    assert model.lines() == ["line 4998", "line 4999"]


def test_detach_keys() -> None:
    assert parse_detach_key("ctrl+]") == 0x1D
    assert parse_detach_key("C-q") == 0x11
    assert parse_detach_key("^Q") == 0x11
    assert parse_detach_key("0x1c") == 0x1C
    assert parse_detach_key("none") is None
    with pytest.raises(ValueError):
        parse_detach_key("ctrl+shift+x")
    assert detach_sequences(0x1D) == (b"\x1d", b"\x1b[93;5u", b"\x1b[27;5;93~")


def test_waiting_line() -> None:
    line = default_waiting_line("demo/agent-1", ExitStatus(code=1, signal=None))
    assert line == "agent-1 exited (code 1); waiting for restart…"
    assert "signal 9 (SIGKILL)" in default_waiting_line("d/a", ExitStatus(None, 9))


def test_strip_escapes() -> None:
    raw = "\x1b]0;title\x07\x1b[1;32mgreen\x1b[0m\r\nspin 1\rspin 2\r\n\x1b(Bdone\x1b[?25h\ttab"
    assert strip_escapes(raw) == "green\nspin 2\ndone\ttab"


def test_plain_filter_waits_for_whole_lines() -> None:
    plain = PlainFilter()
    assert plain.feed(b"\x1b[31mre") == ""
    assert plain.feed(b"d\x1b[0m\r\nnext") == "red\n"
    assert plain.finish() == "next"
