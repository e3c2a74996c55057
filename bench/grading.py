"""Benchmark: this autograder against plain ``nbgrader autograde`` on the same batch of submissions.

Builds 40 hw1 submissions (correct, partially wrong from ``tests/fixtures/submissions/hw1_backprop``,
untouched, broken files) and 8 hw2 submissions in a temporary folder, then times

* ``nbgrader autograde`` (defaults, except a 600 s cell timeout for Keras) in a fresh course folder, and
* ``autograder grade`` with ``--workers 1`` and ``--workers 2`` (fresh output folders),

and prints wall times, the ratios, and whether both tools gave every student the same autograded score
(they may differ only where nbgrader zeroes a test for writing to stderr).

Usage: ``python bench/grading.py [--hw1 40] [--hw2 8]`` from the repository root (``--hw2 0`` skips Keras).

``--what scale`` measures grading at scale instead (see README, "Grading at scale"):

* ``--hw1`` (default 200) hw1 submissions with the local pool (``--workers 2``) and on Dask with the same
  cores (2 workers x 1 thread): a cluster started by ``--executor dask`` for the run (its start-up
  included), and a standing cluster (a ``dask scheduler`` and two ``dask worker`` processes started
  beforehand); the overhead of each against the pool, and whether every grade is identical;
* ``--hw2`` (default 4) hw2 submissions with the local pool, giving the cost of one hw2 submission per core,
  and from it the projected wall time of ``--project`` (default 5000) hw2 submissions on ``--nodes``
  nodes of ``--cores`` cores each (one grading worker per core; memory permitting, see hw2's limits).

Timings on a shared machine are inflated by whatever else runs; compare ratios from one run.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.source import load_assignment, nb_meta  # noqa: E402


def _solved(assignment: str) -> nbformat.NotebookNode:
    """The released notebook with every answer cell filled from the source (no hidden tests)."""
    loaded = load_assignment(assignment, root=ROOT)
    source = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    answers = {nb_meta(c).get("grade_id"): c.source for c in source.cells if nb_meta(c).get("solution")}
    nb = copy.deepcopy(loaded.release)
    for cell in nb.cells:
        grade_id = nb_meta(cell).get("grade_id")
        if nb_meta(cell).get("solution") and grade_id in answers:
            cell.source = answers[grade_id]
    return nb


def build_batch(assignment: str, count: int, target: Path) -> dict[str, str]:
    """Write ``count`` student folders; return student -> kind."""
    loaded = load_assignment(assignment, root=ROOT)
    solved = _solved(assignment)
    wrong = sorted((ROOT / "tests" / "fixtures" / "submissions" / assignment).glob("*.ipynb"))
    syntax = copy.deepcopy(solved)
    next(
        c for c in syntax.cells if nb_meta(c).get("solution") and c.cell_type == "code"
    ).source = "def broken(:"
    kinds: dict[str, str] = {}
    for i in range(count):
        student = f"student{i:02d}"
        folder = target / student
        folder.mkdir(parents=True)
        path = folder / f"{assignment}.ipynb"
        slot = i % 10
        if slot < 5:
            kinds[student] = "correct"
            nbformat.write(solved, path)
        elif slot < 8 and wrong:
            chosen = wrong[i % len(wrong)]
            kinds[student] = f"wrong:{chosen.stem}"
            shutil.copyfile(chosen, path)
        elif slot == 8:
            kinds[student] = "untouched"
            nbformat.write(loaded.release, path)
        elif i % 20 == 9:
            kinds[student] = "not-json"
            path.write_text("{ this is not json")
        else:
            kinds[student] = "syntax-error"
            nbformat.write(syntax, path)
    return kinds


def run_nbgrader(assignment: str, subs: Path, work: Path) -> tuple[float, dict[str, float]]:
    """Time ``nbgrader autograde`` on the batch (release step not timed); return seconds and scores."""
    course = work / "nbgrader-course"
    shutil.copytree(ROOT / "solutions" / assignment, course / "source" / assignment)
    (course / "nbgrader_config.py").write_text("c = get_config()\nc.Execute.timeout = 600\n")
    db = f"sqlite:///{course / 'gradebook.db'}"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    nbgrader = [sys.executable, "-m", "nbgrader"]
    subprocess.run([*nbgrader, "generate_assignment", assignment, "--db", db], cwd=course, env=env,
                   check=True, capture_output=True)  # fmt: skip
    for student in sorted(p.name for p in subs.iterdir()):
        shutil.copytree(subs / student, course / "submitted" / student / assignment)
    start = time.monotonic()
    subprocess.run([*nbgrader, "autograde", assignment, "--db", db], cwd=course, env=env, capture_output=True)
    seconds = time.monotonic() - start

    from nbgrader.api import Gradebook, MissingEntry

    scores = {}
    with Gradebook(db) as gb:
        for student in sorted(p.name for p in subs.iterdir()):
            try:
                scores[student] = float(gb.find_submission(assignment, student).code_score)
            except MissingEntry:
                scores[student] = float("nan")
    return seconds, scores


def run_autograder(assignment: str, subs: Path, out: Path, workers: int) -> tuple[float, dict[str, str]]:
    """Time ``autograder grade`` on the batch; return seconds and the grades.csv rows."""
    start = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "autograder", "grade", assignment, str(subs), "--out", str(out),
         "--workers", str(workers), "--force"],
        cwd=ROOT, capture_output=True, check=False,
    )  # fmt: skip
    seconds = time.monotonic() - start
    with open(out / "grades.csv", newline="") as handle:
        return seconds, {row["student_id"]: row for row in csv.DictReader(handle)}


def bench(assignment: str, count: int, work: Path) -> None:
    """Build, grade three ways, and print the figures for one homework."""
    subs = work / f"{assignment}-subs"
    kinds = build_batch(assignment, count, subs)
    mix = ", ".join(sorted({k.split(":")[0] for k in kinds.values()}))
    print(f"\n{assignment}: {count} submissions ({mix})")
    nb_seconds, nb_scores = run_nbgrader(assignment, subs, work)
    print(f"  nbgrader autograde           {nb_seconds:7.1f} s")
    rows = {}
    for workers in (1, 2):
        seconds, rows = run_autograder(assignment, subs, work / f"{assignment}-out-{workers}", workers)
        print(f"  autograder --workers {workers}       {seconds:7.1f} s   ratio nbgrader/autograder = "
              f"{nb_seconds / seconds:4.2f}x")  # fmt: skip
    differ = []
    for student, kind in kinds.items():
        ours = rows[student]
        theirs = nb_scores.get(student, float("nan"))
        if ours["status"] == "graded" and float(ours["score"]) != theirs:
            differ.append(f"{student} ({kind}): autograder {ours['score']} vs nbgrader {theirs:g}")
    failed = sum(1 for row in rows.values() if row["status"] == "failed")
    print(f"  autograder: {failed} failed with a reason; scores differing from nbgrader: {len(differ)}")
    for line in differ:
        print(f"    {line}")


def _grade(assignment: str, subs: Path, out: Path, *extra: str) -> tuple[float, dict[str, dict]]:
    """Time one ``autograder grade`` run; return seconds and results.json's students."""
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", assignment, str(subs), "--out", str(out), "--force",
         *extra],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.monotonic() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"autograder grade {' '.join(extra)} failed:\n{done.stderr[-3000:]}")
    return seconds, json.loads((out / "results.json").read_text())["students"]


