"""How a submission's code is isolated and limited: one fresh sandbox per submission.

This is the lowest layer that runs student code. Student code is untrusted: it may try to forge its grade,
read the hidden tests or other students' work, plant files that run later, kill the grader, or exhaust the
machine. :func:`start` launches ``runner.py`` (see its docstring for the protocol) behind these layers:

=================  ==========================================  =============================================
layer              what it stops                               what it needs
=================  ==========================================  =============================================
namespaces         network (no interface but a down loopback,  ``unshare`` (util-linux) and either real root
(``enter.py``)     127.0.0.1 included); the host filesystem    with ``CAP_SYS_ADMIN`` (CI) or unprivileged
                   (a new root of read-only binds: system,     user namespaces (``unshare -r``: most Linux
                   Python, data; repo, ``solutions/``,         laptops; off on some hardened kernels, e.g.
                   gradebook, other submissions, HOME and      Ubuntu 24.04's AppArmor restriction of
                   host ``/tmp`` simply do not exist);         unprivileged user namespaces)
                   leftovers (PID namespace: every process
                   dies with its init); signals to the grader
unprivileged uid   with real root, the runner runs as a fresh  ``setpriv`` and root; in a user namespace
                   uid (200000+, no account) without           it keeps uid 0 *of that namespace* with an
                   capabilities: it cannot remount, ptrace or  empty capability bounding set instead
                   signal its init or another sandbox, and
                   its process limit is its own
rlimits            memory (address space), processes, file     nothing (POSIX); ``RLIMIT_NPROC`` counts per
                   size, CPU seconds, core dumps               uid: the sandbox's own as root, the user's
                                                               (shared with the grader) in a user namespace
size-limited tmpfs disk fillers (working folder, ``/tmp``,     the mount namespace
                   ``/dev/shm``; gone with the namespace)
wall clock         loops, sleeping forever, ignored SIGINT:    nothing: enforced from here by ``SIGKILL`` to
                   the whole process group is killed at the    the process group (and so the namespace's
                   per-cell and per-submission limits          init, which takes everything with it)
cgroups            memory and processes of the whole sandbox   a writable cgroup (root, or a delegated
(``cgroups.py``)   (a forking memory bomb), on top of the      subtree); without one the rlimits are the
                   per-process rlimits                         limits and a note says so once per run
system-call        the kernel's attack surface: new user and   seccomp (every distribution kernel),
filter             other namespaces (``unshare``, ``clone``),  ``libseccomp.so.2`` (Debian ``libseccomp2``)
(``syscalls.py``)  mounts, keyrings, ``bpf``, ``perf_event``,  and the pinned ``pyseccomp`` binding; also
                   ``io_uring``, ``userfaultfd``, ``ptrace``,  on in warn mode without namespaces (then set
                   modules, ``kexec``, clocks… (Docker's       up by the grader just before the runner
                   default profile, ``EPERM``)                 starts)
=================  ==========================================  =============================================

**Where a layer is missing.** The namespace layer is probed once per process (:func:`probe`, a real sandbox
is started), and so is the system-call filter (:func:`probe_filter`, installed in a throw-away process).
``isolation="strict"`` (the default) refuses to grade when either fails (:class:`Unavailable`, with the
reason and how to fix it); ``"warn"`` grades with what there is (rlimits and timeouts at least) and says so
loudly on stderr for every submission; ``"off"`` is only for a student's self-check of their own notebook.
Only a benchmark turns the filter off where it works (``AUTOGRADER_BENCHMARK_NO_SYSCALL_FILTER=1`` in the
grader's environment, never reachable from a notebook), and every submission then says so on stderr.

**Verdicts are computed where student code never ran.** Whatever the student's process reports can be
forged: its code can replace ``sys.excepthook`` or IPython's traceback display, register input or AST
transformers that empty later cells, monkeypatch ``numpy``/``math``/``dlcourse.gradcheck`` so every
comparison passes, or write fake results on its own result pipe. So a submission runs in *two* sandboxes
(:func:`run_notebook`, started with ``role="student"`` and ``role="verifier"``):

1. the student's process runs the answer cells, the instructor's set-up cells and any cell the student
   added, in order; test cells never run there, so their code (hidden tests included) never enters it;
2. the verifier, a fresh process that never runs student code, first runs the instructor's imports and
   definitions taken from the *source* notebook (so ``np``, ``keras`` or ``check_gradient`` in a test are its
   own), then each test cell when its turn comes. A name a test uses and did not define is fetched from
   the student's process; a student function arrives as a proxy whose call is a request ("call ``sigmoid``
   with this array"). Requests and answers travel through the grader (this module), which checks their
   framing and sizes, and carry plain data only (``plaindata.py``: JSON, ``.npz`` arrays loaded with
   ``allow_pickle=False``, Keras models as configuration + weights rebuilt in Keras's safe mode, never
   pickles or code). A model's configuration is the student's to write, and safe mode still lets it call
   any exported Keras function (``keras.config.set_floatx``, dataset loaders...) while it is rebuilt: the
   verifier rebuilds it only if every class, function and name in it is on the assignment's allow-list
   (``models``, from ``[models]`` in ``autograder.toml``, sent by :func:`run_notebook`) and a functional
   model's layers are called on its tensors only, checked on the JSON before anything is deserialized;
   otherwise the test gets a ``TransferError`` naming what was refused. Each rebuild and each test cell
   start from the Keras settings and random state the set-up left (``plaindata.KerasState``);
3. only the verifier's outputs fill the test cells, and ``score`` reads verdicts from them alone. A student
   process can then only lie about its own return values, which is the same as a wrong answer; a
   look-alike value (a ``float`` subclass equal to everything) arrives unusable; a message it forges on its
   pipe breaks the protocol and ends its run.

What the student's functions print while a test calls them is dropped (it could echo hidden inputs). Test
code sees the student's values as copies taken when first used in that cell (a test that mutates an
argument does not see the change in the student's process), and values a test defines are not visible to
later answer cells.

Cost: the verifier warms up with the modules the set-up imports (Keras for the Keras homeworks) and runs
the set-up while the student's first cells run; it is awaited only before the first test cell. Measured
with ``bench/sandbox_overhead.py`` and ``bench/grading.py``, a hw1 or hw2 batch takes about as long as
with the tests in the student's process. The system-call filter costs each sandboxed process the loading
of libseccomp and its binding in ``enter.py`` (15 ms at best, median 40 ms at load average 5 on 2 cores;
most of it importing ``ctypes.util``) and 2-6 ms to compile and load the filter; the calls it checks cost
nothing measurable in a batch (hw2, 4 solutions at ``--workers 2`` in A-B-B-A order on a machine loaded by
others, load average 6-17: 179 s with the filter, 167 s without, runs of one variant differing by 42 s).

A process can be started before its job is known (:func:`start`, then :func:`run_notebook`), which lets a
worker keep warm sandboxes (a student's and a verifier) ready while it finishes the previous submission.
The pipeline only sees :class:`Execution`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import importlib.util
import json
import os
import resource
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from autograder.sandbox import cgroups, syscalls
from autograder.sandbox.plaindata import ModelAllowList

RUNNER = Path(__file__).with_name("runner.py")
ENTER = Path(__file__).with_name("enter.py")
SYSCALLS = Path(__file__).with_name("syscalls.py")
BINDING = "pyseccomp"  # the libseccomp binding (requirements.txt), loaded by path inside the sandbox
UNFILTERED_BENCHMARK = "AUTOGRADER_BENCHMARK_NO_SYSCALL_FILTER"
_BASE_ENV = ("PATH", "LANG", "LC_ALL", "TZ")
MODES = ("strict", "warn", "off")
MAX_MESSAGE_BYTES = 128 * 1024**2  # one result message (a cell's outputs); more is an attack
MAX_MESSAGE_DEPTH = 100  # nesting of one message (plain data nests at most 64 levels, plus the envelope)
UID_BASE, UID_RANGE = 200_000, 800_000  # unprivileged uids with no account (no files outside a sandbox)
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
# The thread pools of NumPy's BLAS, OpenMP and TensorFlow (intra- and inter-op), sized by ``threads``.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
)  # fmt: skip


WORKDIR_PREFIX = "autograder-"


@functools.cache
def _note_once(text: str) -> None:
    print(text, file=sys.stderr)


def sweep() -> int:
    """Remove working folders and cgroups left by graders that were killed (SIGKILL); return how many."""
    removed = cgroups.sweep()
    for folder in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*-*"):
        pid = folder.name[len(WORKDIR_PREFIX) :].split("-")[0]
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

    def for_role(self, role: str) -> Limits:
        """The limits of the ``"student"``'s or the ``"verifier"``'s sandbox (its own memory limits)."""
        if role != "verifier":
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
        return self.resident_cap + self.for_role("verifier").resident_cap


@dataclass(frozen=True)
class Isolation:
    """How strongly submissions are isolated (see the module docstring).

    Attributes:
        mode: ``"strict"`` (refuse without namespaces), ``"warn"`` (grade anyway, loudly) or ``"off"``.
        expose: host paths the student may read (besides the system and Python), e.g. the data folder.
    """

    mode: str = "strict"
    expose: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown sandbox mode {self.mode!r}; choose one of {', '.join(MODES)}")


def _unshare_flags(as_root: bool) -> list[str]:
    flags = ["--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child"]
    return flags if as_root else [*flags, "--user", "--map-root-user"]


def _spec(workdir: Path, expose: tuple[str, ...], limits: Limits, as_root: bool, binding: str | None) -> dict:
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
            spec = _spec(Path(folder), default_expose(), Limits(), as_root, probe_filter()[0])
            spec["argv"] = [sys.executable, "-s", "-c", "import json, os; assert os.getcwd()"]
            command = ["unshare", *_unshare_flags(as_root), sys.executable, "-I", "-S", str(ENTER)]
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
    if isolation.mode == "off":
        return None
    command, why = probe()
    if command is None and isolation.mode == "strict":
        raise Unavailable(
            f"cannot isolate student code: {why}. Grading needs Linux namespaces (run as root, or enable "
            "unprivileged user namespaces: sysctl kernel.unprivileged_userns_clone=1 / "
            "kernel.apparmor_restrict_unprivileged_userns=0); --sandbox warn grades without them "
            "(unsafe: student code can then read solutions/ and the network)."
        )
    binding, why = probe_filter()
    if binding is None and isolation.mode == "strict" and not os.environ.get(UNFILTERED_BENCHMARK):
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
    if isolation.mode == "off" or os.environ.get(UNFILTERED_BENCHMARK):
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


@dataclass
class Execution:
    """What happened when a notebook's code cells ran.

    Attributes:
        outputs: nbformat output dicts per executed cell index.
        execution_counts: execution count per executed cell index.
        status: ``"finished"``, ``"cell-timeout"``, ``"submission-timeout"``, ``"died"`` (the notebook's
            process stopped) or ``"sandbox-error"`` (the grading machinery failed: nothing to score).
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


