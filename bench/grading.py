"""Benchmark: what grading costs against the notebooks' own compute, and against plain ``nbgrader autograde``.

Per homework (``--hw1``, ``--hw2``, ``--hw3``: submissions in the batch, ``0`` skips it), prints

* the **compute floor**: the source notebook's code cells, hidden tests included, executed in order in one
  plain Python process (an IPython shell, no sandbox, no kernel), ``--floor-runs`` times before, between
  and after the grading runs: wall seconds and CPU seconds (user + system) of that process, the notebook's
  imports included (the notebook is read as plain JSON, so the harness adds only Python and IPython's
  start-up). Each grading run is compared with the median of the floor runs just before and just after
  it, since a shared machine's speed drifts over minutes; the range of all floor runs is printed too;
* the **grading cost** of ``autograder grade`` with ``--workers 1`` and ``--workers`` = cores (fresh output
  folders): wall time of the batch, core-seconds per submission (wall x workers / submissions) as a ratio
  to the floor's wall time (the target's measure) and to its CPU time (steadier on a loaded machine, where
  the floor's wall time inflates), and the throughput of the cores run over one worker (a run's CPU
  seconds are not reported: the sandboxes' processes die in their PID namespaces and their time does not
  reach the run's usage, even through the subreaper ``timed`` sets up, so the figure would undercount);
* with ``--nbgrader``, the wall time of ``nbgrader autograde`` (defaults, except a 600 s cell timeout for
  Keras) on the same batch in a fresh course folder, and whether both tools gave every student the same
  autograded score (they may differ only where nbgrader zeroes a test for writing to stderr).

The batch is ``--mix correct`` (default: every submission the solution's answers, what the floor measures)
or ``--mix mixed`` (correct, partially wrong from ``tests/fixtures/submissions``, untouched, broken files).

With ``--against DIR`` (another checkout, e.g. the main branch), that checkout's grader is timed on the
same batch just before each run of this one: an A/B comparison under the same load. The sandbox exposes
the ``dlcourse`` the grader imports, and this environment's editable install imports this checkout's:
make ``DIR/dlcourse`` a symbolic link to it.

Usage: ``python bench/grading.py [--hw1 20] [--hw2 4] [--hw3 0] [--mix correct] [--nbgrader]`` from the
repository root.

``--what scale`` measures grading at scale instead (see README, "Grading at scale"):

* ``--hw1`` (default 200) hw1 submissions with the local pool (``--workers 2``) and on Dask with the same
  cores (2 workers x 1 thread): a cluster started by ``--executor dask`` for the run (its start-up
  included), and a standing cluster (a ``dask scheduler`` and two ``dask worker`` processes started
  beforehand); the overhead of each against the pool, and whether every grade is identical;
* ``--hw2`` (default 4) hw2 submissions with the local pool, giving the cost of one hw2 submission per core,
  and from it the projected wall time of ``--project`` (default 5000) hw2 submissions on ``--nodes``
  nodes of ``--cores`` cores each (one grading worker per core; memory permitting, see hw2's limits).

``--what peaks`` grades the solution and the fixtures of ``tests/fixtures/submissions/<hw>`` of each homework
asked for (``--hw1 1 --hw2 1 --hw3 1``) with one worker, and prints the peak resident memory of each role's
sandbox (its cgroup) and the peak address space of its largest process: what ``autograder.toml``'s limits
are set from.

Timings on a shared machine are inflated by whatever else runs (the load average is printed before and
after); compare ratios from one run.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import shutil
import signal
import statistics
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


def build_batch(assignment: str, count: int, target: Path, mix: str = "mixed") -> dict[str, str]:
    """Write ``count`` student folders (``mix``: ``mixed`` or ``correct``); return student -> kind."""
    loaded = load_assignment(assignment, root=ROOT)
    solved = _solved(assignment)
    if mix == "correct":
        for i in range(count):
            (target / f"student{i:02d}").mkdir(parents=True)
            nbformat.write(solved, target / f"student{i:02d}" / f"{assignment}.ipynb")
        return {f"student{i:02d}": "correct" for i in range(count)}
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


# The notebook read as plain JSON: nbformat's import (jsonschema, and the IRI grammar it builds) is the
# harness's cost, not the notebook's, and would make the floor look larger than the notebook's compute.
FLOOR_SCRIPT = """
import json, sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
failed = []
with open(sys.argv[1], encoding="utf-8") as handle:
    cells = json.load(handle)["cells"]
