"""The system-call filter every sandboxed process runs under (seccomp-bpf, built by libseccomp).

The profile followed is **Docker's default seccomp profile** (moby ``profiles/seccomp/default.json``) for a
container *without* ``CAP_SYS_ADMIN``: the calls that profile refuses there are refused here, and a few it
allows are refused too because no homework needs them (``ptrace``, ``process_vm_readv``/``writev``,
``io_uring_*``, ``adjtimex``, ``clock_adjtime``, ``name_to_handle_at``). Docker's profile is an allow-list;
this one is a deny-list over an allowed default, so a call the list does not name (a new or obscure one)
stays allowed, as it would without a filter. A refused call fails with ``EPERM`` (a readable
``PermissionError`` in Python), never by killing the process:

* :data:`DENIED`: always refused (new namespaces through ``unshare``/``setns``, mounts, kernel keyrings,
  ``bpf``, ``perf_event_open``, ``userfaultfd``, ``io_uring``, tracing other processes, ``kexec``, kernel
  modules, ``reboot``, swap, accounting, setting the clocks, file handles, quotas, the kernel log…);
* ``clone`` with any ``CLONE_NEW*`` namespace flag (threads and ``fork`` are ``clone`` without them);
* ``clone3`` answers ``ENOSYS``: its flags sit in memory a filter cannot read, and C libraries fall back to
  ``clone`` on ``ENOSYS``, whose flags it can;
* ``personality`` other than Docker's values (0, ``PER_LINUX32``, ``UNAME26``, both, and the query
  ``0xffffffff``), and ``socket(AF_VSOCK)`` (vsock reaches a virtual machine's host whatever the network
  namespace).

The filter also covers the native architecture's 32-bit system-call tables (x86 and x32 on x86_64, arm on
aarch64); a call through any other table kills the process. It is loaded with ``no_new_privs``, is inherited
by every child and cannot be removed: a later filter can only refuse more.

This file uses only the standard library and receives the binding as a module: ``enter.py`` (run with
``python -I -S``, so without site-packages) loads both by path with :func:`load_binding`. The binding is
``pyseccomp`` (a ctypes binding to the system's ``libseccomp.so.2`` with the same API as libseccomp's own
Python module, which exists only as a compiled extension for a distribution's Python). Run as
``python -I -S syscalls.py BINDING`` it installs the filter in itself and checks that it works (the grader's
probe, :func:`autograder.sandbox.probe_filter`).
"""

from __future__ import annotations

import ctypes
import errno
import importlib.util
import os
import platform
import sys
from types import ModuleType
from typing import Any

DENIED = (
    # namespaces (clone and clone3: see build)
    "unshare", "setns",
    # filesystems and mounts
    "mount", "umount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick",
    "move_mount", "open_tree", "mount_setattr", "open_by_handle_at", "name_to_handle_at", "quotactl",
    "quotactl_fd", "lookup_dcookie", "nfsservctl", "fanotify_init",
    # kernel keyrings, eBPF, performance counters, page-fault handling, io_uring
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    # other processes' memory and file descriptors
    "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "pidfd_getfd", "kcmp",
    # the kernel itself: modules, kexec, reboot, swap, accounting, log, hardware ports, names, 16-bit mode
    "init_module", "finit_module", "delete_module", "create_module", "kexec_load", "kexec_file_load",
    "reboot", "swapon", "swapoff", "acct", "syslog", "iopl", "ioperm", "vhangup", "sethostname",
    "setdomainname", "uselib", "vm86", "vm86old", "_sysctl",
    # clocks
    "settimeofday", "stime", "clock_settime", "clock_adjtime", "adjtimex",
)  # fmt: skip
# CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET
CLONE_NEW_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)
AF_VSOCK = 40
# personality(2) values Docker allows: PER_LINUX, PER_LINUX32, UNAME26, UNAME26 | PER_LINUX32, and the query.
PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
COMPANIONS = {"x86_64": ("X86", "X32"), "aarch64": ("ARM",)}  # 32-bit tables of the native architecture
LOW_32 = 0xFFFFFFFF


