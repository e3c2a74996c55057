"""Is the memory a batch may use read from this machine (its cgroup's limit, or the kernel's estimate)?"""

from __future__ import annotations

from pathlib import Path

from autograder.sandbox import cgroups


def test_the_available_memory_is_read_from_this_machine():
    available = cgroups.available_memory()
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        assert available is None
        return
    lines = meminfo.read_text().splitlines()
    total = next(int(line.split()[1]) * 1024 for line in lines if line.startswith("MemTotal:"))
    assert 0 < available <= total
