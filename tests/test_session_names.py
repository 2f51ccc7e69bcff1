"""Per-pane file names: two different panes never share a socket, a log or a session file."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.session_support import SessionEnv, session_env, wait_for
from tests.test_session_holder import RECORDER
from wzp_supervisor import paths
from wzp_supervisor.session import control

NAMES = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,62}", fullmatch=True)
ANY = st.text(min_size=0, max_size=70)


@pytest.fixture
def senv(monkeypatch: pytest.MonkeyPatch) -> Iterator[SessionEnv]:
    yield from session_env(monkeypatch)


def test_dashes_do_not_make_two_panes_share_a_holder(senv: SessionEnv) -> None:
    assert paths.session_socket("a", "b--c") != paths.session_socket("a--b", "c")
    one, two = senv.root / "one", senv.root / "two"
    senv.start_holder("a/b--c", [sys.executable, "-c", RECORDER, str(one), "plain"])
    senv.start_holder("a--b/c", [sys.executable, "-c", RECORDER, str(two), "plain"])
    senv.wait_screen("a/b--c", "READY")
    senv.wait_screen("a--b/c", "READY")
    assert control.info(senv.socket("a/b--c"))["target"] == "a/b--c"
    assert control.info(senv.socket("a--b/c"))["target"] == "a--b/c"
    control.send_text(senv.socket("a/b--c"), "for-one")
    control.send_text(senv.socket("a--b/c"), "for-two")
    wait_for(lambda: one.exists() and one.read_bytes() == b"for-one", "the first text")
    wait_for(lambda: two.exists() and two.read_bytes() == b"for-two", "the second text")


@example(("a", "b--c"), ("a--b", "c"))
@given(st.tuples(NAMES, NAMES), st.tuples(NAMES, NAMES))
def test_valid_names_give_distinct_short_paths(
    first: tuple[str, str], second: tuple[str, str]
) -> None:
    for derive in (paths.session_socket, paths.pane_log, paths.session_id_file):
        if first != second:
            assert derive(*first) != derive(*second), derive.__name__
    assert len(os.fsencode(paths.session_socket(*first))) <= 100


@example(("..", "x"), ("y", "x"))
@example(("a/b", "c"), ("a", "b/c"))
@example(("", "x"), ("x", ""))
@example(("a.b", "c"), ("a", "b.c"))
@example(("a%2f", "c"), ("a/", "c"))
@given(st.tuples(ANY, ANY), st.tuples(ANY, ANY))
def test_any_strings_give_distinct_paths_inside_their_dirs(
    first: tuple[str, str], second: tuple[str, str]
) -> None:
    for derive, base in (
        (paths.session_socket, paths.runtime_base() / "s"),
        (paths.pane_log, paths.logs_dir()),
        (paths.session_id_file, paths.state_dir() / "sessions"),
    ):
        path = derive(*first)
        assert os.path.normpath(path) == str(path), (derive.__name__, path)
        assert Path(os.path.normpath(path)).is_relative_to(base), (derive.__name__, path)
        if first != second:
            assert path != derive(*second), derive.__name__


def test_valid_names_keep_their_readable_files() -> None:
    assert paths.pane_log("ws", "agent-1") == paths.logs_dir() / "ws" / "agent-1.log"
    assert paths.session_id_file("ws", "agent-1") == (
        paths.state_dir() / "sessions" / "ws" / "agent-1.id"
    )
    assert paths.session_socket("ws", "agent-1").name.startswith("ws")
