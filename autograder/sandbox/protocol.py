"""The framing of the messages between the grader and a sandboxed process, with the limits the grader puts
on what it reads.

Every message is one JSON object on one line, followed by ``blob`` raw bytes when the line says
``"blob": n`` (NumPy arrays as an ``.npz`` archive, see ``plaindata.py``). What a sandboxed process writes
is untrusted: a line that is not a JSON object, nests deeper than :data:`MAX_MESSAGE_DEPTH`, grows beyond
:data:`MAX_MESSAGE_BYTES` or announces a blob over the reader's limit is *garbled*, and the reader says so
instead of reading on.

Both ends use this one definition: the grader imports it (:class:`Reader`, and :func:`encode` for its
commands), and ``runner.py``, which runs inside the sandbox where the ``autograder`` package is not
importable, loads this file by path from its own folder (``enter.py`` copies it there beside
``runner.py``). So it imports nothing from the ``autograder`` package (standard library only).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import time

MAX_MESSAGE_BYTES = 128 * 1024**2  # one result message (a cell's outputs); more is an attack
MAX_MESSAGE_DEPTH = 100  # nesting of one message (plain data nests at most 64 levels, plus the envelope)


def encode(message: dict, blob: bytes = b"") -> bytes:
    """One message as written on a pipe: its JSON line (saying the blob's size) followed by the blob."""
    if blob:
        message = {**message, "blob": len(blob)}
    return json.dumps(message).encode() + b"\n" + blob


class Garbled(ValueError):
    """A message line that is not a JSON object, nests too deep, or announces a blob it may not have."""


def decode(line: bytes, max_blob: int) -> tuple[dict, int]:
    """The message one line holds and the size of the blob that follows it.

    Args:
        line: the JSON line, as read (with or without its newline).
        max_blob: the largest blob the message may announce.

    Raises:
        Garbled: the line is not a JSON object, nests deeper than :data:`MAX_MESSAGE_DEPTH`, or its
            ``blob`` is not a count of at most ``max_blob`` bytes.
    """
    try:
        message = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:  # bad JSON, huge integers, nesting
        raise Garbled(f"not JSON: {error}") from None
    nested = line.count(b"[") + line.count(b"{") > MAX_MESSAGE_DEPTH  # cheap: could it be too deep?
    if not isinstance(message, dict) or (nested and deeper_than(message, MAX_MESSAGE_DEPTH)):
        raise Garbled(f"not a JSON object of at most {MAX_MESSAGE_DEPTH} levels")
    size = message.get("blob", 0)
    if type(size) is not int or not 0 <= size <= max_blob:
        raise Garbled(f"its blob size is not a count of at most {max_blob} bytes")
    return message, size


def deeper_than(value: object, limit: int) -> bool:
    """Whether a decoded JSON value nests deeper than ``limit`` (level by level, without recursion)."""
    level, depth = [value], 1
    while level:
        if depth > limit:
            return True
        deeper: list = []
        for item in level:
            children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
            deeper.extend(c for c in children if isinstance(c, (dict, list)))
        level, depth = deeper, depth + 1
    return False


class Reader:
    """Reads messages from a pipe written by a sandboxed process, never waiting past a deadline.

    Args:
        fd: the pipe's read end (closed by :meth:`close`).
        max_blob: the largest blob a message may announce.
    """

    def __init__(self, fd: int, max_blob: int) -> None:
        self.fd = fd
        self.max_blob = max_blob
        self._buffer = bytearray()
        self._selector = selectors.DefaultSelector()
        self._selector.register(fd, selectors.EVENT_READ)

    def _fill(self, size: int, deadline: float) -> bool:
        """Read until the buffer holds ``size`` bytes; False on deadline or end of pipe."""
        while len(self._buffer) < size:
            remaining = max(deadline - time.monotonic(), 0.0)  # 0: take only what is already there
            if not self._selector.select(timeout=remaining):
                return False
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                return False
            self._buffer += chunk
        return True

    def next(self, deadline: float) -> tuple[dict, bytes] | None:
        """The next message and its blob, or None when the deadline passed or the process closed the pipe.

        A message that is not a JSON object, or is larger than the limits, comes back as ``garbled``.
        """
        scanned = 0
        while (end := self._buffer.find(b"\n", scanned)) < 0:
            scanned = len(self._buffer)
            if scanned > MAX_MESSAGE_BYTES:
                return {
                    "event": "garbled"
                }, b""  # a flood on the result pipe must not fill the grader's memory
            if not self._fill(scanned + 1, deadline):
                return None
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        try:
            message, size = decode(line, self.max_blob)
        except Garbled:
            return {"event": "garbled"}, b""
        if size and not self._fill(size, deadline):
            return None
        blob = bytes(self._buffer[:size])
        del self._buffer[:size]
        return message, blob

    def close(self) -> None:
        """Stop watching the pipe and close it."""
        self._selector.close()
        with contextlib.suppress(OSError):
            os.close(self.fd)
