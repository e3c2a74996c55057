"""Isolation modes, resource limits and the namespace sandbox's set-up: what a sandboxed process is denied.

The layers themselves are described in :mod:`autograder.sandbox`. This module probes which of them this
machine can provide (:func:`probe`, :func:`probe_filter`), decides what a mode requires (:func:`resolve`),
describes the private filesystem ``enter.py`` builds (:func:`namespace_spec`), applies the per-process
limits just before the runner starts (:func:`preexec`) and removes what a killed grader left (:func:`sweep`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.util
import json
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import ModuleType

from autograder.sandbox import cgroups, syscalls

RUNNER = Path(__file__).with_name("runner.py")
ENTER = Path(__file__).with_name("enter.py")
SYSCALLS = Path(__file__).with_name("syscalls.py")
BINDING = "pyseccomp"  # the libseccomp binding (requirements.txt), loaded by path inside the sandbox
UNFILTERED_BENCHMARK = "AUTOGRADER_BENCHMARK_NO_SYSCALL_FILTER"
UID_BASE, UID_RANGE = 200_000, 800_000  # unprivileged uids with no account (no files outside a sandbox)
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")

WORKDIR_PREFIX = "autograder-"  # a sandbox's working folder: autograder-<grader pid>-<random>
SERVER_PREFIX = "autograder-forkserver-"  # a fork server's: autograder-forkserver-<grader pid>-<random>
BASE_ENV = ("PATH", "LANG", "LC_ALL", "TZ")  # the grader's variables every sandbox gets
# The thread pools of NumPy's BLAS, OpenMP and TensorFlow (intra- and inter-op), sized by ``threads``.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
)  # fmt: skip


class Mode(StrEnum):
    """How strongly submissions are isolated (see :mod:`autograder.sandbox`); equal to its name."""

    STRICT = "strict"  # refuse to grade without namespaces or the system-call filter
    WARN = "warn"  # grade with the layers there are, saying loudly which are missing
    OFF = "off"  # rlimits and timeouts only: a student's self-check of their own notebook


class Role(StrEnum):
    """Which of a submission's two sandboxed processes one is; equal to its name."""

    STUDENT = "student"  # runs the notebook's code
    VERIFIER = "verifier"  # runs its tests, never student code


def sweep() -> int:
    """Remove working folders and cgroups left by graders that were killed (SIGKILL); return how many."""
    removed = cgroups.sweep()
    for prefix in (WORKDIR_PREFIX, SERVER_PREFIX):
        for folder in Path(tempfile.gettempdir()).glob(f"{prefix}*-*"):
            pid = folder.name[len(prefix) :].split("-")[0]
            if pid.isdigit() and folder.is_dir() and not Path(f"/proc/{pid}").exists():
                shutil.rmtree(folder, ignore_errors=True)
                removed += not folder.exists()
    return removed


class Unavailable(RuntimeError):
    """Strict isolation was asked for and this machine cannot provide it."""


@dataclass(frozen=True)
class Limits:
    """Resource limits for one submission (see ``autograder.config`` for where they come from)."""

    cell_timeout: float = 60.0
    submission_timeout: float = 600.0
    memory_bytes: int = 8 * 1024**3  # address space of each process (RLIMIT_AS): TensorFlow reserves much
    resident_bytes: int | None = None  # resident memory of the whole sandbox (its cgroup, tmpfs included)
    file_bytes: int = 256 * 1024**2
    disk_bytes: int = 512 * 1024**2
    max_processes: int = 512
    startup_timeout: float = 60.0
    transfer_bytes: int = 2 * 1024**3  # one value sent between the student's process and the verifier
    verifier_memory_bytes: int | None = None  # the verifier's address space (None: memory_bytes)
    # The verifier's resident memory (None: verifier_memory_bytes when that is set, else resident_bytes).
    verifier_resident_bytes: int | None = None

    @property
    def resident_cap(self) -> int:
        """The sandbox's resident-memory cap: ``resident_bytes``, or the address-space limit when unset."""
        return self.resident_bytes if self.resident_bytes is not None else self.memory_bytes

    def for_role(self, role: Role | str) -> Limits:
        """The limits of the ``"student"``'s or the ``"verifier"``'s sandbox (its own memory limits)."""
        if role != Role.VERIFIER:
            return self
        resident = self.verifier_resident_bytes
        if resident is None and self.verifier_memory_bytes is None:
            resident = self.resident_bytes
        return dataclasses.replace(
            self, memory_bytes=self.verifier_memory_bytes or self.memory_bytes, resident_bytes=resident
        )

    @property
    def worker_resident_bytes(self) -> int:
        """The most resident memory one grading worker's two sandboxes (student and verifier) may hold."""
        return self.resident_cap + self.for_role(Role.VERIFIER).resident_cap


