"""One control group per sandbox: a memory and a process limit shared by everything the notebook starts.

``RLIMIT_AS`` bounds each process, so a notebook that forks could use ``max_processes`` times its memory
limit; a cgroup bounds the whole sandbox. :func:`create` makes a group next to the grader's own (cgroup v2:
``memory.max``, ``pids.max``; v1: the ``memory`` and ``pids`` hierarchies, ``memory.limit_in_bytes`` and
``memory.memsw.limit_in_bytes`` when swap accounting exists), and the sandbox's first process joins it
before it runs anything (:meth:`Cgroup.join`, called between ``fork`` and ``exec``), so every process it
starts is counted. When the memory of the group is exhausted the kernel's OOM killer ends a process in it,
never one outside.

Creating groups needs write access to the cgroup filesystem: root (CI, containers with a writable
``/sys/fs/cgroup``) or a delegated subtree (systemd gives users one under ``user@UID.service``, but only
with ``Delegate=yes`` for the grader's unit). Where none is writable :func:`create` returns None with the
reason and the rlimits remain the only memory and process limits; the grader says so once per run.

Groups are named ``autograder-<grader pid>-<random>``; :func:`sweep` removes those whose grader is gone
(a grader killed with SIGKILL cannot clean up after itself).
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PREFIX = "autograder-"


def _own_paths() -> dict[str, str]:
    """This process's cgroup per v1 controller (``memory``, ``pids``) or ``v2``, from /proc/self/cgroup."""
    paths: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return paths
    for line in lines:
        _id, controllers, path = line.split(":", 2)
        if controllers == "":
            paths["v2"] = path
        for name in controllers.split(","):
            if name in ("memory", "pids"):
                paths[name] = path
    return paths


@functools.cache
def parents() -> tuple[tuple[Path, ...], str]:
    """Where sandbox groups go: ``((folder, ...), "")`` or ``((), why not)``.

    v2 needs one folder whose ``cgroup.subtree_control`` enables ``memory`` and ``pids``; v1 needs a
    writable folder in both the ``memory`` and the ``pids`` hierarchy.
    """
    own = _own_paths()
    v1 = [ROOT / name / own[name].lstrip("/") for name in ("memory", "pids") if name in own]
    if len(v1) == 2 and all(_writable(p) for p in v1):
        return tuple(v1), ""
    for mount in (ROOT, ROOT / "unified"):
        if "v2" not in own or not (mount / "cgroup.controllers").exists():
            continue
        folder = mount / own["v2"].lstrip("/")
        enabled = _read(folder / "cgroup.subtree_control").split()
        if {"memory", "pids"} <= set(enabled) and _writable(folder):
            return (folder,), ""
    if v1:
        return (), "the cgroup v1 memory/pids folders of this process are not writable (run as root)"
    return (), "no writable cgroup with the memory and pids controllers (run as root, or delegate a subtree)"


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _writable(folder: Path) -> bool:
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


@dataclass
class Cgroup:
    """A sandbox's group (one folder per hierarchy)."""

    folders: tuple[Path, ...]

    def join(self) -> None:
        """Move the calling process into the group (called in the child before ``exec``)."""
        pid = str(os.getpid()).encode()
        for folder in self.folders:
            fd = os.open(folder / "cgroup.procs", os.O_WRONLY)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of the group for lack of memory."""
        for folder in self.folders:
            events = _read(folder / "memory.events")
            for line in events.splitlines():
                name, _, count = line.partition(" ")
                if name == "oom_kill" and count.strip() not in ("", "0"):
                    return True
            if _read(folder / "memory.failcnt").strip() not in ("", "0"):
                return True
        return False

    def remove(self) -> None:
        """Kill what is left in the group and delete it."""
        for folder in self.folders:
            for _attempt in range(50):
                for pid in _read(folder / "cgroup.procs").split():
                    with contextlib.suppress(ProcessLookupError, PermissionError, ValueError):
                        os.kill(int(pid), 9)
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)  # processes still exiting


def create(memory_bytes: int, max_processes: int) -> tuple[Cgroup | None, str]:
    """A new group with these limits, or ``(None, why not)``."""
    found, why = parents()
    if not found:
        return None, why
    name = f"{PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    made: list[Path] = []
    try:
        for parent in found:
            folder = parent / name
            folder.mkdir()
            made.append(folder)
            files = {
                "memory.max": memory_bytes,  # v2
                "memory.swap.max": 0,
                "pids.max": max_processes,
                "memory.limit_in_bytes": memory_bytes,  # v1
                "memory.memsw.limit_in_bytes": memory_bytes,
            }
            for file, value in files.items():
                if (folder / file).exists():
                    (folder / file).write_text(str(value))
    except OSError as error:
        Cgroup(tuple(made)).remove()
        return None, f"could not create a cgroup: {error}"
    return Cgroup(tuple(made)), ""


def sweep() -> int:
    """Remove groups (and nothing else) left by graders that no longer run; return how many."""
    found, _why = parents()
    removed = 0
    for parent in found:
        for folder in parent.glob(f"{PREFIX}*"):
            pid = folder.name[len(PREFIX) :].split("-")[0]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                Cgroup((folder,)).remove()
                removed += not folder.exists()
    return removed


def available_memory() -> int | None:
    """Bytes of memory this machine can still give without swapping: ``MemAvailable``, or less when this
    process's own cgroup (v2: a container's limit) has less room left; None where neither can be read."""
    found = [
        int(line.split()[1]) * 1024
        for line in _read(Path("/proc/meminfo")).splitlines()
        if line.startswith("MemAvailable:")
    ]
    own = _own_paths()
    for folder, limit_file, used_file in (
        (ROOT / own["v2"].lstrip("/") if "v2" in own else None, "memory.max", "memory.current"),
        (ROOT / "memory" / own["memory"].lstrip("/") if "memory" in own else None, "memory.limit_in_bytes",
         "memory.usage_in_bytes"),
    ):  # fmt: skip
        if folder is not None:
            limit, used = _read(folder / limit_file).strip(), _read(folder / used_file).strip()
            if limit.isdigit() and used.isdigit():
                found.append(max(int(limit) - int(used), 0))
    return min(found) if found else None
