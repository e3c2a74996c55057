"""Benchmark: this autograder against plain ``nbgrader autograde`` on the same batch of submissions.

Builds 40 hw1 submissions (correct, partially wrong from ``tests/fixtures/submissions/hw1_backprop``,
untouched, broken files) and 8 hw2 submissions in a temporary folder, then times

* ``nbgrader autograde`` (defaults, except a 600 s cell timeout for Keras) in a fresh course folder, and
* ``autograder grade`` with ``--workers 1`` and ``--workers 2`` (fresh output folders),

and prints wall times, the ratios, and whether both tools gave every student the same autograded score
(they may differ only where nbgrader zeroes a test for writing to stderr).

Usage: ``python bench/grading.py [--hw1 40] [--hw2 8]`` from the repository root (``--hw2 0`` skips Keras).
Timings on a shared machine are inflated by whatever else runs; compare ratios from one run.
"""

from __future__ import annotations

import argparse
import copy
import csv
import os
import shutil
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


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hw1", type=int, default=40, help="hw1_backprop submissions (default 40)")
    parser.add_argument("--hw2", type=int, default=8, help="hw2_mnist submissions (default 8; 0 skips)")
    args = parser.parse_args()
    print(
        f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.1f} (other work inflates times)"
    )
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        if args.hw1:
            bench("hw1_backprop", args.hw1, Path(tmp))
        if args.hw2:
            bench("hw2_mnist", args.hw2, Path(tmp))
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