@dataclass(frozen=True)
class Isolation:
    """How strongly submissions are isolated (see :mod:`autograder.sandbox`).

    Attributes:
        mode: ``"strict"`` (refuse without namespaces), ``"warn"`` (grade anyway, loudly) or ``"off"``: a
            :class:`Mode`, or its name (the CLI's option), stored as the :class:`Mode`.
        expose: host paths the student may read (besides the system and Python), e.g. the data folder.
    """

    mode: Mode | str = Mode.STRICT
    expose: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in tuple(Mode):
            raise ValueError(f"unknown sandbox mode {self.mode!r}; choose one of {', '.join(Mode)}")
        object.__setattr__(self, "mode", Mode(self.mode))  # a frozen dataclass: set once, here


def unshare_flags(as_root: bool) -> list[str]:
    """The ``unshare`` options of a sandbox: fresh namespaces, plus a user namespace unless run as root."""
    flags = ["--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child"]
    return flags if as_root else [*flags, "--user", "--map-root-user"]


def namespace_spec(
    workdir: Path, expose: tuple[str, ...], limits: Limits, as_root: bool, binding: str | None
) -> dict:
    """The JSON argument of ``enter.py``: the paths it exposes read-only, the tmpfs size, the uid to run as,
    the runner and the system-call filter's binding (see ``enter.py``'s docstring)."""
    paths = [*SYSTEM_PATHS, sys.prefix, sys.base_prefix, str(Path(sys.executable).resolve().parent.parent)]
    return {
        "workdir": str(workdir),
        "expose": [str(Path(p).absolute()) for p in (*paths, *expose)],
        "disk_bytes": limits.disk_bytes,
        # A uid of its own per sandbox: RLIMIT_NPROC counts per uid, and sandboxes cannot signal each other.
        "uid": UID_BASE + secrets.randbelow(UID_RANGE) if as_root and os.geteuid() == 0 else None,
        "runner": str(RUNNER),
        "python": sys.executable,
        "setpriv": shutil.which("setpriv") or "setpriv",
        "seccomp": binding,  # the libseccomp binding enter.py loads to install the filter (None: no filter)
    }


@functools.cache
def probe() -> tuple[list[str] | None, str]:
    """Find how this machine can start a sandbox: ``(unshare command, "")`` or ``(None, why not)``.

    Starts a real (tiny) sandbox once per process, as root first when running as root, then in a user
    namespace.
    """
    if not sys.platform.startswith("linux"):
        return None, f"namespaces need Linux (this is {sys.platform})"
    missing = [tool for tool in ("unshare", "setpriv") if shutil.which(tool) is None]
    if missing:
        return None, f"{' and '.join(missing)} not found (install util-linux)"
    why = ""
    for as_root in (True, False) if os.geteuid() == 0 else (False,):
        with tempfile.TemporaryDirectory(prefix="autograder-probe-") as folder:
            # The set-up a real sandbox gets (same exposed paths, private HOME, uid), then a Python.
            spec = namespace_spec(Path(folder), default_expose(), Limits(), as_root, probe_filter()[0])
            spec["argv"] = [sys.executable, "-s", "-c", "import json, os; assert os.getcwd()"]
            command = ["unshare", *unshare_flags(as_root), sys.executable, "-I", "-S", str(ENTER)]
            (Path(folder) / ".home").mkdir()
            env = {**os.environ, "HOME": str(Path(folder) / ".home")}
            try:
                done = subprocess.run(
                    [*command, json.dumps(spec)],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    check=False,
                    env=env,
                )
            except subprocess.TimeoutExpired:
                why = "a test sandbox did not start within 60 s"
                continue
            if done.returncode == 0:
                return command, ""
            why = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
    return None, why


