"""The grader's end of a fork server (``zygote.py``): a warm process whose children become sandboxes.

A grading worker keeps one :class:`ForkServer` for its student and verifier sandboxes alike. It imports the
assignment's modules once, and each sandbox is then a fork of it that puts on every isolation layer itself
(see ``zygote.py``) instead of starting two fresh Python interpreters and importing everything again: for hw1
that is most of a sandbox's start-up, for the Keras homeworks TensorFlow's 3 CPU seconds per process.

:class:`ForkServer` starts the server (it says ``ready`` once its imports are done), asks it for children
(:meth:`ForkServer.spawn`, returning a :class:`ForkedProcess` that stands where a ``subprocess.Popen``
stands for a sandbox started the plain way) and for their exit statuses, and stops it (:meth:`close`).
A server that cannot start (an import failing) or that stops raises :class:`ForkServerError`; the worker
then starts its sandboxes the plain way.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder.sandbox import cgroups
from autograder.sandbox import isolation as layers
from autograder.sandbox.isolation import SERVER_PREFIX, Isolation, Limits, Mode, Role

ZYGOTE = Path(__file__).with_name("zygote.py")
MAX_REPLY = 1 << 16


class ForkServerError(RuntimeError):
    """The fork server did not start, or stopped: its reason (and the end of its log)."""


class ForkedProcess:
    """A sandbox forked by a :class:`ForkServer`: what :class:`~autograder.sandbox.process.Runner` uses of a
    ``subprocess.Popen`` (``pid``, ``stdin``, ``wait``), its exit status asked of the server."""

    def __init__(self, server: ForkServer, pid: int, stdin_fd: int) -> None:
        self.server = server
        self.pid = pid
        self.stdin = os.fdopen(stdin_fd, "wb")
        self.returncode: int | None = None

    def wait(self, timeout: float | None = None) -> int:
        """The exit status (negative: killed by that signal), waiting at most ``timeout`` seconds.

        Raises:
            subprocess.TimeoutExpired: not ended within ``timeout``, or its server is gone (the status is
                then unknown).
        """
        if self.returncode is None:
            try:
                status = self.server.wait(self.pid, 60.0 if timeout is None else timeout)
            except ForkServerError:
                status = None
            if status is None:
                raise subprocess.TimeoutExpired(f"sandbox {self.pid}", timeout or 0.0)
            self.returncode = status
        return self.returncode


class ForkServer:
    """One started fork server (see the module).

    Args:
        preload: modules it imports once, before any sandbox (the runner's warm-up).
        isolation: the sandbox's settings; its namespaces must be available (:func:`resolve` not None).
        env_passthrough: names of variables copied from this process into every sandbox.
        nbgrader_execution: ``NBGRADER_EXECUTION`` in every sandbox.
        threads: the numerical libraries' threads in every sandbox (set before the imports, which size
            their pools from them).

    Raises:
        Unavailable: strict isolation this machine cannot provide.
        ValueError: an isolation without namespaces (``off``, or ``warn`` where they are missing).
    """

    def __init__(
        self,
        *,
        preload: tuple[str, ...],
        isolation: Isolation,
        env_passthrough: tuple[str, ...] = (),
        nbgrader_execution: str = "autograde",
        threads: int | None = None,
    ) -> None:
        prefix = layers.resolve(isolation)
        if isolation.mode == Mode.OFF or prefix is None:
            raise ValueError("a fork server starts namespace sandboxes only")
        self.isolation = isolation
        self.user_namespace = "--user" in prefix
        self.binding = layers.syscall_filter(isolation)
        self.env_passthrough = env_passthrough
        self.nbgrader_execution = nbgrader_execution
        self.threads = threads
        self.folder = Path(tempfile.mkdtemp(prefix=f"{SERVER_PREFIX}{os.getpid()}-"))
        home = self.folder / ".home"
        home.mkdir()
        env = layers.environment(home, env_passthrough, nbgrader_execution, threads)
        env.update(
            AUTOGRADER_PRELOAD=",".join(preload),
            AUTOGRADER_SECCOMP=self.binding or "",
            AUTOGRADER_PARENT=str(os.getpid()),
        )
        self._socket, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._log = open(self.folder / ".server.log", "wb")
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-s", str(ZYGOTE), str(theirs.fileno())],
                cwd=self.folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=self._log,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        except OSError as error:
            self._socket.close()
            self._log.close()
            shutil.rmtree(self.folder, ignore_errors=True)
            raise ForkServerError(f"the sandboxes' fork server did not start: {error}") from None
        finally:
            theirs.close()
        self._ready = False
        self.closed = False

    def _receive(self, timeout: float) -> dict:
        self._socket.settimeout(timeout)
        try:
            data = self._socket.recv(MAX_REPLY)
        except TimeoutError:
            raise ForkServerError(f"the sandboxes' fork server did not answer within {timeout:g} s") from None
        except OSError as error:
            raise ForkServerError(f"the sandboxes' fork server is gone ({error})") from None
        if not data:
            raise ForkServerError(f"the sandboxes' fork server stopped: {self._log_tail()}")
        answer = json.loads(data)
        if "error" in answer:
            raise ForkServerError(f"the sandboxes' fork server refused: {answer['error']}")
        return answer

    def wait_ready(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) for the server's imports to be done.

        Raises:
            ForkServerError: it failed to start (an import raised), with its reason.
        """
        if self._ready:
            return
        answer = self._receive(timeout)
        if answer.get("event") != "ready":
            raise ForkServerError(f"the sandboxes' fork server did not start: {answer.get('error', answer)}")
        self._ready = True

    def _request(self, request: dict, fds: tuple[int, ...] = (), timeout: float = 60.0) -> dict:
        if self.closed:
            raise ForkServerError("the sandboxes' fork server was closed")
        self.wait_ready(timeout)
        try:
            socket.send_fds(self._socket, [json.dumps(request).encode()], list(fds))
        except OSError as error:
            raise ForkServerError(f"the sandboxes' fork server is gone ({error})") from None
        return self._receive(timeout + 5.0)

    def spawn(
        self,
        *,
        role: Role,
        env: dict[str, str],
        workdir: Path,
        spec: dict,
        limits: Limits,
        cgroup: cgroups.Cgroup | None,
        events_fd: int,
        log_fd: int,
        startup_timeout: float,
    ) -> ForkedProcess:
        """Fork a sandbox of ``role`` whose runner reads its commands from the returned process's ``stdin``,
        writes its events on ``events_fd`` and its stray output on ``log_fd`` (both stay open here; close
        them).

        Raises:
            ForkServerError: the server failed (or did not start within ``startup_timeout``).
        """
        commands, stdin = os.pipe()
        try:
            answer = self._request(
                {
                    "op": "spawn",
                    "role": Role(role).value,
                    "env": env,
                    "workdir": str(workdir),
                    "cgroups": [str(folder) for folder in cgroup.folders] if cgroup is not None else [],
                    "rlimits": layers.rlimits(limits),
                    "spec": spec,
                    "user_namespace": self.user_namespace,
                },
                (commands, events_fd, log_fd),
                startup_timeout,
            )
        except BaseException:
            os.close(stdin)
            raise
        finally:
            os.close(commands)
        return ForkedProcess(self, int(answer["pid"]), stdin)

    def wait(self, pid: int, timeout: float) -> int | None:
        """The exit status of child ``pid`` once it ended; None while it still runs after ``timeout``."""
        status = self._request({"op": "wait", "pid": pid, "timeout": timeout}, timeout=timeout)["status"]
        return None if status is None else int(status)

    @property
    def alive(self) -> bool:
        """Whether the server still runs (a sandbox that died with it is the grader's failure)."""
        return not self.closed and self.process.poll() is None

    def _log_tail(self) -> str:
        self._log.flush()
        text = (self.folder / ".server.log").read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-3:]) or "no output"

    def close(self) -> None:
        """Stop the server (its sandboxes die with it) and remove its folder."""
        if self.closed:
            return
        self.closed = True
        self._socket.close()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self._log.close()
        shutil.rmtree(self.folder, ignore_errors=True)
