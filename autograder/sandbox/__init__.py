"""How a submission's code is isolated and limited: one fresh process group per submission.

This is the lowest layer that runs student code. :func:`start` launches ``runner.py`` (see its docstring
for the protocol) in its own session and process group, with

* a fresh temporary working folder holding nothing but what the caller puts there, and a private HOME;
* a minimal environment (``PATH``, locale, and the variables named in the configuration);
* rlimits: CPU seconds, address space, file size and (where the OS enforces it) number of processes;
* a hard wall-clock limit per cell and per submission, enforced from here by ``SIGKILL`` to the whole
  process group, so code that ignores ``SIGINT`` (or spawns children) still costs at most the limit.

A process can be started before its job is known (:func:`start` then :meth:`Runner.run`), which lets a
worker keep one warm process ready while it finishes the previous submission. A later sandbox (containers,
seccomp, verdicts computed outside the student's process) replaces this module without touching the
pipeline: the pipeline only sees :class:`Execution`.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

RUNNER = Path(__file__).with_name("runner.py")
_BASE_ENV = ("PATH", "LANG", "LC_ALL", "TZ")


@dataclass(frozen=True)
class Limits:
    """Resource limits for one submission (see ``autograder.config`` for where they come from)."""

    cell_timeout: float = 60.0
    submission_timeout: float = 600.0
    memory_bytes: int = 8 * 1024**3
    file_bytes: int = 256 * 1024**2
    max_processes: int = 4096
    startup_timeout: float = 60.0


@dataclass
class Execution:
    """What happened when a notebook's code cells ran.

    Attributes:
        outputs: nbformat output dicts per executed cell index.
        execution_counts: execution count per executed cell index.
        status: ``"finished"``, ``"cell-timeout"``, ``"submission-timeout"`` or ``"died"``.
        stopped_at: index of the cell that was running when execution stopped early, if any.
        detail: human-readable explanation when ``status`` is not ``"finished"``.
        seconds: wall time from the job being sent to the end.
    """

    outputs: dict[int, list[dict]] = field(default_factory=dict)
    execution_counts: dict[int, int] = field(default_factory=dict)
    status: str = "finished"
    stopped_at: int | None = None
    detail: str = ""
    seconds: float = 0.0


def die_with_parent() -> None:
    """Ask Linux to SIGKILL the calling process when its parent dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _preexec(limits: Limits) -> None:
    die_with_parent()
    cpu = int(limits.submission_timeout * max(os.cpu_count() or 1, 1) + 60)
    for kind, value in (
        (resource.RLIMIT_CPU, cpu),
        (resource.RLIMIT_AS, limits.memory_bytes),
        (resource.RLIMIT_FSIZE, limits.file_bytes),
        (resource.RLIMIT_NPROC, limits.max_processes),
        (resource.RLIMIT_CORE, 0),
    ):
        _soft, hard = resource.getrlimit(kind)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(kind, (value, hard))


