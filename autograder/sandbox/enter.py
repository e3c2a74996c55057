"""The sandbox's init process: builds the student's private filesystem, then runs ``runner.py`` in it.

:mod:`autograder.sandbox` starts this file by path (standard library only, ``python -I -S``) as PID 1 of
fresh namespaces made by ``unshare --mount --net --pid --ipc --uts --fork --kill-child`` (plus
``--user --map-root-user`` when the grader is not root). Its one argument is a JSON object::

    {"workdir": "/tmp/autograder-x", "expose": ["/usr", "/etc", ...], "disk_bytes": 536870912,
     "uid": 612345 or null, "runner": "/path/to/runner.py", "python": "/path/to/python",
     "setpriv": "/usr/bin/setpriv", "seccomp": "/path/to/pyseccomp.py" or null}

(``"argv"``, when present, replaces the runner's command line: the grader's start-up probe uses it.)

It then

1. mounts an empty tmpfs as the new root and bind-mounts every ``expose`` path into it **read-only** at the
   same path (the system, the Python installation and virtualenv, the course's data); nothing else of the
   host exists there: not the course repository, ``solutions/``, the gradebook, other submissions, the
   grader's HOME or the host's ``/tmp``;
2. adds a fresh ``/proc`` (this PID namespace only), a minimal ``/dev`` and two size-limited tmpfs, the
   working folder (same path as on the host, holding the private HOME) and ``/tmp``, so a disk filler fills
   RAM-backed space of ``disk_bytes`` that disappears with the namespace;
3. ``pivot_root``\\ s into it and detaches the old root, so no path leads back to the host's files;
4. installs the system-call filter of ``syscalls.py`` (beside this file) when ``seccomp`` names the
   libseccomp binding: after the set-up, which needs ``mount`` and ``pivot_root``, and before anything
   else runs, so the runner and all it starts inherit it (both files are loaded by path: this process
   has no site-packages);
5. forks the runner through ``setpriv``: all capabilities dropped (bounding set emptied, ``no_new_privs``),
   and as uid/gid ``uid`` (a fresh unprivileged id with no account) when the grader runs as real root, so
   nothing it does can signal or ptrace this process or another sandbox, or remount anything;
6. waits for the runner (reaping whatever it orphaned) and exits with its status (``128 + signal`` when
   it was killed). When PID 1 of a namespace exits the kernel kills every process left in it, so daemons,
   double-forked children and fork bombs end with the runner.

The network namespace has only a loopback interface, left down: every connection fails, 127.0.0.1 too.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import platform
import stat
import sys
from collections.abc import Callable

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE, MS_RELATIME = 32, 4096, 16384, 1 << 18, 1 << 21
ST_NOATIME, ST_NODIRATIME, ST_RELATIME = 1024, 2048, 4096
MNT_DETACH = 2
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
DEVICES = ("null", "zero", "full", "random", "urandom")

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(
        _libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)), f"mount {target}"
    )


def _bind_read_only(source: str, target: str) -> None:
    _mount(source, target, None, MS_BIND | MS_REC)
    # A remount must keep the flags the host mount has (a user namespace may not clear them).
    host = os.statvfs(source).f_flag
    kept = host & (MS_NOEXEC | ST_NOATIME | ST_NODIRATIME) | (MS_RELATIME if host & ST_RELATIME else 0)
    _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | kept)


def _expose(root: str, path: str) -> None:
    """Make ``path`` (file, folder or symlink) appear read-only at the same place under ``root``."""
    target = root + path
    if os.path.islink(path):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            os.symlink(os.readlink(path), target)
        return
    if not os.path.exists(path):
        return
    if os.path.isdir(path):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    _bind_read_only(path, target)


def build_root(spec: dict) -> str:
    """Mount the new root under the working folder and return its path (still on the host's tree)."""
    workdir = spec["workdir"]
    uid = spec.get("uid")
    owner = (uid, uid) if uid is not None else (0, 0)
    root = os.path.join(workdir, ".root")
    os.makedirs(root, exist_ok=True)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("sandbox", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=755")
    # The writable, size-limited folders first, then the read-only paths: an exposed path that lives under
    # /tmp (a checkout and its virtualenv in /tmp, say) is bind-mounted on top of the fresh /tmp, not hidden.
    size = int(spec["disk_bytes"])
    for path, mode in (("/tmp", "1777"), (workdir, "755"), ("/dev/shm", "1777")):
        os.makedirs(root + path, exist_ok=True)
        _mount("sandbox", root + path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode={mode}")
    covered: list[str] = []
    for path in sorted(set(spec["expose"]), key=len):
        if any(path == c or path.startswith(c.rstrip("/") + "/") for c in covered):
            continue  # already visible through an exposed parent
        _expose(root, path)
        covered.append(path)

    os.makedirs(root + "/dev", exist_ok=True)
    for name in DEVICES:
        target = f"{root}/dev/{name}"
        open(target, "a").close()
        _mount(f"/dev/{name}", target, None, MS_BIND)
    for name, link in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1")):
        os.symlink(link, f"{root}/dev/{name}")
    os.symlink("/proc/self/fd/2", f"{root}/dev/stderr")
    os.makedirs(root + "/proc", exist_ok=True)
    _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)

    os.chown(root + workdir, *owner)
    home = root + os.environ.get("HOME", workdir + "/.home")
    os.makedirs(home, exist_ok=True)
    os.chown(home, *owner)

    os.makedirs(root + "/.autograder", exist_ok=True)
    # The runner loads its message framing and its codec from its own folder.
    for name in ("runner.py", "protocol.py", "plaindata.py"):
        path = os.path.join(os.path.dirname(spec["runner"]), name)
        with open(path, "rb") as source, open(root + "/.autograder/" + name, "wb") as copy:
            copy.write(source.read())
    _mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    return root


def pivot(root: str, workdir: str) -> None:
    """Make ``root`` the filesystem root and forget the old one."""
    number = SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise OSError(f"pivot_root: unsupported machine {platform.machine()}")
    os.chdir(root)
    _check(_libc.syscall(number, b".", b"."), "pivot_root")
    _check(_libc.umount2(b".", MNT_DETACH), "umount old root")
    os.chdir("/")
    os.chdir(workdir)


def load_filter(binding: str) -> Callable[[], None]:
    """``syscalls.py`` (beside this file) and the libseccomp binding at ``binding``, both loaded by path.

    Returns:
        A function that installs the system-call filter in this process (and so in its children).
    """
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "syscalls.py")
    spec = importlib.util.spec_from_file_location("_autograder_syscalls", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    syscalls = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(syscalls)
    seccomp = syscalls.load_binding(binding)
    return lambda: syscalls.install(seccomp)


def main() -> int:
    """Build the sandbox, run the runner in it, and return the runner's exit status."""
    spec = json.loads(sys.argv[1])
    try:
        install_filter = load_filter(spec["seccomp"]) if spec.get("seccomp") else None
    except (ImportError, RuntimeError, OSError) as error:
        print(f"autograder sandbox: could not load the system-call filter: {error}", file=sys.stderr)
        return 125
    try:
        root = build_root(spec)
        pivot(root, spec["workdir"])
    except OSError as error:
        print(f"autograder sandbox: could not build the filesystem: {error}", file=sys.stderr)
        return 125
    if install_filter is not None:
        try:
            install_filter()  # from here on, no mount, namespace, keyring, bpf... for anything in here
        except (OSError, ValueError) as error:
            print(f"autograder sandbox: could not install the system-call filter: {error}", file=sys.stderr)
            return 125
    command = [spec["setpriv"], "--bounding-set=-all", "--inh-caps=-all", "--no-new-privs"]
    if spec.get("uid") is not None:
        uid = str(spec["uid"])
        command += [f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    command += ["--", *spec.get("argv", [spec["python"], "-s", "/.autograder/runner.py"])]
    child = os.fork()
    if child == 0:
        try:
            os.execv(command[0], command)
        finally:
            os._exit(126)
    protocol = os.environ.get("AUTOGRADER_FD")
    for fd in (0, int(protocol) if protocol else None):
        if fd is not None and stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.close(fd)  # only the runner may hold the job and result pipes
    while True:
        pid, status = os.wait()
        if pid == child:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


if __name__ == "__main__":
    sys.exit(main())
