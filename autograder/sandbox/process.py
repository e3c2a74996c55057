"""Starting and stopping one sandboxed process (:class:`Runner`, :func:`start`) and talking to it.

A :class:`Runner` is the grader's end of one sandbox: the student's notebook (``role="student"``) or the
verifier of its tests. It starts ``runner.py`` behind the layers :mod:`autograder.sandbox.isolation` sets
up, sends it commands and reads its answers through :mod:`autograder.sandbox.protocol`, and kills the whole
process group when done. What to run in which process is :mod:`autograder.sandbox.orchestration`'s.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from autograder.sandbox import cgroups, protocol
from autograder.sandbox import isolation as layers
from autograder.sandbox.forkserver import ForkedProcess, ForkServer
from autograder.sandbox.isolation import (
    BINDING,
    RUNNER,
    UNFILTERED_BENCHMARK,
    WORKDIR_PREFIX,
    Isolation,
    Limits,
    Mode,
    Role,
)

if TYPE_CHECKING:
    from autograder.sandbox.orchestration import Execution

STRICT = Isolation()  # the default isolation: strict, the system and Python only


@functools.cache
def _note_once(text: str) -> None:
    print(text, file=sys.stderr)


class ExecutionStatus(StrEnum):
    """How a notebook's execution ended (:class:`~autograder.sandbox.orchestration.Execution`); equal to its
    name as a string, which is how results and their JSON spell it."""

    FINISHED = "finished"
    CELL_TIMEOUT = "cell-timeout"
    SUBMISSION_TIMEOUT = "submission-timeout"
    DIED = "died"  # the notebook's process stopped: the notebook's fault
    SANDBOX_ERROR = "sandbox-error"  # the grading machinery failed: nothing to score


class Stop(Exception):
    """Execution ends early: ``status`` and ``detail`` as in :class:`Execution`.

    ``"sandbox-error"`` is a failure of the grading machinery, not of the notebook: a sandbox that did not
    start, the verifier's set-up failing, or the verifier process dying. The submission is then *failed*
    with the reason (never a silent zero).
    """

    def __init__(self, status: ExecutionStatus, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


GARBLED = (
    "the notebook's code wrote something unreadable on the grader's result channel (a private pipe), so "
    "its execution was stopped"
)


class Runner:
    """A started sandbox process: the student's notebook (``role="student"``) or the verifier of its tests."""

    def __init__(
        self,
        *,
        limits: Limits,
        env_passthrough: tuple[str, ...],
        preload: tuple[str, ...],
        isolation: Isolation = STRICT,
        role: Role | str = Role.STUDENT,
        nbgrader_execution: str = "autograde",
        threads: int | None = None,
        fork_server: ForkServer | None = None,
    ) -> None:
        role = Role(role)
        limits = limits.for_role(role)
        self.limits = limits
        self.role = role
        self.prefix = layers.resolve(isolation)
        binding = layers.syscall_filter(isolation)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))
        self.cgroup: cgroups.Cgroup | None = None
        if isolation.mode != Mode.OFF:
            self.cgroup, why = cgroups.create(limits.resident_cap, limits.max_processes)
            if self.cgroup is None:
                _note_once(
                    f"note: autograder: {why}; memory and process limits apply per process (rlimits), "
                    "not to a sandbox as a whole"
                )
        home = self.workdir / ".home"
        home.mkdir()
        env = layers.environment(home, env_passthrough, nbgrader_execution, threads)
        read_fd, write_fd = os.pipe()
        self._log = open(self.workdir / ".runner.log", "wb")
        if isolation.mode != Mode.OFF and binding is None and role == Role.STUDENT:
            why = layers.probe_filter()[1] or f"{UNFILTERED_BENCHMARK} is set"
            print(
                f"WARNING: autograder: student code runs WITHOUT the system-call filter ({why}); it can "
                "create user namespaces and reach bpf, io_uring, keyrings and other kernel interfaces.",
                file=sys.stderr,
            )
        # A fork server starts namespace sandboxes only; without namespaces the runner starts the plain way.
        self.fork_server = fork_server if self.prefix is not None else None
        self.process: subprocess.Popen | ForkedProcess
        try:
            if self.fork_server is not None:
                as_root = not self.fork_server.user_namespace
                self.process = self.fork_server.spawn(
                    role=role,
                    env=env,
                    workdir=self.workdir,
                    spec=layers.namespace_spec(self.workdir, isolation.expose, limits, as_root, binding),
                    limits=limits,
                    cgroup=self.cgroup,
                    events_fd=write_fd,
                    log_fd=self._log.fileno(),
                    startup_timeout=limits.startup_timeout,
                )
            else:
                env.update(AUTOGRADER_PRELOAD=",".join(preload), AUTOGRADER_ROLE=role.value)
                env["AUTOGRADER_FD"] = str(write_fd)
                self.process = self._popen(isolation, limits, binding, env, write_fd)
        except BaseException:
            os.close(read_fd)
            self._log.close()
            if self.cgroup is not None:
                self.cgroup.remove()
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise
        finally:
            os.close(write_fd)
        self._reader = protocol.Reader(read_fd, limits.transfer_bytes)
        self._ready = False

    def _popen(
        self, isolation: Isolation, limits: Limits, binding: str | None, env: dict[str, str], write_fd: int
    ) -> subprocess.Popen:
        """Start the sandbox the plain way: ``enter.py`` in fresh namespaces, or the runner without them."""
        seccomp = None
        if self.prefix is None:
            command = [sys.executable, "-s", str(RUNNER)]
            if isolation.mode == Mode.WARN and self.role == Role.STUDENT:
                print(
                    "WARNING: autograder: student code runs WITHOUT a sandbox (no namespaces: "
                    f"{layers.probe()[1]}); it can read solutions/, other submissions and the network.",
                    file=sys.stderr,
                )
            if binding is not None:
                seccomp = importlib.import_module(BINDING)  # installed by preexec, just before the runner
        else:
            as_root = "--user" not in self.prefix
            spec = layers.namespace_spec(self.workdir, isolation.expose, limits, as_root, binding)
            command = [*self.prefix, json.dumps(spec)]
        cgroup = self.cgroup
        return subprocess.Popen(
            command,
            cwd=self.workdir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=self._log,
            pass_fds=(write_fd,),
            start_new_session=True,
            preexec_fn=lambda: layers.preexec(limits, cgroup, seccomp),
        )

    def send(self, message: dict, blob: bytes = b"") -> None:
        """Write one command (and its blob) to the process.

        Raises:
            Stop: the process is gone.
        """
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(protocol.encode(message, blob))
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise Stop(self.stop_status, self._death_detail()) from None

    def receive(self, deadline: float, timeout: tuple[ExecutionStatus, str]) -> tuple[dict, bytes]:
        """The next message; a missed ``deadline`` raises :class:`Stop` with ``timeout``, a dead process
        or an unreadable message with the reason."""
        received = self._reader.next(deadline)
        if received is None:
            if time.monotonic() >= deadline:
                raise Stop(*timeout)
            raise Stop(self.stop_status, self._death_detail())
        if received[0].get("event") == "garbled":
            raise Stop(
                self.stop_status,
                GARBLED if self.role == Role.STUDENT else "the test process sent an unreadable reply",
            )
        return received

    @property
    def stop_status(self) -> ExecutionStatus:
        """The status when this process stops unexpectedly: the notebook's fault, or the grader's (the
        verifier, or a fork server that stopped and took its sandbox along)."""
        server_lost = self.fork_server is not None and not self.fork_server.alive
        if self.role == Role.STUDENT and not server_lost:
            return ExecutionStatus.DIED
        return ExecutionStatus.SANDBOX_ERROR

    def poll_ready(self) -> bool:
        """Whether the warm-up has ended, without waiting."""
        if not self._ready:
            received = self._reader.next(time.monotonic())
            if received is None:
                return False
            if received[0].get("event") != "ready":
                raise Stop(ExecutionStatus.SANDBOX_ERROR, f"the sandbox did not start: {self._log_tail()}")
            self._ready = True
        return True

    def wait_ready(self) -> None:
        """Wait (at most ``startup_timeout``) for the process's warm-up to end."""
        if self._ready:
            return
        limit = self.limits.startup_timeout
        try:
            message, _ = self.receive(
                time.monotonic() + limit,
                (ExecutionStatus.DIED, f"the sandbox did not start within {limit:g} s"),
            )
        except Stop as stop:
            raise Stop(ExecutionStatus.SANDBOX_ERROR, f"{stop.detail}: {self._log_tail()}") from None
        if message.get("event") != "ready":
            raise Stop(ExecutionStatus.SANDBOX_ERROR, f"the sandbox did not start: {self._log_tail()}")
        self._ready = True

    def run(self, cells: list[tuple[int, str]]) -> Execution:
        """Run code cells ``(index, source)`` in order as the student's, then stop the process.

        Args:
            cells: the code cells to execute, with their notebook indices.

        Returns:
            The outputs of every cell that finished and how execution ended.
        """
        # The one upward reference: a convenience for running a notebook in a lone student process.
        from autograder.sandbox.orchestration import Cell, run_notebook

        return run_notebook(self, [Cell(index, source) for index, source in cells])

    def _death_detail(self) -> str:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "the grading process closed its result channel"
        if self.prefix is not None and code > 128:
            code = -(code - 128)  # enter.py reports a runner killed by signal N as 128 + N
        if code < 0:
            name = signal.Signals(-code).name
            if name == "SIGXCPU":
                hint = " (CPU time limit)"
            elif name == "SIGKILL" and self.cgroup is not None and self.cgroup.oom_killed():
                hint = f" (the sandbox's memory limit, {self.limits.resident_cap / 1024**3:g} GB)"
            elif name == "SIGKILL":
                hint = " (memory limit?)"
            else:
                hint = ""
            return f"{self._who} was killed by {name}{hint}"
        return f"{self._who} exited with code {code}"

    @property
    def _who(self) -> str:
        return "the notebook's process" if self.role == Role.STUDENT else "the test process"

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
        self._reader.close()
        self._log.close()
        if self.cgroup is not None:
            self.cgroup.remove()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start(
    *,
    limits: Limits,
    env_passthrough: tuple[str, ...] = (),
    preload: tuple[str, ...] = (),
    isolation: Isolation = STRICT,
    role: Role | str = Role.STUDENT,
    nbgrader_execution: str = "autograde",
    threads: int | None = None,
    fork_server: ForkServer | None = None,
) -> Runner:
    """Start a sandboxed runner process that warms up and waits for its job.

    Args:
        limits: resource and time limits.
        env_passthrough: names of environment variables copied from this process.
        preload: modules imported before the job arrives (e.g. ``numpy``).
        isolation: the sandbox mode and the extra host paths the notebook may read.
        role: ``"student"`` (runs the notebook's code) or ``"verifier"`` (runs its tests, see
            :mod:`autograder.sandbox`), a :class:`Role` or its name.
        nbgrader_execution: the value of ``NBGRADER_EXECUTION`` in the process, as nbgrader sets it:
            ``"autograde"`` when grading, ``"validate"`` for a student's self-check.
        threads: threads the process's numerical libraries may use (:data:`THREAD_VARIABLES`; ``None``:
            their default, one per core). Workers grading side by side share the cores this way instead
            of each sizing its pools for the whole machine.
        fork_server: a started :class:`~autograder.sandbox.forkserver.ForkServer` to fork the process from
            (its own ``preload``, environment and threads then apply); None, or an isolation without
            namespaces: a fresh process.

    Returns:
        The waiting runner; use it for one notebook (:func:`run_notebook` or :meth:`Runner.run`).

    Raises:
        Unavailable: strict isolation on a machine that cannot provide it.
    """
    return Runner(
        limits=limits,
        env_passthrough=env_passthrough,
        preload=preload,
        isolation=isolation,
        role=role,
        nbgrader_execution=nbgrader_execution,
        threads=threads,
        fork_server=fork_server,
    )
