"""Benchmark: what the sandbox (namespaces, private root, unprivileged uid) costs, against rlimits only.

Times, for ``--sandbox strict`` and for no namespaces (the API's ``off``):

* start-up: start a sandbox (warm imports: numpy) and run one trivial cell, ``--starts`` times;
* a grading batch: ``--hw1`` hw1_backprop submissions (built as in ``bench/grading.py``) graded with
  ``--workers 1`` and ``--workers 2`` into fresh output folders; the scores must be identical.

Usage: ``python bench/sandbox_overhead.py [--starts 20] [--hw1 12]`` from the repository root. Timings on a
shared machine are inflated by whatever else runs; compare the two modes from one run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from grading import build_batch  # noqa: E402

from autograder import api, sandbox  # noqa: E402

MODES = ("off", "strict")


def startup(mode: str, count: int) -> list[float]:
    """Seconds to start a sandbox and run ``x = 1`` in it, ``count`` times."""
    isolation = sandbox.Isolation(mode, sandbox.default_expose())
    seconds = []
    for _ in range(count):
        start = time.perf_counter()
        execution = sandbox.start(limits=sandbox.Limits(), preload=("numpy",), isolation=isolation).run(
            [(0, "x = 1")]
        )
        assert execution.status == "finished", execution.detail
        seconds.append(time.perf_counter() - start)
    return seconds


def batch(mode: str, subs: Path, out: Path, workers: int) -> tuple[float, dict[str, float]]:
    """Seconds to grade the batch and each student's score."""
    start = time.perf_counter()
    report = api.grade("hw1_backprop", subs, out=out, workers=workers, root=ROOT, sandbox_mode=mode)
    return time.perf_counter() - start, {r.student_id: r.total for r in report.results}


def main() -> None:
    """Run both measurements and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=20, help="sandbox start-ups per mode (default 20)")
    parser.add_argument("--hw1", type=int, default=12, help="hw1_backprop submissions (default 12)")
    args = parser.parse_args()
    command, why = sandbox.probe()
    print(f"namespaces: {'available' if command else 'unavailable: ' + why}")
    for mode in MODES:
        times = startup(mode, args.starts)
        print(
            f"start + one cell, {mode:6s}: median {statistics.median(times) * 1000:6.0f} ms, "
            f"max {max(times) * 1000:6.0f} ms ({args.starts} runs)"
        )
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as folder:
        work = Path(folder)
        build_batch("hw1_backprop", args.hw1, work / "subs")
        scores: dict[str, dict[str, float]] = {}
        for workers in (1, 2):
            for mode in MODES:
                seconds, scores[mode] = batch(mode, work / "subs", work / f"out-{mode}-{workers}", workers)
                print(f"hw1_backprop x{args.hw1}, --workers {workers}, {mode:6s}: {seconds:6.1f} s")
            print(f"  same scores in both modes: {scores['off'] == scores['strict']}")


if __name__ == "__main__":
    main()
