"""The program that runs inside the sandboxed process: executes code cells like a Jupyter kernel would.

It is started by :mod:`autograder.sandbox` with a fresh working folder as its current directory and
speaks a line-based JSON protocol on the pipe whose descriptor is in ``AUTOGRADER_FD``:

* it writes ``{"event": "ready"}`` once its warm-up imports are done, then reads one job (a JSON object
  ``{"cells": [{"index": i, "source": "..."}, ...]}``) from standard input;
* for every cell it writes ``{"event": "start", "index": i}`` and, once the cell finished,
  ``{"event": "done", "index": i, "outputs": [...], "execution_count": n}`` with nbformat v4 outputs.

Cells run in one IPython ``InteractiveShell`` (magics, ``%matplotlib inline`` and rich display work as in a
kernel) without the ZeroMQ kernel machinery, which is what makes a submission cheap to start. An
exception in a cell becomes an ``error`` output and execution goes on with the next cell, exactly like
nbgrader's ``allow_errors`` execution. Time limits are enforced from outside (the parent kills the whole
process group), so nothing here has to cooperate with them.

This file imports nothing from the ``autograder`` package on purpose: the sandbox runs it by path.
"""

from __future__ import annotations

import json
import os
import sys

_STREAM_CAP = 200_000  # characters kept per stream per cell; the parent's limit-output step trims further


class _Recorder:
    """Collects the outputs of the cell that is running."""

    def __init__(self) -> None:
        self.outputs: list[dict] = []
        self.stream_chars = {"stdout": 0, "stderr": 0}

    def reset(self) -> None:
        self.outputs = []
        self.stream_chars = {"stdout": 0, "stderr": 0}

    def stream(self, name: str, text: str) -> None:
        room = _STREAM_CAP - self.stream_chars[name]
        if room <= 0:
            return
        if len(text) > room:
            text = text[:room] + f"\n[... {name} truncated by the autograder ...]\n"
        self.stream_chars[name] += len(text)
        last = self.outputs[-1] if self.outputs else None
        if last is not None and last["output_type"] == "stream" and last["name"] == name:
            last["text"] += text
        else:
            self.outputs.append({"output_type": "stream", "name": name, "text": text})


RECORDER = _Recorder()


class _Stream:
    """A text file object that records what is written to it as a stream output."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, name: str) -> None:
        self.name = name

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        RECORDER.stream(self.name, text)
        return len(text)

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return 1 if self.name == "stdout" else 2


def _jsonable(data: dict) -> dict:
    return {key: value for key, value in data.items() if isinstance(value, (str, dict, list))}


def _make_shell():
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    class Hook(DisplayHook):
        def start_displayhook(self) -> None:
            self._pending = None

        def write_output_prompt(self) -> None:
            pass

        def write_format_data(self, format_dict, md_dict=None) -> None:
            self._pending = (format_dict, md_dict or {})

        def finish_displayhook(self) -> None:
            if self._pending is not None:
                data, metadata = self._pending
                RECORDER.outputs.append(
                    {
                        "output_type": "execute_result",
                        "data": _jsonable(data),
                        "metadata": metadata,
                        "execution_count": self.shell.execution_count,
                    }
                )
            self._pending = None

    class Publisher(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kw) -> None:
            RECORDER.outputs.append(
                {"output_type": "display_data", "data": _jsonable(data), "metadata": metadata or {}}
            )

        def clear_output(self, wait: bool = False) -> None:
            RECORDER.reset()

    class Shell(InteractiveShell):
        displayhook_class = Hook
        display_pub_class = Publisher

        def enable_gui(self, gui=None) -> None:
            pass

        def _showtraceback(self, etype, evalue, stb) -> None:
            RECORDER.outputs.append(
                {
                    "output_type": "error",
                    "ename": getattr(etype, "__name__", str(etype)),
                    "evalue": str(evalue),
                    "traceback": list(stb),
                }
            )

    shell = Shell.instance(colors="NoColor", history_length=0, cache_size=0)
    shell.history_manager.enabled = False
    return shell


def main() -> None:
    """Warm up, read one job from stdin, run its cells and report each on the protocol pipe."""
    protocol = os.fdopen(int(os.environ.pop("AUTOGRADER_FD")), "w", buffering=1, encoding="utf-8")

    def send(message: dict) -> None:
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()

    # The runner's own folder must not shadow student imports; a kernel puts the working folder first.
    sys.path[0] = ""
    for module in filter(None, os.environ.pop("AUTOGRADER_PRELOAD", "").split(",")):
        __import__(module)
    shell = _make_shell()
    send({"event": "ready"})
    # From here on, what reaches the raw descriptors 1 and 2 (os.write, C libraries) is discarded: output
    # is recorded through sys.stdout/sys.stderr, and a flood must not grow the grader's log file.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)

    job = json.loads(sys.stdin.readline())
    sys.stdin.close()
    sys.stdin = open(os.devnull, encoding="utf-8")
    sys.stdout, sys.stderr = _Stream("stdout"), _Stream("stderr")
    for cell in job["cells"]:
        RECORDER.reset()
        send({"event": "start", "index": cell["index"]})
        shell.run_cell(cell["source"], store_history=True)
        send(
            {
                "event": "done",
                "index": cell["index"],
                "outputs": RECORDER.outputs,
                "execution_count": shell.execution_count - 1,
            }
        )
    send({"event": "finished"})


if __name__ == "__main__":
    main()
