"""Peak memory and wall time of a homework's solution notebook, its cells run in one fresh process.

This is what a student's laptop (or the grader's sandbox) has to hold: the notebook's code cells run one
after the other in one namespace, as a kernel would run them, in a child process. The test cells
(nbgrader's graded code cells) are left out by default, as the grader runs them in a separate process;
``--with-tests`` runs them too. When the child is done it reports:

- its peak resident set size (``VmHWM`` of ``/proc/self/status``, Linux), also read by the parent as the
  child's ``ru_maxrss`` (``resource.getrusage(RUSAGE_CHILDREN)``), which must agree;
- its peak address space (``VmPeak``): what the sandbox's ``memory_gb`` limit (``RLIMIT_AS``) applies to;
  TensorFlow reserves far more address space than it ever touches;
- the wall time of every cell that took more than a second, and of the whole notebook.

Run from the repository root with ``DLCOURSE_DATA`` set (answers only in cells marked as solutions, so the
source notebook under ``solutions/`` is what runs)::

    .venv/bin/python bench/notebook_memory.py solutions/hw3_imdb/hw3_imdb.ipynb
    .venv/bin/python bench/notebook_memory.py old.ipynb   # e.g. `git show REV:solutions/... > old.ipynb`
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

GIB = 1024**3


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _cells(notebook: Path, with_tests: bool) -> list[str]:
    import nbformat

    cells = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and (with_tests or not (meta.get("grade") and not meta.get("solution"))):
            cells.append(cell.source)
    return cells


def child(notebook: Path, with_tests: bool) -> dict:
    """Run the notebook's cells here, in one namespace; return the figures."""
    namespace: dict = {"__name__": "__main__"}
    slow = []
    start = time.perf_counter()
    for number, source in enumerate(_cells(notebook, with_tests)):
        began = time.perf_counter()
        exec(compile(source, f"<cell {number}>", "exec"), namespace)
        seconds = time.perf_counter() - began
        if seconds > 1:
            slow.append([number, round(seconds, 1)])
    return {
        "seconds": time.perf_counter() - start,
        "slow_cells": slow,
        "peak_rss": _status_kib("VmHWM") * 1024,
        "peak_address_space": _status_kib("VmPeak") * 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--with-tests", action="store_true", help="run the test cells too")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        figures = child(args.notebook, args.with_tests)
        print("\n" + json.dumps(figures))
        return

    env = {**os.environ, "MPLBACKEND": "Agg"}
    command = [sys.executable, __file__, str(args.notebook), "--child"]
    command += ["--with-tests"] if args.with_tests else []
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        sys.exit(f"the notebook failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux
    load = os.getloadavg()
    print(f"{args.notebook}: cells run in one process{' (tests included)' if args.with_tests else ''}")
    print(f"  peak resident (VmHWM)      {figures['peak_rss'] / GIB:6.2f} GiB")
    print(f"  peak resident (ru_maxrss)  {maxrss / GIB:6.2f} GiB")
    print(f"  peak address space         {figures['peak_address_space'] / GIB:6.2f} GiB")
    print(
        f"  wall time                  {figures['seconds']:6.0f} s  (cells over 1 s: {figures['slow_cells']})"
    )
    print(f"  load average at the end    {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
