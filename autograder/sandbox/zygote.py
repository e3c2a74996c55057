"""A fork server: one warm process per grading worker whose children each become one sandbox.

Starting a sandbox the plain way (``enter.py``, then ``runner.py``) starts two Python interpreters and
imports what the notebook needs (NumPy, IPython, for the Keras homeworks TensorFlow: about 3 CPU seconds)
for every student, twice (the student's process and the verifier). This program does the imports once: the
grader's worker starts it (standard library only, by path, ``python -s zygote.py FD``) in the sandbox's
environment, it loads ``runner.py`` and ``enter.py`` beside it and imports ``AUTOGRADER_PRELOAD``, says
``ready``, and then forks one child per sandbox asked for, the student's processes and the verifiers
alike (the role is the child's, given with each request). The child puts on every layer the plain way has,
in the same order, before it reads the student's first command:

1. **C1** (in the host's namespaces): a new session, death with the fork server, the job's pipes on
   descriptors 0-2 and ``AUTOGRADER_FD`` and every other descriptor closed, the cgroup joined, the
   rlimits set, the sandbox's environment; then ``unshare`` of the mount, network, PID, IPC and UTS
   namespaces (plus a user namespace mapping the grader's uid to root when the grader is not root), as
   ``unshare --fork --kill-child`` does, and a fork;
2. **C2**, PID 1 of the new namespaces: ``enter.py``'s :func:`build_root` and :func:`pivot` (the private
   read-only filesystem), the system-call filter, then a fork, and it reaps until the runner ends, exiting
   with its status (``128 + signal`` when killed), which takes every process left in the namespace along;
3. **C3**, the runner: ``no_new_privs``, the capability bounding set emptied, ambient and inheritable
   capabilities cleared, and with real root a fresh uid and gid without groups (what ``setpriv`` does for
   the plain way), then :func:`runner.serve`.

Nothing secret ever enters this process: it holds imported modules and the paths, limits and
environment of the sandboxes it starts. The job (the notebook, the assignment's files, the tests) goes
from the grader straight to the child through the pipes it passes. What a child inherits from the
imports is the state they left: Python's ``random`` reseeds itself in each child and NumPy's global
generator is reseeded here, but a module that read ``HOME`` at import keeps the fork server's (a folder
that does not exist in the sandbox; under ``/tmp``, so it can be created there).

Requests arrive on a ``SOCK_SEQPACKET`` socket (descriptor ``FD``), one JSON object per packet:

* ``{"op": "spawn", "role": "student" | "verifier", "env": {...}, "workdir": "/tmp/...", "cgroups":
  [folders], "rlimits": [[kind, value], ...], "spec": {enter.py's spec}, "user_namespace": bool}`` with
  three descriptors attached (the child's commands, its events pipe, its log): answered ``{"pid": n}`` or
  ``{"error": "..."}``;
* ``{"op": "wait", "pid": n, "timeout": s}``: ``{"status": code}`` (``os.waitstatus_to_exitcode``'s value)
  once the child ended, or ``{"status": null}`` after ``timeout`` seconds.

End of file on the socket (the worker closed it or died) ends this process, and with it every child.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import resource
import signal
import socket
import sys
import time
import traceback
import types
from pathlib import Path

PR_SET_PDEATHSIG, PR_CAPBSET_READ, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 23, 24, 38, 47
CAP_SETPCAP = 8
PR_CAP_AMBIENT_CLEAR_ALL = 4
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
CAPABILITY_VERSION_3 = 0x20080522
MAX_REQUEST = 1 << 20
KEPT_STATUSES = 4096  # exit statuses of children nobody asked for yet (each is asked for once)

_libc = ctypes.CDLL(None, use_errno=True)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _load_beside(name: str) -> types.ModuleType:
    path = Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_autograder_{name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _die_with_parent(parent: int) -> None:
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(125)


def _exit_code(status: int) -> int:
    """The status a process reports for its child: the child's code, or ``128 + signal`` when killed."""
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _drop_privileges(uid: int | None, last_capability: int) -> None:
    """What ``setpriv --bounding-set=-all --inh-caps=-all --no-new-privs [--reuid/--regid --clear-groups]``
    does before it executes the runner, then the permitted and effective capabilities emptied too (the
    exec ``setpriv`` makes clears them for an unprivileged uid; here nothing is executed)."""
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    header, data = _CapHeader(CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    _check(_libc.capget(ctypes.byref(header), ctypes.byref(data)), "capget")
    if data[0].effective & 1 << CAP_SETPCAP:  # as setpriv, which leaves the bounding set alone without it
        for capability in range(last_capability + 1):
            if _libc.prctl(PR_CAPBSET_READ, capability, 0, 0, 0) == 1:
                _check(_libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0), "prctl(PR_CAPBSET_DROP)")
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "prctl(PR_CAP_AMBIENT)")
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    header, data = _CapHeader(CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")


class Server:
    """The fork server's state: the loaded runner and sandbox builder, the filter, and its children."""

    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.enter = _load_beside("enter")
        self.runner = _load_beside("runner")
        preload = list(filter(None, os.environ.pop("AUTOGRADER_PRELOAD", "").split(",")))
        # What the student's runner needs for its IPython shell (the verifier's children do not use it).
        preload += ["IPython.core.interactiveshell", "IPython.core.displayhook", "IPython.core.displaypub"]
        self.protocol, self.plaindata = self.runner.prepare(preload)
        binding = os.environ.pop("AUTOGRADER_SECCOMP", "")
        self.install_filter = self.enter.load_filter(binding) if binding else None
        self.last_capability = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
        self.statuses: dict[int, int] = {}
        self.children: set[int] = set()

    def reap(self) -> None:
        """Collect the statuses of children that ended (without waiting)."""
        for pid in list(self.children):
            with contextlib.suppress(ChildProcessError):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done == 0:
                    continue
                self.statuses[pid] = os.waitstatus_to_exitcode(status)
            self.children.discard(pid)
        while len(self.statuses) > KEPT_STATUSES:
            del self.statuses[next(iter(self.statuses))]

    def wait(self, pid: int, timeout: float) -> int | None:
        deadline = time.monotonic() + max(0.0, min(timeout, 60.0))
        while True:
            self.reap()
            if pid in self.statuses:
                return self.statuses.pop(pid)
            if pid not in self.children or time.monotonic() >= deadline:
                return None
            time.sleep(0.005)

    def spawn(self, request: dict, fds: list[int]) -> int:
        server = os.getpid()
        pid = os.fork()
        if pid == 0:
            code = 125
            try:
                code = self._child(request, fds, server)
            except BaseException as error:
                with contextlib.suppress(Exception):
                    os.write(2, f"autograder sandbox: could not start: {error}\n".encode())
            finally:
                os._exit(code)
        self.children.add(pid)
        return pid

    def _child(self, request: dict, fds: list[int], server: int) -> int:
        """C1: in the host's namespaces, until the sandbox's init (C2) ends."""
        self.control.detach()  # the server's socket is closed below with the rest, not by this object
        os.setsid()
        _die_with_parent(server)
        commands, events, log = fds
        os.dup2(commands, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        events_fd = 3
        os.dup2(events, events_fd)
        os.closerange(events_fd + 1, os.sysconf("SC_OPEN_MAX"))
        for folder in request["cgroups"]:  # before anything runs: every process the sandbox starts counts
            with open(os.path.join(folder, "cgroup.procs"), "w") as procs:
                procs.write(str(os.getpid()))
        for kind, value in request["rlimits"]:
            _soft, hard = resource.getrlimit(kind)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(kind, (value, hard))
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["workdir"])
        flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
        outer_uid, outer_gid = os.geteuid(), os.getegid()
        if request["user_namespace"]:
            flags |= CLONE_NEWUSER
        _check(_libc.unshare(flags), "unshare")
        if request["user_namespace"]:  # unshare --map-root-user
            for name, text in (
                ("setgroups", "deny"),
                ("uid_map", f"0 {outer_uid} 1"),
                ("gid_map", f"0 {outer_gid} 1"),
            ):
                with open(f"/proc/self/{name}", "w") as handle:
                    handle.write(text)
        init = os.fork()
        if init == 0:
            code = 125
            try:
                _die_with_parent(0)  # its parent (C1) is outside its PID namespace: getppid() is 0
                code = self._init(request["spec"], str(request["role"]), events_fd)
            except BaseException as error:
                with contextlib.suppress(Exception):
                    os.write(2, f"autograder sandbox: {error}\n".encode())
            finally:
                os._exit(code)
        for fd in (0, events_fd):
            os.close(fd)  # only the runner may hold the job and result pipes
        while True:
            pid, status = os.wait()
            if pid == init:
                return _exit_code(status)

    def _init(self, spec: dict, role: str, events_fd: int) -> int:
        """C2: PID 1 of the sandbox's namespaces (``enter.py``'s work, without a second interpreter)."""
        root = self.enter.build_root(spec)
        self.enter.pivot(root, spec["workdir"])
        if self.install_filter is not None:
            self.install_filter()  # from here on, no mount, namespace, keyring, bpf... for anything in here
        runner = os.fork()
        if runner == 0:
            code = 1
            try:
                _drop_privileges(spec.get("uid"), self.last_capability)
                if "numpy" in sys.modules:  # every child would otherwise draw the same "random" numbers
                    sys.modules["numpy"].random.seed()
                sys.argv = ["/.autograder/runner.py"]
                self.runner.serve(role, self.protocol, self.plaindata, events_fd)
                code = 0
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else 0
            except BaseException:  # as an uncaught exception ends a plain runner: its traceback in the log
                with contextlib.suppress(Exception):
                    os.write(2, traceback.format_exc().encode())
            finally:
                with contextlib.suppress(Exception):
                    sys.stdout.flush()
                os._exit(code)
        for fd in (0, events_fd):
            os.close(fd)
        while True:
            pid, status = os.wait()
            if pid == runner:
                return _exit_code(status)

    def serve(self) -> None:
        self.control.send(json.dumps({"event": "ready"}).encode())
        while True:
            try:
                data, fds, _flags, _address = socket.recv_fds(self.control, MAX_REQUEST, 3)
            except OSError:
                return
            if not data:
                return  # the worker is gone
            self.reap()
            request = json.loads(data)
            try:
                if request["op"] == "spawn":
                    answer: dict = {"pid": self.spawn(request, fds)}
                elif request["op"] == "wait":
                    answer = {"status": self.wait(int(request["pid"]), float(request["timeout"]))}
                else:
                    answer = {"error": f"unknown request {request['op']!r}"}
            except Exception as error:
                answer = {"error": f"{type(error).__name__}: {error}"}
            finally:
                for fd in fds:
                    os.close(fd)
            self.control.send(json.dumps(answer).encode())


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    _die_with_parent(int(os.environ.pop("AUTOGRADER_PARENT")))
    try:
        server = Server(control)
    except BaseException as error:
        control.send(json.dumps({"event": "failed", "error": f"{type(error).__name__}: {error}"}).encode())
        raise
    server.serve()


if __name__ == "__main__":
    main()