class StandingCluster:
    """A ``dask scheduler`` and ``workers`` single-threaded ``dask worker`` processes on this machine."""

    def __init__(self, workers: int, logs: Path) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.address = f"tcp://127.0.0.1:{port}"
        dask = str(Path(sys.executable).parent / "dask")
        self.logs = logs
        self.procs = [self._start("scheduler", [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                                "--no-dashboard"])]  # fmt: skip
        self._wait("scheduler", "Scheduler at", 1)
        for i in range(workers):
            self.procs.append(self._start(f"worker{i}", [dask, "worker", self.address, "--nthreads", "1",
                                                         "--nworkers", "1", "--no-dashboard"]))  # fmt: skip
        self._wait("scheduler", "Register worker", workers)

    def _start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "wb")
        return subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=log, start_new_session=True)

    def _wait(self, name: str, text: str, count: int) -> None:
        deadline = time.monotonic() + 120
        while (self.logs / f"{name}.log").read_text().count(text) < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"dask {name} did not start: see {self.logs}")
            time.sleep(0.2)

    def close(self) -> None:
        for proc in reversed(self.procs):
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)


def bench_scale(hw1: int, hw2: int, project: int, nodes: list[int], cores: int, work: Path) -> None:
    """Local pool vs Dask on hw1 with the same cores; projected hw2 wall time on a cluster."""
    if hw1:
        subs = work / "hw1-subs"
        build_batch("hw1_backprop", hw1, subs)
        print(f"\nhw1_backprop: {hw1} submissions, 2 cores each way")
        local, local_students = _grade("hw1_backprop", subs, work / "local", "--workers", "2")
        print(
            f"  local pool --workers 2                       {local:7.1f} s  {local / hw1:5.2f} s/submission"
        )
        dask, dask_students = _grade(
            "hw1_backprop", subs, work / "dask", "--executor", "dask", "--workers", "2"
        )
        print(
            f"  --executor dask (local cluster, start-up in) {dask:7.1f} s  overhead {dask / local - 1:+6.1%}"
        )
        cluster = StandingCluster(2, work)
        try:
            standing, standing_students = _grade(
                "hw1_backprop", subs, work / "standing", "--executor", "dask", "--scheduler", cluster.address
            )
        finally:
            cluster.close()
        print(
            f"  --executor dask (standing 2x1 cluster)       {standing:7.1f} s  "
            f"overhead {standing / local - 1:+6.1%}"
        )
        same = local_students == dask_students == standing_students
        print(f"  identical results.json (every cell's points and message): {same}")
    if hw2:
        subs = work / "hw2-subs"
        build_batch("hw2_mnist", hw2, subs)
        seconds, _students = _grade("hw2_mnist", subs, work / "hw2", "--workers", "2")
        per_core = seconds * 2 / hw2
        print(f"\nhw2_mnist: {hw2} submissions with --workers 2 in {seconds:.1f} s: "
              f"{per_core:.1f} core-seconds per submission (pool start-up included)")  # fmt: skip
        for n in nodes:
            wall = project * per_core / (n * cores)
            print(
                f"  projected {project} hw2 submissions on {n:3d} node(s) x {cores} cores: "
                f"{wall / 60:7.1f} min"
            )


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = "compare: against nbgrader (default); scale: local pool vs Dask, hw2 projection"
    parser.add_argument("--what", choices=["compare", "scale"], default="compare", help=what)
    parser.add_argument(
        "--hw1", type=int, help="hw1_backprop submissions (default 40; 200 with --what scale)"
    )
    parser.add_argument(
        "--hw2", type=int, help="hw2_mnist submissions (default 8; 4 with --what scale; 0 skips)"
    )
    parser.add_argument("--project", type=int, default=5000, help="hw2 submissions to project (scale)")
    parser.add_argument("--nodes", default="1,10,50", help="node counts to project for (scale)")
    parser.add_argument("--cores", type=int, default=8, help="cores per node (scale)")
    args = parser.parse_args()
    scale = args.what == "scale"
    hw1 = args.hw1 if args.hw1 is not None else (200 if scale else 40)
    hw2 = args.hw2 if args.hw2 is not None else (4 if scale else 8)
    print(
        f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.1f} (other work inflates times)"
    )
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        if scale:
            nodes = [int(n) for n in args.nodes.split(",")]
            bench_scale(hw1, hw2, args.project, nodes, args.cores, Path(tmp))
        else:
            if hw1:
                bench("hw1_backprop", hw1, Path(tmp))
            if hw2:
                bench("hw2_mnist", hw2, Path(tmp))
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