@dataclass(frozen=True)
class Cell:
    """A code cell to run: its notebook index, its source, and whether it is a test (run by the verifier)."""

    index: int
    source: str
    test: bool = False


def die_with_parent() -> None:
    """Ask Linux to SIGKILL the calling process when its parent dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _preexec(limits: Limits, group: cgroups.Cgroup | None, seccomp: ModuleType | None) -> None:
    die_with_parent()
    if group is not None:
        group.join()  # before anything runs: every process the sandbox starts is counted
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
    if seccomp is not None:
        syscalls.install(seccomp)  # last: the runner is exec'd next (warn mode without namespaces)


def _deeper_than(value: object, limit: int) -> bool:
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


class _Stop(Exception):
    """Execution ends early: ``status`` and ``detail`` as in :class:`Execution`.

    ``"sandbox-error"`` is a failure of the grading machinery, not of the notebook: a sandbox that did not
    start, the verifier's set-up failing, or the verifier process dying. The submission is then *failed*
    with the reason (never a silent zero).
    """

    def __init__(self, status: str, detail: str) -> None:
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
        isolation: Isolation = Isolation(),
        role: str = "student",
        nbgrader_execution: str = "autograde",
        threads: int | None = None,
    ) -> None:
        limits = limits.for_role(role)
        self.limits = limits
        self.role = role
        self.prefix = resolve(isolation)
        binding = syscall_filter(isolation)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))
        self.cgroup: cgroups.Cgroup | None = None
        if isolation.mode != "off":
            self.cgroup, why = cgroups.create(limits.resident_cap, limits.max_processes)
            if self.cgroup is None:
                _note_once(
                    f"note: autograder: {why}; memory and process limits apply per process (rlimits), "
                    "not to a sandbox as a whole"
                )
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
            AUTOGRADER_ROLE=role,
            NBGRADER_EXECUTION=nbgrader_execution,  # as nbgrader sets it; notebooks branch on it
        )
        if threads is not None:  # a value passed through from the grader's environment wins
            env.update({name: str(threads) for name in THREAD_VARIABLES if name not in env})
        read_fd, write_fd = os.pipe()
        env["AUTOGRADER_FD"] = str(write_fd)
        self._log = open(self.workdir / ".runner.log", "wb")
        if isolation.mode != "off" and binding is None and role == "student":
            why = probe_filter()[1] or f"{UNFILTERED_BENCHMARK} is set"
            print(
                f"WARNING: autograder: student code runs WITHOUT the system-call filter ({why}); it can "
                "create user namespaces and reach bpf, io_uring, keyrings and other kernel interfaces.",
                file=sys.stderr,
            )
        seccomp = None
        if self.prefix is None:
            command = [sys.executable, "-s", str(RUNNER)]
            if isolation.mode == "warn" and role == "student":
                print(
                    "WARNING: autograder: student code runs WITHOUT a sandbox (no namespaces: "
                    f"{probe()[1]}); it can read solutions/, other submissions and the network.",
                    file=sys.stderr,
                )
            if binding is not None:
                seccomp = importlib.import_module(BINDING)  # installed by _preexec, just before the runner
        else:
            as_root = "--user" not in self.prefix
            spec = _spec(self.workdir, isolation.expose, limits, as_root, binding)
            command = [*self.prefix, json.dumps(spec)]
        try:
            self.process = subprocess.Popen(
                command,
                cwd=self.workdir,
                env=env,
                stdin=subprocess.PIPE,
                stdout=self._log,
                stderr=self._log,
                pass_fds=(write_fd,),
                start_new_session=True,
                preexec_fn=lambda: _preexec(limits, self.cgroup, seccomp),
            )
        finally:
            os.close(write_fd)
        self._read_fd = read_fd
        self._buffer = bytearray()
        self._selector = selectors.DefaultSelector()
        self._selector.register(read_fd, selectors.EVENT_READ)
        self._ready = False

    def _fill(self, size: int, deadline: float) -> bool:
        """Read until the buffer holds ``size`` bytes; False on deadline or end of pipe."""
        while len(self._buffer) < size:
            remaining = max(deadline - time.monotonic(), 0.0)  # 0: take only what is already there
            if not self._selector.select(timeout=remaining):
                return False
            chunk = os.read(self._read_fd, 1 << 20)
            if not chunk:
                return False
            self._buffer += chunk
        return True

    def _next_message(self, deadline: float) -> tuple[dict, bytes] | None:
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
            message = json.loads(line)
        except (ValueError, UnicodeDecodeError, RecursionError):  # bad JSON, huge integers, deep nesting
            return {"event": "garbled"}, b""
        nested = line.count(b"[") + line.count(b"{") > MAX_MESSAGE_DEPTH  # cheap: could it be too deep?
        if not isinstance(message, dict) or (nested and _deeper_than(message, MAX_MESSAGE_DEPTH)):
            return {"event": "garbled"}, b""
        size = message.get("blob", 0)
        if type(size) is not int or not 0 <= size <= self.limits.transfer_bytes:
            return {"event": "garbled"}, b""
        if size and not self._fill(size, deadline):
            return None
        blob = bytes(self._buffer[:size])
        del self._buffer[:size]
        return message, blob

    def send(self, message: dict, blob: bytes = b"") -> None:
        """Write one command (and its blob) to the process.

        Raises:
            _Stop: the process is gone.
        """
        if blob:
            message = {**message, "blob": len(blob)}
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps(message).encode() + b"\n" + blob)
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise _Stop(self._died, self._death_detail()) from None

    def receive(self, deadline: float, timeout: tuple[str, str]) -> tuple[dict, bytes]:
        """The next message; a missed ``deadline`` raises :class:`_Stop` with ``timeout``, a dead process
        or an unreadable message with the reason."""
        received = self._next_message(deadline)
        if received is None:
            if time.monotonic() >= deadline:
                raise _Stop(*timeout)
            raise _Stop(self._died, self._death_detail())
        if received[0].get("event") == "garbled":
            raise _Stop(
                self._died, GARBLED if self.role == "student" else "the test process sent an unreadable reply"
            )
        return received

    @property
    def _died(self) -> str:
        """The status when this process stops unexpectedly: the notebook's fault, or the grader's."""
        return "died" if self.role == "student" else "sandbox-error"

    def poll_ready(self) -> bool:
        """Whether the warm-up has ended, without waiting."""
        if not self._ready:
            received = self._next_message(time.monotonic())
            if received is None:
                return False
            if received[0].get("event") != "ready":
                raise _Stop("sandbox-error", f"the sandbox did not start: {self._log_tail()}")
            self._ready = True
        return True

    def wait_ready(self) -> None:
        """Wait (at most ``startup_timeout``) for the process's warm-up to end."""
        if self._ready:
            return
        limit = self.limits.startup_timeout
        try:
            message, _ = self.receive(
                time.monotonic() + limit, ("died", f"the sandbox did not start within {limit:g} s")
            )
        except _Stop as stop:
            raise _Stop("sandbox-error", f"{stop.detail}: {self._log_tail()}") from None
        if message.get("event") != "ready":
            raise _Stop("sandbox-error", f"the sandbox did not start: {self._log_tail()}")
        self._ready = True

    def run(self, cells: list[tuple[int, str]]) -> Execution:
        """Run code cells ``(index, source)`` in order as the student's, then stop the process.

        Args:
            cells: the code cells to execute, with their notebook indices.

        Returns:
            The outputs of every cell that finished and how execution ended.
        """
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
        return "the notebook's process" if self.role == "student" else "the test process"

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
        if self.cgroup is not None:
            self.cgroup.remove()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start(
    *,
    limits: Limits,
    env_passthrough: tuple[str, ...] = (),
    preload: tuple[str, ...] = (),
    isolation: Isolation = Isolation(),
    role: str = "student",
    nbgrader_execution: str = "autograde",
    threads: int | None = None,
) -> Runner:
    """Start a sandboxed runner process that warms up and waits for its job.

    Args:
        limits: resource and time limits.
        env_passthrough: names of environment variables copied from this process.
        preload: modules imported before the job arrives (e.g. ``numpy``).
        isolation: the sandbox mode and the extra host paths the notebook may read.
        role: ``"student"`` (runs the notebook's code) or ``"verifier"`` (runs its tests, see the module
            docstring).
        nbgrader_execution: the value of ``NBGRADER_EXECUTION`` in the process, as nbgrader sets it:
            ``"autograde"`` when grading, ``"validate"`` for a student's self-check.
        threads: threads the process's numerical libraries may use (:data:`THREAD_VARIABLES`; ``None``:
            their default, one per core). Workers grading side by side share the cores this way instead
            of each sizing its pools for the whole machine.

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
    )


_MAX_NAMES = 10_000  # names one cell may report as changed
_MAX_ERROR_CHARS = 4_000


def _relay(
    request: dict, blob: bytes, student: Runner, deadline: float, timeout: tuple[str, str]
) -> tuple[dict, bytes]:
    """Forward one verifier request to the student's process; return its (checked) reply to the verifier."""
    op = request.get("op")
    ident = request.get("id")
    if op == "get" and isinstance(request.get("name"), str):
        student.send({"op": "get", "id": ident, "name": request["name"]})
    elif op == "call" and type(request.get("ref")) is int:
        student.send({"op": "call", "id": ident, "ref": request["ref"], "args": request.get("args")}, blob)
    elif op == "names":
        student.send({"op": "names", "id": ident})
    elif op == "delete" and isinstance(request.get("name"), str):
        student.send({"op": "delete", "id": ident, "name": request["name"]})
    elif op == "import" and all(isinstance(request.get(k), str) for k in ("name", "module", "attribute")):
        student.send({"op": "import", **{k: request[k] for k in ("id", "name", "module", "attribute")}})
    elif op == "unhonoured" and isinstance(request.get("name"), str):
        reason = str(request.get("reason", ""))[:_MAX_ERROR_CHARS]
        student.send({"op": "unhonoured", "id": ident, "name": request["name"], "reason": reason})
    elif op == "set" and isinstance(request.get("name"), str):
        student.send({"op": "set", "id": ident, "name": request["name"], "args": request.get("args")}, blob)
    else:
        raise _Stop("sandbox-error", "the test process sent an unknown request")
    reply, reply_blob = student.receive(deadline, timeout)
    if reply.get("event") != "reply" or reply.get("id") != ident:
        raise _Stop("died", GARBLED)
    answer: dict = {"op": "reply", "id": ident}
    if "error" in reply:
        answer["error"] = str(reply["error"])[:_MAX_ERROR_CHARS]
    else:
        answer["value"] = reply.get("value")
    verifier_blob = reply_blob if "value" in answer else b""
    return answer, verifier_blob


