"""The message framing between the grader and a sandboxed process (autograder/sandbox/protocol.py).

Both ends use the one definition: the grader imports it (``Runner.send`` encodes with it, ``Reader``
decodes what a sandbox writes), and ``runner.py``, which imports nothing from the ``autograder`` package,
loads the same file by path. What a sandboxed process writes is untrusted: anything that breaks the framing
or the limits must come back as ``garbled`` (the grader then stops that process) and never hang or flood
the grader.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from types import ModuleType

import pytest

from autograder.sandbox import protocol, runner

MAX_BLOB = 1024
GARBLED = ({"event": "garbled"}, b"")
Ends = tuple[
    int, runner._Channel, protocol.Reader
]  # command pipe's write end, runner's channel, grader's reader


@pytest.fixture(scope="module")
def runner_protocol() -> ModuleType:
    """protocol.py as the sandboxed runner loads it: by path, outside the ``autograder`` package."""
    return runner._load_beside("protocol")


@pytest.fixture
def ends(runner_protocol: ModuleType) -> Iterator[Ends]:
    """Both ends of a sandbox's two pipes: the grader's command pipe (the descriptor it writes), the
    runner's channel reading it and writing events, and the grader's reader of those events."""
    command_read, command_write = os.pipe()
    event_read, event_write = os.pipe()
    channel = runner._Channel(runner_protocol, event_write, command_read)
    reader = protocol.Reader(event_read, MAX_BLOB)
    yield command_write, channel, reader
    channel.inp.close()
    channel.out.close()
    os.close(command_write)
    reader.close()


def _read(data: bytes, max_blob: int = MAX_BLOB) -> tuple[dict, bytes] | None:
    """What the grader's reader makes of ``data`` written by a sandbox that then closed its end."""
    read_fd, write_fd = os.pipe()

    def write() -> None:
        with contextlib.suppress(BrokenPipeError):  # the reader stopped early: the point of some tests
            os.write(write_fd, data)
        os.close(write_fd)

    writer = threading.Thread(target=write)
    writer.start()
    reader = protocol.Reader(read_fd, max_blob)
    try:
        return reader.next(time.monotonic() + 10)
    finally:
        reader.close()
        writer.join()


def test_the_runner_loads_the_very_file_the_grader_imports(runner_protocol: ModuleType) -> None:
    assert runner_protocol.__file__ == protocol.__file__


def test_a_command_and_its_blob_reach_the_runner_intact(ends: Ends) -> None:
    write_fd, channel, _ = ends
    blob = bytes(range(256)) * 3  # a blob may hold newlines and any byte
    os.write(write_fd, protocol.encode({"op": "call", "id": 1, "args": {"x": [1.5, None]}}, blob))
    os.write(write_fd, protocol.encode({"op": "end"}))
    assert channel.receive() == ({"op": "call", "id": 1, "args": {"x": [1.5, None]}, "blob": 768}, blob)
    assert channel.receive() == ({"op": "end"}, b"")


def test_an_answer_and_its_blob_reach_the_grader_intact(ends: Ends) -> None:
    _, channel, reader = ends
    channel.send({"event": "reply", "id": 2, "value": "é\n"}, b"\n\x00npz")
    channel.send({"event": "ready"})
    deadline = time.monotonic() + 10
    assert reader.next(deadline) == ({"event": "reply", "id": 2, "value": "é\n", "blob": 5}, b"\n\x00npz")
    assert reader.next(deadline) == ({"event": "ready"}, b"")


def test_a_message_over_the_size_limit_is_garbled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(protocol, "MAX_MESSAGE_BYTES", 64 * 1024)
    assert _read(b'{"event": "done", "outputs": "' + b"x" * 200_000 + b'"}\n') == GARBLED


def test_a_message_at_the_size_limit_still_arrives(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(protocol, "MAX_MESSAGE_BYTES", 64 * 1024)
    line = b'{"event": "done", "text": "' + b"x" * (64 * 1024 - 40) + b'"}\n'
    assert _read(line) == ({"event": "done", "text": "x" * (64 * 1024 - 40)}, b"")


def test_a_message_nested_too_deep_is_garbled_and_one_at_the_limit_is_not() -> None:
    def nested(depth: int) -> bytes:
        return b'{"event": "reply", "value": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}\n"

    assert _read(nested(protocol.MAX_MESSAGE_DEPTH + 1)) == GARBLED
    message = _read(nested(protocol.MAX_MESSAGE_DEPTH))
    assert message is not None and message[0]["event"] == "reply"


@pytest.mark.parametrize("size", ["10", 1.5, True, -1, None, MAX_BLOB + 1])
def test_a_blob_size_that_is_not_a_small_count_is_garbled(size: object) -> None:
    assert _read(protocol.encode({"event": "reply", "blob": size}) + b"x" * 16) == GARBLED


def test_a_blob_shorter_than_announced_is_a_closed_pipe_not_a_message() -> None:
    assert _read(b'{"event": "reply", "blob": 10}\nabc') is None


@pytest.mark.parametrize(
    "line",
    [
        b"not json",
        b"[1, 2]",
        b'"ready"',
        b'{"event": "\xff"}',
        b'{"n": ' + b"1" * 10_000 + b"}",
        b'{"a": 1',
        b"",
    ],
    ids=["text", "list", "string", "not-utf8", "huge-integer", "unfinished", "empty"],
)
def test_garbage_is_garbled(line: bytes) -> None:
    assert _read(line + b"\n") == GARBLED


def test_garbage_does_not_pass_the_runners_end_either(ends: Ends, runner_protocol: ModuleType) -> None:
    write_fd, channel, _ = ends
    os.write(write_fd, b"[1, 2]\n")
    with pytest.raises(runner_protocol.Garbled):
        channel.receive()
