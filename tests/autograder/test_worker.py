"""Does one grading worker grade, store and clean up the way every executor needs?

The local pool, the one-worker path, each Dask worker and ``grade-one`` build a
:class:`~autograder.worker.GradingWorker`: it grades a submission and stores its outcome where a batch
looks, keeps a warm sandbox per role between submissions and stops them when closed, and gives its
sandboxes its share of the cores. On Dask, an assignment of several notebooks (nbgrader's documentation
course) is graded exactly as the local pool grades it, and so it is in Kubernetes pods.
"""

from __future__ import annotations

import csv
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from autograder import api, sandbox
from autograder.collect import Submission
from autograder.collect_results import collect_results
from autograder.executors import grade_dask, grade_one
from autograder.k8s import write_manifests
from autograder.results import Status
from autograder.source import load_assignment
from autograder.store import OutputStore
from autograder.worker import GradingWorker, WorkerSettings, check_isolation

ROOT = Path(__file__).resolve().parents[2]
TOY = ROOT / "tests" / "fixtures" / "autograder"
THREADS_CELL = "import os\nprint('threads', os.environ.get('OMP_NUM_THREADS'))"


def sandboxes_of_this_process() -> list[Path]:
    """The working folders of this process's live sandboxes (each removed when its sandbox is closed)."""
    return sorted(Path(tempfile.gettempdir()).glob(f"{sandbox.WORKDIR_PREFIX}{os.getpid()}-*"))


@pytest.fixture
def worker(tmp_path):
    toy = load_assignment(TOY / "source" / "toy", root=ROOT)
    return GradingWorker(
        toy, OutputStore(tmp_path / "out", toy.name), isolation=check_isolation("strict"), threads=1
    )


def submission(tmp_path: Path, student: str, scenario: str = "correct") -> Submission:
    folder = tmp_path / "subs" / student
    folder.mkdir(parents=True)
    shutil.copyfile(TOY / "submissions" / f"{scenario}.ipynb", folder / "toy.ipynb")
    return Submission(student, folder / "toy.ipynb")


def test_a_worker_grades_and_stores_what_it_returns(worker, tmp_path):
    with worker:
        outcome = worker.grade(submission(tmp_path, "alice"), warm_next=False)
    assert outcome.result.status is Status.GRADED and outcome.result.total == outcome.result.max_total > 0
    assert worker.store.load("alice") == outcome
    assert (tmp_path / "out" / "feedback" / "alice" / "toy.html").is_file()


def test_a_worker_keeps_one_warm_sandbox_per_role_until_closed(worker, tmp_path):
    before = sandboxes_of_this_process()
    with worker:
        worker.grade(submission(tmp_path, "bob"))  # keep_warm: the next student's sandboxes start now
        assert len(sandboxes_of_this_process()) == len(before) + 2
        second = worker.grade(submission(tmp_path, "carol", "partially-wrong"), warm_next=False)
        assert len(sandboxes_of_this_process()) == len(before)  # the spares graded carol and were closed
    assert second.result.status is Status.GRADED and second.result.total < second.result.max_total
    worker.grade(submission(tmp_path, "dave"))
    worker.close()
    assert sandboxes_of_this_process() == before


POOL_WORKER = """
import pickle, sys
from autograder.collect import Submission
from autograder.worker import grade_in_process, start_process_worker
with open(sys.argv[1], "rb") as handle:
    settings, assignment = pickle.load(handle)
start_process_worker(settings, assignment)
outcome = grade_in_process(Submission("erin", settings.root / "toy.ipynb"), False)
print(outcome.result.total, outcome.result.max_total, "nbgrader" in sys.modules)
"""