class Runner:
    """A started sandbox process waiting for its job."""

    def __init__(self, *, limits: Limits, env_passthrough: tuple[str, ...], preload: tuple[str, ...]) -> None:
        self.limits = limits
        self.workdir = Path(tempfile.mkdtemp(prefix="autograder-"))
        home = self.workdir / ".home"
        home.mkdir()
        env = {key: os.environ[key] for key in (*_BASE_ENV, *env_passthrough) if key in os.environ}
        env.update(
            HOME=str(home),
            IPYTHONDIR=str(home / ".ipython"),
            MPLCONFIGDIR=str(home / ".matplotlib"),
            MPLBACKEND="module://matplotlib_inline.backend_inline",
            PYTHONDONTWRITEBYTECODE="1",
            PYTHONUNBUFFERED="1",
            AUTOGRADER_PRELOAD=",".join(preload),
        )
        read_fd, write_fd = os.pipe()
        env["AUTOGRADER_FD"] = str(write_fd)
        self._log = open(self.workdir / ".runner.log", "wb")
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-s", str(RUNNER)],
                cwd=self.workdir,
                env=env,
                stdin=subprocess.PIPE,
                stdout=self._log,
                stderr=self._log,
                pass_fds=(write_fd,),
                start_new_session=True,
                preexec_fn=lambda: _preexec(limits),
            )
        finally:
            os.close(write_fd)
        self._read_fd = read_fd
        self._buffer = b""
        self._selector = selectors.DefaultSelector()
        self._selector.register(read_fd, selectors.EVENT_READ)

    def _next_message(self, deadline: float) -> dict | None:
        """The next protocol message, or None when the deadline passed or the process closed the pipe."""
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._selector.select(timeout=remaining):
                return None
            chunk = os.read(self._read_fd, 1 << 16)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            return {"event": "garbled"}

    def run(self, cells: list[tuple[int, str]]) -> Execution:
        """Run code cells ``(index, source)`` in order, enforcing the limits, then stop the process.

        Args:
            cells: the code cells to execute, with their notebook indices.

        Returns:
            The outputs of every cell that finished and how execution ended.
        """
        result = Execution()
        start = time.monotonic()
        try:
            ready = self._next_message(start + self.limits.startup_timeout)
            if ready is None or ready.get("event") != "ready":
                result.status, result.detail = (
                    "died",
                    "the grading process did not start: " + self._log_tail(),
                )
                return result
            job = {"cells": [{"index": index, "source": source} for index, source in cells]}
            start = time.monotonic()
            try:
                assert self.process.stdin is not None
                self.process.stdin.write((json.dumps(job) + "\n").encode())
                self.process.stdin.close()
            except BrokenPipeError:
                result.status, result.detail = "died", "the grading process exited before its job was sent"
                return result
            submission_deadline = start + self.limits.submission_timeout
            current: int | None = None
            cell_deadline = submission_deadline
            while True:
                message = self._next_message(min(cell_deadline, submission_deadline))
                now = time.monotonic()
                if message is None:
                    result.stopped_at = current
                    if now >= submission_deadline:
                        result.status = "submission-timeout"
                        limit = self.limits.submission_timeout
                        result.detail = f"the notebook exceeded the {limit:g} s limit per submission"
                    elif now >= cell_deadline:
                        result.status = "cell-timeout"
                        result.detail = f"a cell exceeded the {self.limits.cell_timeout:g} s limit per cell"
                    else:
                        result.status = "died"
                        result.detail = self._death_detail()
                    break
                event = message.get("event")
                if event == "start":
                    current = int(message["index"])
                    cell_deadline = now + self.limits.cell_timeout
                elif event == "done":
                    index = int(message["index"])
                    result.outputs[index] = list(message.get("outputs", []))
                    result.execution_counts[index] = int(message.get("execution_count") or 0)
                    current, cell_deadline = None, submission_deadline
                elif event == "finished":
                    break
                else:
                    result.status, result.stopped_at = "died", current
                    result.detail = "the grading process wrote something unreadable on its result channel"
                    break
            return result
        finally:
            result.seconds = time.monotonic() - start
            self.close()

    def _death_detail(self) -> str:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "the grading process closed its result channel"
        if code < 0:
            name = signal.Signals(-code).name
            hint = (
                " (CPU time limit)" if name == "SIGXCPU" else " (memory limit?)" if name == "SIGKILL" else ""
            )
            return f"the notebook's process was killed by {name}{hint}"
        return f"the notebook's process exited with code {code}"

    def _log_tail(self) -> str:
        self._log.flush()
        text = (self.workdir / ".runner.log").read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-3:]) or "no output"

    def close(self) -> None:
        """Kill the whole process group (whatever it spawned) and remove the working folder."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        if self.process.stdin and not self.process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()
        self._selector.close()
        with contextlib.suppress(OSError):
            os.close(self._read_fd)
        self._log.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start(*, limits: Limits, env_passthrough: tuple[str, ...] = (), preload: tuple[str, ...] = ()) -> Runner:
    """Start a sandboxed runner process that warms up and waits for its job.

    Args:
        limits: resource and time limits.
        env_passthrough: names of environment variables copied from this process.
        preload: modules imported before the job arrives (e.g. ``numpy``).

    Returns:
        The waiting runner; call :meth:`Runner.run` exactly once.
    """
    return Runner(limits=limits, env_passthrough=env_passthrough, preload=preload)