for cell in cells:
    source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    if cell["cell_type"] == "code" and not shell.run_cell(source).success:
        failed.append(cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "?"))
if failed:
    raise SystemExit(f"cells failed: {failed}")
"""


# Runs a command as a child subreaper: processes it orphans (a sandbox's init and runner, whose parent is
# killed first when a sandbox is closed) are reparented to it and reaped, so their CPU time is counted.
REAPER = """
import ctypes, os, resource, subprocess, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
code = subprocess.Popen(sys.argv[2:]).wait()
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
os.write(int(sys.argv[1]), f"{usage.ru_utime + usage.ru_stime}".encode())
sys.exit(code)
"""


def timed(argv: list[str], **kwargs) -> tuple[float, float, int]:
    """Run ``argv`` to its end; return wall seconds, CPU seconds (it and every process it started, those
    it orphaned included) and the exit code."""
    read, write = os.pipe()
    start = time.monotonic()
    process = subprocess.Popen([sys.executable, "-c", REAPER, str(write), *argv], pass_fds=(write,), **kwargs)
    os.close(write)
    code = process.wait()
    seconds = time.monotonic() - start
    with os.fdopen(read) as handle:
        cpu = float(handle.read() or "nan")
    return seconds, cpu, code


def floor(assignment: str, work: Path, runs: int) -> list[tuple[float, float]]:
    """The notebooks' own compute: the source notebook (hidden tests included) in one plain process.

    Returns:
        The wall seconds and CPU seconds of each of ``runs`` runs, imports included.
    """
    folder = work / f"{assignment}-floor"
    if not folder.exists():
        shutil.copytree(ROOT / "solutions" / assignment, folder)
    samples = []
    for _ in range(runs):
        wall, cpu, code = timed(
            [sys.executable, "-c", FLOOR_SCRIPT, f"{assignment}.ipynb"], cwd=folder,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        if code != 0:
            raise SystemExit(f"the source notebook of {assignment} does not run in a plain process")
        samples.append((wall, cpu))
    return samples


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


def run_autograder(
    assignment: str, subs: Path, out: Path, workers: int, checkout: Path = ROOT
) -> tuple[float, float, dict[str, str]]:
    """Time ``autograder grade`` of ``checkout`` on the batch; return wall seconds, CPU seconds and the
    grades.csv rows."""
    wall, cpu, _code = timed(
        [sys.executable, "-m", "autograder", "grade", assignment, str(subs), "--out", str(out),
         "--workers", str(workers), "--force"],
        cwd=checkout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    with open(out / "grades.csv", newline="") as handle:
        return wall, cpu, {row["student_id"]: row for row in csv.DictReader(handle)}


def bench(
    assignment: str, count: int, work: Path, *, mix: str, runs: int, nbgrader: bool, against: Path | None
) -> None:
    """Build the batch, measure the floor, grade it (and with nbgrader, or another checkout of the grader
    just before each run of this one), and print the figures."""
    subs = work / f"{assignment}-subs"
    kinds = build_batch(assignment, count, subs, mix)
    kinds_text = ", ".join(sorted({k.split(":")[0] for k in kinds.values()}))
    cores = os.cpu_count() or 1
    print(f"\n{assignment}: {count} submissions ({kinds_text}), load average {os.getloadavg()[0]:.1f}")
    # The floor is measured before, between and after the grading runs, and each run is compared with the
    # floor measured just before and just after it: a shared machine's speed drifts over minutes.
    floors = [floor(assignment, work, runs)]
    rows: dict[str, dict[str, str]] = {}
    walls = {}
    other: dict[int, float] = {}
    pending: list[tuple[str, float, int]] = []

    def cost(label: str, wall: float, workers: int, around: list[list[tuple[float, float]]]) -> None:
        samples = [sample for batch in around for sample in batch]
        floor_wall = statistics.median(w for w, _ in samples)
        floor_cpu = statistics.median(c for _, c in samples)
        core_s = wall * workers / count
        print(
            f"  {label} --workers {workers}  {wall:6.1f} s  per submission {core_s:6.2f} core-s "
            f"({core_s / floor_wall:4.2f}x floor, {core_s / floor_cpu:4.2f}x its CPU; floor around it "
            f"{floor_wall:.2f} s wall, {floor_cpu:.2f} s CPU)"
        )

    for workers in sorted({1, cores}):
        if against is not None:
            other[workers], _cpu, other_rows = run_autograder(
                assignment, subs, work / f"{assignment}-against-{workers}", workers, against
            )
            if any(row["status"] != "graded" for row in other_rows.values()):
                print(f"  {against.name}: some submissions were not graded; its times do not compare")
            pending.append((against.name, other[workers], workers))
        walls[workers], _cpu, rows = run_autograder(
            assignment, subs, work / f"{assignment}-out-{workers}", workers
        )
        pending.append(("autograder", walls[workers], workers))
        floors.append(floor(assignment, work, runs))
        for label, wall, run_workers in pending:
            cost(label, wall, run_workers, floors[-2:])
        pending = []
    every = [sample for batch in floors for sample in batch]
    print(
        f"  floor (source notebook, one plain process): {len(every)} runs, "
        f"{min(w for w, _ in every):.2f}-{max(w for w, _ in every):.2f} s wall, "
        f"{min(c for _, c in every):.2f}-{max(c for _, c in every):.2f} s CPU; load {os.getloadavg()[0]:.1f}"
    )
    if cores > 1:
        print(f"  throughput --workers {cores} / --workers 1: {walls[1] / walls[cores]:4.2f}x")
        if against is not None:
            print(f"  throughput of {against.name}: {other[1] / other[cores]:4.2f}x")
    failed = sum(1 for row in rows.values() if row["status"] != "graded")
    full = sum(1 for row in rows.values() if row["status"] == "graded" and row["score"] == row["max_score"])
    print(f"  autograder: {full} full marks, {failed} not graded (with a reason)")
    if not nbgrader:
        return
    nb_seconds, nb_scores = run_nbgrader(assignment, subs, work)
    print(
        f"  nbgrader autograde  {nb_seconds:6.1f} s   nbgrader / autograder: "
        + ", ".join(f"{nb_seconds / walls[w]:4.2f}x at --workers {w}" for w in sorted(walls))
    )
    differ = []
    for student, kind in kinds.items():
        ours = rows[student]
        theirs = nb_scores.get(student, float("nan"))
        if ours["status"] == "graded" and float(ours["score"]) != theirs:
            differ.append(f"{student} ({kind}): autograder {ours['score']} vs nbgrader {theirs:g}")
    print(f"  scores differing from nbgrader: {len(differ)}")
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


def peaks(assignment: str, work: Path) -> None:
    """Peak resident memory (the sandbox's cgroup) and address space (the largest process) per role.

    Grades the solution and every fixture of ``tests/fixtures/submissions/<assignment>`` with one worker
    in this process; each sandbox is measured just before it is closed.
    """
    from autograder import api, sandbox

    subs = work / f"{assignment}-peaks"
    build_batch(assignment, 1, subs, "correct")
    for i, fixture in enumerate(sorted((ROOT / "tests" / "fixtures" / "submissions" / assignment).glob("*"))):
        (subs / f"fixture{i}").mkdir()
        shutil.copyfile(fixture, subs / f"fixture{i}" / f"{assignment}.ipynb")
    found: dict[str, list[tuple[int, int]]] = {"student": [], "verifier": []}
    close = sandbox.Runner.close

    def measured_close(runner: sandbox.Runner) -> None:
        if runner.cgroup is not None:
            resident = max(
                int((f / name).read_text())
                for f in runner.cgroup.folders
                for name in ("memory.max_usage_in_bytes", "memory.peak")
                if (f / name).exists()
            )
            space = 0
            for folder in runner.cgroup.folders:
                for pid in (folder / "cgroup.procs").read_text().split():
                    status = Path(f"/proc/{pid}/status").read_text() if Path(f"/proc/{pid}").exists() else ""
                    vm = [
                        int(line.split()[1]) * 1024
                        for line in status.splitlines()
                        if line.startswith("VmPeak")
                    ]
                    space = max([space, *vm])
            found[runner.role].append((resident, space))
        close(runner)

    sandbox.Runner.close = measured_close
    try:
        api.grade(assignment, subs, out=work / f"{assignment}-peaks-out", root=ROOT, force=True)
    finally:
        sandbox.Runner.close = close
    print(f"\n{assignment}: peaks over {len(found['student'])} submissions (solution and fixtures)")
    for role, values in found.items():
        if values:
            print(
                f"  {role:8s} resident {max(r for r, _ in values) / 1024**3:5.2f} GiB   "
                f"address space {max(a for _, a in values) / 1024**3:5.2f} GiB"
            )


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = (
        "compare: floor, cost and nbgrader (default); scale: local pool vs Dask, hw2 projection; "
        "peaks: the sandboxes' peak memory"
    )
    parser.add_argument("--what", choices=["compare", "scale", "peaks"], default="compare", help=what)
    parser.add_argument(
        "--hw1", type=int, help="hw1_backprop submissions (default 20; 200 with --what scale)"
    )
    parser.add_argument(
        "--hw2", type=int, help="hw2_mnist submissions (default 4; 4 with --what scale; 0 skips)"
    )
    parser.add_argument("--hw3", type=int, default=0, help="hw3_imdb submissions (default 0: skipped)")
    parser.add_argument("--mix", choices=["correct", "mixed"], default="correct", help="the batch (compare)")
    parser.add_argument("--floor-runs", type=int, default=3, help="runs of the floor; the median counts")
    parser.add_argument("--nbgrader", action="store_true", help="also time nbgrader autograde (compare)")
    parser.add_argument(
        "--against", type=Path, help="another checkout of the grader, timed just before this one (compare)"
    )
    parser.add_argument("--project", type=int, default=5000, help="hw2 submissions to project (scale)")
    parser.add_argument("--nodes", default="1,10,50", help="node counts to project for (scale)")
    parser.add_argument("--cores", type=int, default=8, help="cores per node (scale)")
    args = parser.parse_args()
    scale = args.what == "scale"
    hw1 = args.hw1 if args.hw1 is not None else (200 if scale else 20)
    hw2 = args.hw2 if args.hw2 is not None else 4
    print(
        f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.1f} (other work inflates times)"
    )
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        if scale:
            nodes = [int(n) for n in args.nodes.split(",")]
            bench_scale(hw1, hw2, args.project, nodes, args.cores, Path(tmp))
        elif args.what == "peaks":
            for name, count in (("hw1_backprop", hw1), ("hw2_mnist", hw2), ("hw3_imdb", args.hw3)):
                if count:
                    peaks(name, Path(tmp))
        else:
            options = {
                "mix": args.mix,
                "runs": args.floor_runs,
                "nbgrader": args.nbgrader,
                "against": args.against,
            }
            for name, count in (("hw1_backprop", hw1), ("hw2_mnist", hw2), ("hw3_imdb", args.hw3)):
                if count:
                    bench(name, count, Path(tmp), **options)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