def test_a_pool_worker_grades_with_the_parents_assignment_and_never_imports_nbgrader(tmp_path):
    """A local pool's worker gets the loaded assignment from the batch: it grades (a written answer
    included) without importing nbgrader, whose import alone costs each worker 0.6 s of CPU."""
    toy = load_assignment(TOY / "source" / "toy", root=ROOT)
    shutil.copyfile(TOY / "submissions" / "untouched.ipynb", tmp_path / "toy.ipynb")
    settings = WorkerSettings(
        folder=toy.folder, root=tmp_path, notebook=toy.name, timeout=None, out=tmp_path / "out",
        sandbox_mode="strict", threads=1,
    )  # fmt: skip
    (tmp_path / "job.pickle").write_bytes(pickle.dumps((settings, toy)))
    done = subprocess.run(
        [sys.executable, "-c", POOL_WORKER, str(tmp_path / "job.pickle")],
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    total, max_total, imported = done.stdout.split()
    assert (float(total), float(max_total), imported) == (0.0, 5.0, "False")
    manual = json.loads((tmp_path / "out" / ".state" / "erin.json").read_text())["cells"]
    assert [(c["grade_id"], c["message"]) for c in manual if c["manual"]] == [("explain", "no answer")]


# --- Dask: the same worker on a cluster ----------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded Dask worker processes on this machine (they share its cores)."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local.scheduler_address


def test_dask_workers_give_their_sandboxes_a_share_of_the_cores(cluster, tmp_path):
    nb = nbformat.read(TOY / "submissions" / "correct.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(THREADS_CELL))
    (tmp_path / "subs" / "erin").mkdir(parents=True)
    nbformat.write(nb, tmp_path / "subs" / "erin" / "toy.ipynb")
    report = grade_dask(
        TOY / "source" / "toy", tmp_path / "subs", out=tmp_path / "out", scheduler=cluster, root=ROOT
    )
    assert [r.status for r in report.results] == [Status.GRADED]
    executed = nbformat.read(tmp_path / "out" / "autograded" / "erin" / "toy" / "toy.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for o in executed.cells[-1].outputs)
    assert printed.split() == ["threads", str(api.thread_budget(2))]


@pytest.fixture(scope="module")
def ps1(tmp_path_factory):
    """nbgrader's documentation course (``source/ps1``: two notebooks), graded by the local pool."""
    nbgrader = pytest.importorskip("nbgrader")
    guide = Path(nbgrader.__file__).parent / "docs" / "source" / "user_guide"
    root = tmp_path_factory.mktemp("course")
    for folder in ("source", "submitted"):
        shutil.copytree(guide / folder, root / folder)
    api.grade("ps1", root / "submitted", out=root / "local", root=root)
    return root


def same_grades(root: Path, out: str) -> None:
    """``OUT`` holds one folder per notebook and the very results.json and grades.csv of the local pool."""
    for notebook in ("problem1", "problem2"):
        assert (root / out / notebook / "feedback" / "hacker" / f"{notebook}.html").is_file()
    results = [
        json.loads((root / folder / "results.json").read_text())["students"] for folder in ("local", out)
    ]
    assert sorted(results[1]) == ["bitdiddle", "hacker"]
    assert results[1] == results[0]
    grades = [list(csv.DictReader((root / folder / "grades.csv").open())) for folder in ("local", out)]
    assert grades[1] == grades[0]


def test_a_several_notebook_assignment_on_dask_gets_the_local_pools_grades(cluster, ps1):
    report = grade_dask("ps1", ps1 / "submitted", out=ps1 / "dask", scheduler=cluster, root=ps1)
    assert len(report.regraded) == 2
    same_grades(ps1, "dask")


def test_a_several_notebook_assignment_in_pods_gets_the_local_pools_grades(ps1):
    """Each pod (played here by ``grade_one`` on its job file) grades one notebook of one student."""
    plan = write_manifests("ps1", ps1 / "submitted", image="grader:1", out=ps1 / "k8s", root=ps1)
    assert plan.count == 4  # two students x two notebooks
    for i in range(plan.count):
        jobs = ps1 / "k8s" / "jobs"
        grade_one("ps1", jobs / f"{i}.ipynb", out=ps1 / "volume" / str(i), meta=jobs / f"{i}.json", root=ps1)
    collect_results("ps1", ps1 / "k8s", ps1 / "volume", out=ps1 / "pods", root=ps1)
    same_grades(ps1, "pods")