def load_binding(path: str) -> ModuleType:
    """Import the libseccomp binding from its file (no ``sys.path`` needed).

    Raises:
        ImportError: the file is not a loadable module.
        RuntimeError, OSError: libseccomp itself is missing or unloadable.
    """
    spec = importlib.util.spec_from_file_location("pyseccomp", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"not a Python module: {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["pyseccomp"] = module
    spec.loader.exec_module(module)
    return module


def _personality_rules(seccomp: ModuleType) -> list[tuple]:
    """Masked tests whose union is "the low 32 bits are not one of :data:`PERSONALITIES`".

    libseccomp cannot compare one argument twice in a rule, so: a bit outside 0x20008 set with bit 0
    clear, or bit 0 set with another bit clear (only 0xffffffff has none). The kernel reads 32 bits.
    """
    allowed = PERSONALITIES[-2]  # 0x20008: the bits a settable value may have
    rules = [(1 << b | 1, 1 << b) for b in range(1, 32) if not allowed & 1 << b]
    rules += [(1 << b | 1, 1) for b in range(1, 32)]
    return [seccomp.Arg(0, seccomp.MASKED_EQ, mask, value) for mask, value in rules]


def build(seccomp: ModuleType) -> Any:
    """The filter (not loaded yet): allow by default, refuse what the module docstring lists.

    Args:
        seccomp: the binding module (``pyseccomp`` or libseccomp's own ``seccomp``).

    Raises:
        OSError: libseccomp refused a rule (for instance a library too old to know a denied call).
        ValueError: a denied call's name is unknown to the library.
    """
    deny = seccomp.ERRNO(errno.EPERM)
    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    rules.set_attr(seccomp.Attr.ACT_BADARCH, seccomp.KILL_PROCESS)
    for name in COMPANIONS.get(platform.machine(), ()):
        try:
            rules.add_arch(getattr(seccomp.Arch, name))
        except OSError as error:
            if error.errno != errno.EEXIST:
                raise
    for name in DENIED:
        number = seccomp.resolve_syscall(seccomp.Arch.NATIVE, name)
        if number == -1:  # __NR_SCMP_ERROR: a name the library does not know (negative: not on this arch)
            raise ValueError(f"libseccomp does not know the system call {name} (too old a libseccomp)")
        rules.add_rule(deny, number)
    for flag in CLONE_NEW_FLAGS:
        rules.add_rule(deny, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    for test in _personality_rules(seccomp):
        rules.add_rule(deny, "personality", test)
    rules.add_rule(deny, "socket", seccomp.Arg(0, seccomp.MASKED_EQ, LOW_32, AF_VSOCK))
    return rules


def install(seccomp: ModuleType) -> None:
    """Load the filter into this process (``no_new_privs`` is set first); every child inherits it.

    Raises:
        OSError: the kernel refused it (no seccomp filter support) or libseccomp refused a rule.
        ValueError: the library does not know a denied call.
    """
    rules = build(seccomp)
    rules.set_attr(seccomp.Attr.CTL_NNP, 1)
    rules.load()


def check() -> str:
    """Why this process is not filtered as :func:`install` promises ("" when it is)."""
    with open("/proc/self/status", encoding="ascii") as status:
        fields = dict(line.split(":", 1) for line in status.read().splitlines() if ":" in line)
    if fields.get("Seccomp", "").strip() != "2" or fields.get("NoNewPrivs", "").strip() != "1":
        return "the kernel did not apply the filter (no seccomp filter mode in /proc/self/status)"
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x10000000) == 0 or ctypes.get_errno() != errno.EPERM:  # CLONE_NEWUSER
        return f"unshare(CLONE_NEWUSER) was not refused: {os.strerror(ctypes.get_errno())}"
    return ""


def main() -> int:
    """``syscalls.py BINDING``: install the filter here, then report whether it works (exit 0 or 1)."""
    try:
        install(load_binding(sys.argv[1]))
    except (ImportError, RuntimeError, OSError, ValueError) as error:
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return 1
    why = check()
    if why:
        print(why, file=sys.stderr)
    return 1 if why else 0


if __name__ == "__main__":
    sys.exit(main())