def _await_done(process: Runner, index: int, deadline: float, timeout: tuple[str, str]) -> dict:
    """Wait for a student cell's ``done`` (a ``start`` may come first)."""
    while True:
        message, _ = process.receive(deadline, timeout)
        event = message.get("event")
        if event == "start" and message.get("index") == index:
            continue
        if event == "done" and message.get("index") == index and isinstance(message.get("outputs"), list):
            return message
        raise _Stop(
            process._died,
            GARBLED if process.role == "student" else "the test process sent an unexpected message",
        )


def _await_prelude(verifier: Runner) -> None:
    """Wait for the verifier's set-up (the instructor's imports and definitions) to have run cleanly."""
    deadline = time.monotonic() + verifier.limits.startup_timeout
    done = _await_done(verifier, -1, deadline, ("sandbox-error", "the tests' set-up timed out"))
    errors = [o for o in done["outputs"] if o.get("output_type") == "error"]
    if errors:
        detail = f"{errors[0].get('ename')}: {errors[0].get('evalue')}"
        raise _Stop("sandbox-error", f"the tests' set-up failed: {detail}")


def run_notebook(
    student: Runner,
    cells: list[Cell],
    *,
    verifier: Runner | None = None,
    prelude: str = "",
    files: dict[str, bytes] | None = None,
    test_files: dict[str, bytes] | None = None,
    models: ModelAllowList | None = None,
) -> Execution:
    """Run a notebook's code cells in order, then stop both processes.

    Cells that are not tests run in ``student``; test cells run in ``verifier`` (which first runs
    ``prelude``, the instructor's imports and definitions), asking ``student`` for values and calls through
    this process (see the module docstring). Errors in a cell do not stop later cells; time limits (per cell,
    counting the student's time spent answering a test, and per submission) and a dead process do.

    Args:
        student: the student's started process.
        cells: the code cells, in notebook order.
        verifier: the verifier's started process; required when a cell is a test.
        prelude: source the verifier runs before the first test.
        files: files to put in the student's working folder first (relative path: content).
        test_files: files to put in the verifier's working folder (the assignment's data files).
        models: what a Keras model fetched from ``student`` may use to be rebuilt in ``verifier`` (None:
            no model is rebuilt there).

    Returns:
        The outputs of every cell that finished and how execution ended.
    """
    result = Execution()
    start = time.monotonic()
    current: int | None = None
    try:
        student.wait_ready()
        for name, data in (files or {}).items():
            student.send({"op": "file", "name": name}, data)
        # The verifier warms up and runs its set-up while the student's first cells run; both are
        # awaited before the first test cell only.
        verifier_state = "starting" if verifier is not None else "none"

        def advance_verifier(wait: bool) -> None:
            nonlocal verifier_state
            assert verifier is not None
            if verifier_state == "starting" and (verifier.poll_ready() or wait):
                verifier.wait_ready()
                for name, data in (test_files or {}).items():
                    verifier.send({"op": "file", "name": name}, data)
                if models is not None:
                    verifier.send({"op": "models", "allow": models.describe()})
                if prelude.strip():
                    verifier.send({"op": "prelude", "source": prelude})
                verifier_state = "set-up" if prelude.strip() else "ready"
            if verifier_state == "set-up" and wait:
                _await_prelude(verifier)
                verifier_state = "ready"

        start = time.monotonic()
        limits = student.limits
        submission_deadline = start + limits.submission_timeout
        stale: set[str] = set()
        for count, cell in enumerate(cells, start=1):
            current = cell.index
            if cell.test:
                if verifier is None:
                    raise ValueError("a test cell needs a verifier process")
                advance_verifier(wait=True)  # its set-up's time is not the test's
            now = time.monotonic()
            cell_deadline = now + limits.cell_timeout
            deadline = min(cell_deadline, submission_deadline)
            timeout = (
                ("cell-timeout", f"a cell exceeded the {limits.cell_timeout:g} s limit per cell")
                if cell_deadline < submission_deadline
                else (
                    "submission-timeout",
                    f"the notebook exceeded the {limits.submission_timeout:g} s limit per submission",
                )
            )
            if not cell.test:
                if verifier_state == "starting":
                    advance_verifier(wait=False)
                student.send({"op": "run", "index": cell.index, "source": cell.source})
                done = _await_done(student, cell.index, deadline, timeout)
                changed = done.get("changed", [])
                if isinstance(changed, list) and len(changed) <= _MAX_NAMES:
                    stale.update(n for n in changed if isinstance(n, str))
            else:
                assert verifier is not None
                verifier.send(
                    {"op": "test", "index": cell.index, "source": cell.source, "stale": sorted(stale)}
                )
                stale = set()
                while True:
                    message, blob = verifier.receive(deadline, timeout)
                    event = message.get("event")
                    if event == "request":
                        verifier.send(*_relay(message, blob, student, deadline, timeout))
                    elif event == "done" and message.get("index") == cell.index:
                        done = message
                        break
                    elif event != "start":
                        raise _Stop("sandbox-error", "the test process sent an unexpected message")
            result.outputs[cell.index] = list(done.get("outputs", []))
            result.execution_counts[cell.index] = count
            current = None
    except _Stop as stop:
        result.status, result.detail, result.stopped_at = stop.status, stop.detail, current
    finally:
        result.seconds = time.monotonic() - start
        student.close()
        if verifier is not None:
            verifier.close()
    return result