@functools.cache
def probe_filter() -> tuple[str | None, str]:
    """Find whether sandboxed processes can run under the system-call filter: ``(binding's file, "")`` or
    ``(None, why not)``.

    Installs the filter once per process in a throw-away ``python -I -S syscalls.py`` (the way ``enter.py``
    loads it) and checks that the kernel applies it.
    """
    if not sys.platform.startswith("linux"):
        return None, f"seccomp needs Linux (this is {sys.platform})"
    spec = importlib.util.find_spec(BINDING)
    if spec is None or spec.origin is None:
        return None, f"the Python package {BINDING} is not installed"
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-S", str(SYSCALLS), spec.origin],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None, "installing a test filter took over 60 s"
    except OSError as error:  # this Python cannot even be started again (e.g. a folder we may not enter)
        return None, f"cannot run {sys.executable}: {error}"
    if done.returncode != 0:
        return None, (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
    return spec.origin, ""


def resolve(isolation: Isolation) -> list[str] | None:
    """The sandbox command prefix for ``isolation``, or None to run with rlimits only.

    Raises:
        Unavailable: strict mode on a machine without usable namespaces or system-call filter.
    """
    if isolation.mode == Mode.OFF:
        return None
    command, why = probe()
    if command is None and isolation.mode == Mode.STRICT:
        raise Unavailable(
            f"cannot isolate student code: {why}. Grading needs Linux namespaces (run as root, or enable "
            "unprivileged user namespaces: sysctl kernel.unprivileged_userns_clone=1 / "
            "kernel.apparmor_restrict_unprivileged_userns=0); --sandbox warn grades without them "
            "(unsafe: student code can then read solutions/ and the network)."
        )
    binding, why = probe_filter()
    if binding is None and isolation.mode == Mode.STRICT and not os.environ.get(UNFILTERED_BENCHMARK):
        raise Unavailable(
            f"cannot filter student code's system calls: {why}. Grading needs seccomp (a Linux kernel "
            "with CONFIG_SECCOMP_FILTER, as every distribution's), libseccomp (Debian/Ubuntu: apt install "
            f"libseccomp2; Fedora: dnf install libseccomp) and the pinned {BINDING} (pip install -r "
            "requirements.txt); --sandbox warn grades without it (unsafe: student code can then create "
            "user namespaces and reach bpf, io_uring, keyrings and other kernel interfaces)."
        )
    return command


def syscall_filter(isolation: Isolation) -> str | None:
    """The libseccomp binding's file the sandbox installs its filter with, or None to run without one."""
    if isolation.mode == Mode.OFF or os.environ.get(UNFILTERED_BENCHMARK):
        return None
    return probe_filter()[0]


def default_expose() -> tuple[str, ...]:
    """Host paths a notebook may read besides the system: the course data and the ``dlcourse`` package."""
    paths = []
    data = os.environ.get("DLCOURSE_DATA")
    if data and Path(data).is_dir():
        paths.append(data)
    spec = importlib.util.find_spec("dlcourse")
    if spec is not None and spec.submodule_search_locations:
        paths.extend(spec.submodule_search_locations)
    # Each path both as it is named (what the notebook is told, e.g. DLCOURSE_DATA) and as it resolves
    # (where a symlink on the way leads), so it is reachable inside the sandbox by either name.
    named = (str(Path(p).absolute()) for p in paths)
    return tuple(dict.fromkeys(q for p in named for q in (p, str(Path(p).resolve()))))


def die_with_parent() -> None:
    """Ask Linux to SIGKILL the calling process when its parent dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def environment(
    home: Path, env_passthrough: tuple[str, ...], nbgrader_execution: str, threads: int | None
) -> dict[str, str]:
    """The whole environment of a sandboxed process whose private HOME is ``home``: nothing of the
    grader's but :data:`BASE_ENV` and ``env_passthrough``.

    Args:
        home: the process's HOME (its IPython and Matplotlib folders go there too).
        env_passthrough: names of variables copied from this process.
        nbgrader_execution: ``NBGRADER_EXECUTION``, as nbgrader sets it (notebooks branch on it).
        threads: the numerical libraries' threads (:data:`THREAD_VARIABLES`; a value passed through from
            the grader's environment wins), or None for their default.
    """
    env = {key: os.environ[key] for key in (*BASE_ENV, *env_passthrough) if key in os.environ}
    env.update(
        HOME=str(home),
        IPYTHONDIR=str(home / ".ipython"),
        MPLCONFIGDIR=str(home / ".matplotlib"),
        MPLBACKEND="module://matplotlib_inline.backend_inline",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",
        NBGRADER_EXECUTION=nbgrader_execution,
    )
    if threads is not None:
        env.update({name: str(threads) for name in THREAD_VARIABLES if name not in env})
    return env


def rlimits(limits: Limits) -> list[tuple[int, int]]:
    """The per-process limits of a sandbox, as ``(resource, soft limit)`` pairs."""
    cpu = int(limits.submission_timeout * max(os.cpu_count() or 1, 1) + 60)
    return [
        (resource.RLIMIT_CPU, cpu),
        (resource.RLIMIT_AS, limits.memory_bytes),
        (resource.RLIMIT_FSIZE, limits.file_bytes),
        (resource.RLIMIT_NPROC, limits.max_processes),
        (resource.RLIMIT_CORE, 0),
    ]


def preexec(limits: Limits, group: cgroups.Cgroup | None, seccomp: ModuleType | None) -> None:
    """Run in the forked child before the sandbox's command: die with the grader, join the cgroup, set the
    rlimits and (without namespaces) install the system-call filter."""
    die_with_parent()
    if group is not None:
        group.join()  # before anything runs: every process the sandbox starts is counted
    for kind, value in rlimits(limits):
        _soft, hard = resource.getrlimit(kind)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(kind, (value, hard))
    if seccomp is not None:
        syscalls.install(seccomp)  # last: the runner is exec'd next (warn mode without namespaces)
