"""Benchmark: what the sandbox (namespaces, private root, unprivileged uid, system-call filter) costs.

Times three variants: no namespaces (the API's ``off``), ``--sandbox strict`` without the system-call
filter (``strict-unfiltered``: ``AUTOGRADER_BENCHMARK_NO_SYSCALL_FILTER=1`` in this process, for
benchmarks only; each submission then warns on stderr) and ``strict`` as graded:

* start-up: start a sandbox (warm imports: numpy) and run one trivial cell, ``--starts`` times (the
  variants taking turns);
* an hw1 batch: ``--hw1`` hw1_backprop submissions (built as in ``bench/grading.py``) graded with
  ``--workers 1`` and ``--workers 2`` into fresh output folders; the scores must be identical;
* an hw2 batch: ``--hw2`` copies of the hw2_mnist solution (Keras) graded with ``--workers 2``, strict with
  and without the filter, twice each in A-B-B-A order; every copy must score full marks.

Usage: ``python bench/sandbox_overhead.py [--starts 20] [--hw1 12] [--hw2 4]`` from the repository root
(``0`` skips a batch). Timings on a shared machine are inflated by whatever else runs: the load average is
printed before and after; compare the variants from one run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from grading import build_batch  # noqa: E402

from autograder import api, sandbox  # noqa: E402

VARIANTS = {"off": ("off", True), "strict-unfiltered": ("strict", False), "strict": ("strict", True)}


@contextlib.contextmanager
def variant(name: str) -> Iterator[str]:
    """Within the block, grade as variant ``name``; yields its sandbox mode."""
    mode, filtered = VARIANTS[name]
    if not filtered and mode != "off":
        os.environ[sandbox.UNFILTERED_BENCHMARK] = "1"
    try:
        yield mode
    finally:
        os.environ.pop(sandbox.UNFILTERED_BENCHMARK, None)


def startup(count: int) -> dict[str, list[float]]:
    """Seconds to start a sandbox and run ``x = 1`` in it, ``count`` times per variant.

    The variants take turns, so that a change in the machine's load affects them alike.
    """
    seconds: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(count):
        for name in VARIANTS:
            with variant(name) as mode, contextlib.redirect_stderr(io.StringIO()):  # unfiltered: warnings
                isolation = sandbox.Isolation(mode, sandbox.default_expose())
                start = time.perf_counter()
                runner = sandbox.start(limits=sandbox.Limits(), preload=("numpy",), isolation=isolation)
                execution = runner.run([(0, "x = 1")])
                assert execution.status == "finished", execution.detail
                seconds[name].append(time.perf_counter() - start)
    return seconds


def batch(name: str, assignment: str, subs: Path, out: Path, workers: int) -> tuple[float, dict[str, float]]:
    """Seconds to grade the batch and each student's score."""
    with variant(name) as mode:
        start = time.perf_counter()
        report = api.grade(assignment, subs, out=out, workers=workers, root=ROOT, sandbox_mode=mode)
        seconds = time.perf_counter() - start
    return seconds, {r.student_id: r.total for r in report.results}


def _load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    """Run the measurements and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=20, help="sandbox start-ups per variant (default 20)")
    parser.add_argument("--hw1", type=int, default=12, help="hw1_backprop submissions (default 12)")
    parser.add_argument("--hw2", type=int, default=4, help="hw2_mnist solutions, at most 5 (default 4)")
    args = parser.parse_args()
    command, why = sandbox.probe()
    binding, why_not = sandbox.probe_filter()
    print(f"namespaces: {'available' if command else 'unavailable: ' + why}")
    print(f"system-call filter: {'available' if binding else 'unavailable: ' + why_not}")
    print(f"{_load()}, {os.cpu_count()} cores")
    for name, times in startup(args.starts).items():
        print(
            f"start + one cell, {name:17s}: median {statistics.median(times) * 1000:6.0f} ms, "
            f"max {max(times) * 1000:6.0f} ms ({args.starts} runs)"
        )
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as folder:
        work = Path(folder)
        if args.hw1:
            build_batch("hw1_backprop", args.hw1, work / "hw1")
            for workers in (1, 2):
                scores = {}
                for name in VARIANTS:
                    out = work / f"out-hw1-{name}-{workers}"
                    seconds, scores[name] = batch(name, "hw1_backprop", work / "hw1", out, workers)
                    print(f"hw1_backprop x{args.hw1}, --workers {workers}, {name:17s}: {seconds:6.1f} s")
                print(f"  same scores in every variant: {len({str(s) for s in scores.values()}) == 1}")
        if args.hw2:
            kinds = build_batch("hw2_mnist", min(args.hw2, 5), work / "hw2")  # the first five are solutions
            assert set(kinds.values()) == {"correct"}, kinds
            runs: dict[str, list[float]] = {"strict-unfiltered": [], "strict": []}
            for turn, name in enumerate(("strict-unfiltered", "strict", "strict", "strict-unfiltered")):
                out = work / f"out-hw2-{turn}"  # in A-B-B-A order: a steady drift in load cancels out
                seconds, scores = batch(name, "hw2_mnist", work / "hw2", out, 2)
                runs[name].append(seconds)
                print(f"hw2_mnist x{len(kinds)} solutions, --workers 2, {name:17s}: {seconds:6.1f} s, "
                      f"scores {sorted(set(scores.values()))}")  # fmt: skip
            for name, times in runs.items():
                print(f"  hw2 mean, {name:17s}: {statistics.mean(times):6.1f} s")
    print(_load())


if __name__ == "__main__":
    main()
