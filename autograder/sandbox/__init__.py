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

**Fork servers.** Started the plain way, each sandbox is ``unshare``, ``enter.py`` (a Python), ``setpriv`` and
``runner.py`` (another Python importing IPython, NumPy and the assignment's modules): about 0.2 CPU seconds
per sandbox for hw1, over 3 for the Keras homeworks, paid twice per student. A grading worker instead keeps a
:class:`ForkServer` (``zygote.py``): a process that imported those modules once, in the sandbox's environment,
and forks each sandbox, the student's and the verifier alike. The child puts on the same layers in the same
order (cgroup, rlimits, namespaces, ``enter.py``'s private root and ``pivot_root``, the filter, then the
capability and uid drop ``setpriv`` makes) before the job reaches it through its own pipes; the server never
holds a notebook, a test or a result. ``start(fork_server=...)`` uses one; every test of this package's
isolation runs both ways, and ``[execution] fork_server = false`` in ``autograder.toml`` starts a fresh
process per sandbox.

The package is split by responsibility, each module looking only down: :mod:`.isolation` (modes, limits,
probing, the namespace set-up, sweeping), :mod:`.protocol` (the message framing, shared with
``runner.py``), :mod:`.forkserver` (the grader's end of a fork server), :mod:`.process` (starting,
talking to and closing one sandboxed process) and
:mod:`.orchestration` (one notebook across the student's process and the verifier). Their public names are
re-exported here.
"""

from __future__ import annotations

from autograder.sandbox import (
    cgroups,
    forkserver,
    isolation,
    orchestration,
    plaindata,
    process,
    protocol,
    syscalls,
)
from autograder.sandbox.forkserver import ForkedProcess, ForkServer, ForkServerError
from autograder.sandbox.isolation import (
    BINDING,
    ENTER,
    RUNNER,
    SERVER_PREFIX,
    SYSCALLS,
    SYSTEM_PATHS,
    THREAD_VARIABLES,
    UNFILTERED_BENCHMARK,
    WORKDIR_PREFIX,
    Isolation,
    Limits,
    Mode,
    Role,
    Unavailable,
    default_expose,
    die_with_parent,
    probe,
    probe_filter,
    resolve,
    sweep,
    syscall_filter,
    unshare_flags,
)
from autograder.sandbox.orchestration import Cell, Execution, run_notebook
from autograder.sandbox.process import GARBLED, ExecutionStatus, Runner, Stop, start
from autograder.sandbox.protocol import MAX_MESSAGE_BYTES, MAX_MESSAGE_DEPTH

__all__ = [
    "BINDING",
    "ENTER",
    "GARBLED",
    "MAX_MESSAGE_BYTES",
    "MAX_MESSAGE_DEPTH",
    "RUNNER",
    "SERVER_PREFIX",
    "SYSCALLS",
    "SYSTEM_PATHS",
    "THREAD_VARIABLES",
    "UNFILTERED_BENCHMARK",
    "WORKDIR_PREFIX",
    "Cell",
    "Execution",
    "ExecutionStatus",
    "ForkServer",
    "ForkServerError",
    "ForkedProcess",
    "Isolation",
    "Limits",
    "Mode",
    "Role",
    "Runner",
    "Stop",
    "Unavailable",
    "cgroups",
    "default_expose",
    "die_with_parent",
    "forkserver",
    "isolation",
    "orchestration",
    "plaindata",
    "probe",
    "probe_filter",
    "process",
    "protocol",
    "resolve",
    "run_notebook",
    "start",
    "sweep",
    "syscall_filter",
    "syscalls",
    "unshare_flags",
]
