"""The framed protocol spoken on a session holder's Unix socket.

Every frame is a 5-byte header, ``type`` (1 byte) and ``length`` (4 bytes, big-endian,
unsigned), followed by ``length`` bytes of payload. Payloads are raw bytes for terminal data,
UTF-8 JSON objects for control frames, and ``>HH`` (cols, rows) for RESIZE.

Client → holder:

* ``HELLO`` (JSON) must be the first frame: ``{"mode": "attach"|"peek"|"send"|"info", ...}``.
  ``attach``: ``cols``, ``rows`` (the attacher's size). ``peek``: ``lines`` (optional int, the
  last N non-blank lines). ``send``: ``text`` (str), ``enter`` (bool), ``enter_delay`` (float
  seconds between the text and the Enter key, default 0.1).
* ``INPUT`` (bytes): keys typed by an attacher.
* ``RESIZE`` (``>HH``): the attacher's terminal changed size.
* ``DETACH`` (empty): the attacher leaves; the holder closes the connection.

Holder → client:

* ``REDRAW`` (bytes): ANSI text that paints the current screen; first frame after an attach.
* ``OUTPUT`` (bytes): the program's output, live.
* ``EXIT`` (JSON): ``{"code": int|null, "signal": int|null}``; the program ended and the holder
  is about to close the connection and exit with the same status.
* ``INFO`` (JSON): the single reply to ``peek``/``send``/``info`` (then the holder closes);
  the ``info`` reply is described in ``holder``.
* ``ERROR`` (JSON): ``{"message": str}``; a refused request (then the holder closes).

A holder checks every field by type and range and answers a bad frame with ERROR: ``cols``
1..``MAX_COLS`` and ``rows`` 1..``MAX_ROWS`` (0 in an attach HELLO: size unknown), ``lines``
0..``MAX_PEEK_LINES``, ``enter_delay`` 0..10 s, client frames of at most
``MAX_CLIENT_FRAME`` bytes, and at most 1 MiB of input waiting for a program that does not
read it.

A holder drops an attacher that stays too far behind; it closes the connection without an EXIT
frame, and the attach client reconnects and gets a fresh REDRAW.
"""

from __future__ import annotations

import json
import socket
import struct
from enum import IntEnum
from typing import Any

HEADER = struct.Struct(">BI")
SIZE = struct.Struct(">HH")
MAX_PAYLOAD = 32 * 1024 * 1024
MAX_CLIENT_FRAME = 1024 * 1024  # the largest frame a holder accepts from a client
MAX_COLS = 1000  # the largest screen a holder keeps
MAX_ROWS = 500
MAX_PEEK_LINES = 10000
PROTOCOL_VERSION = 1  # the ``protocol`` of an ``info`` reply; bumped on incompatible change


class Frame(IntEnum):
    """Frame types."""

    HELLO = 0x01
    INPUT = 0x02
    RESIZE = 0x03
    DETACH = 0x04
    REDRAW = 0x11
    OUTPUT = 0x12
    EXIT = 0x13
    INFO = 0x14
    ERROR = 0x15


_KNOWN = frozenset(int(f) for f in Frame)


class WireError(Exception):
    """A malformed frame or a connection that ended mid-frame."""


def encode(kind: Frame, payload: bytes = b"") -> bytes:
    """One frame as bytes."""
    return HEADER.pack(kind, len(payload)) + payload


def encode_json(kind: Frame, obj: dict[str, Any]) -> bytes:
    """A frame whose payload is ``obj`` as compact UTF-8 JSON."""
    return encode(kind, json.dumps(obj, separators=(",", ":")).encode())


def encode_size(cols: int, rows: int) -> bytes:
    """A RESIZE frame."""
    return encode(Frame.RESIZE, SIZE.pack(cols, rows))


def decode_size(payload: bytes) -> tuple[int, int]:
    """(cols, rows) of a RESIZE payload."""
    if len(payload) != SIZE.size:
        raise WireError("bad RESIZE payload")
    cols, rows = SIZE.unpack(payload)
    if cols < 1 or rows < 1:
        raise WireError("bad RESIZE size")
    return cols, rows


def decode_json(payload: bytes) -> dict[str, Any]:
    """The JSON object of a control frame (its fields are for the receiver to check)."""
    try:
        obj = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"bad JSON payload: {exc}") from None
    if not isinstance(obj, dict):
        raise WireError("JSON payload is not an object")
    return obj


class Decoder:
    """Incremental frame parser: feed received bytes, get complete frames."""

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self._buf = bytearray()
        self._max = max_payload

    def feed(self, data: bytes) -> list[tuple[Frame, bytes]]:
        """Add ``data`` and return every frame now complete, in order."""
        buf = self._buf
        buf += data
        frames: list[tuple[Frame, bytes]] = []
        pos = 0
        end = len(buf)
        while end - pos >= HEADER.size:
            kind, length = HEADER.unpack_from(buf, pos)
            if kind not in _KNOWN:
                raise WireError(f"unknown frame type {kind:#x}")
            if length > self._max:
                raise WireError(f"frame of {length} bytes exceeds {self._max}")
            start = pos + HEADER.size
            if end - start < length:
                break
            frames.append((Frame(kind), bytes(buf[start : start + length])))
            pos = start + length
        if pos:
            del buf[:pos]
        return frames

    @property
    def partial(self) -> bool:
        """Whether bytes of an incomplete frame are buffered."""
        return bool(self._buf)


def read_frame(
    sock: socket.socket, decoder: Decoder, backlog: list[tuple[Frame, bytes]]
) -> tuple[Frame, bytes] | None:
    """Block until one frame arrives on ``sock``; None at a clean end of stream.

    ``backlog`` holds frames already decoded but not yet returned; it is shared between calls.
    """
    while not backlog:
        data = sock.recv(262144)
        if not data:
            if decoder.partial:
                raise WireError("connection closed mid-frame")
            return None
        backlog.extend(decoder.feed(data))
    return backlog.pop(0)
