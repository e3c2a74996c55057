"""Does the keyword API release and self-check as nbgrader does, and size a batch to the machine (workers
that fit the available memory, or a refusal before anything runs)?
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TOY, TOY_SUBMISSIONS, autograder_cli

from autograder import api, sandbox
from autograder.errors import UsageError
from autograder.sandbox import Limits, cgroups

ROOT = Path(__file__).resolve().parents[2]


GIB = 1024**3


def test_workers_are_capped_to_what_the_available_memory_holds():
    limits = Limits(resident_bytes=2 * GIB, verifier_resident_bytes=1 * GIB)
    assert api.fit_workers(2, limits, 7 * GIB) == (2, "")
    workers, notice = api.fit_workers(4, limits, 7 * GIB)
    assert workers == 2 and "grading with 2 worker(s), not 4" in notice and "2 + 1 GiB" in notice
    assert "\n" not in notice
    assert api.fit_workers(4, limits, None) == (4, "")  # unknown (not Linux): as asked
    with pytest.raises(UsageError, match=r"not enough memory to grade.*lower resident_gb"):
        api.fit_workers(1, limits, 2 * GIB)


def _toy_batch(target: Path, count: int) -> Path:
    for i in range(count):
        (target / f"s{i}").mkdir(parents=True)
        shutil.copyfile(TOY_SUBMISSIONS / "correct.ipynb", target / f"s{i}" / "toy.ipynb")
    return target


@pytest.mark.slow
def test_a_batch_is_graded_with_fewer_workers_when_memory_is_short(tmp_path, monkeypatch, capsys):
    subs = _toy_batch(tmp_path / "subs", 2)
    monkeypatch.setattr(cgroups, "available_memory", lambda: 5 * GIB)  # one worker's caps: 2 + 2 GiB
    report = api.grade(TOY, subs, out=tmp_path / "out", workers=2, root=ROOT)
    assert "grading with 1 worker(s), not 2" in capsys.readouterr().err
    assert [r.total for r in report.results] == [5, 5]


def test_a_batch_that_cannot_fit_one_worker_is_refused_before_anything_runs(tmp_path, monkeypatch):
    subs = _toy_batch(tmp_path / "subs", 1)
    monkeypatch.setattr(cgroups, "available_memory", lambda: GIB)
    started = []
    monkeypatch.setattr(sandbox, "start", lambda **kw: started.append(kw))
    refusal = r"one worker's sandboxes may hold 2 \+ 2 GiB.*1\.0 GiB is available"
    with pytest.raises(UsageError, match=refusal):
        api.grade(TOY, subs, out=tmp_path / "out", root=ROOT)
    assert not started and not (tmp_path / "out" / "grades.csv").exists()


def test_release_is_exactly_nbgrader_generate_assignment(tmp_path):
    for name in ("ours", "nbgrader"):
        (tmp_path / name / "solutions" / "toy").mkdir(parents=True)
        shutil.copyfile(TOY / "toy.ipynb", tmp_path / name / "solutions" / "toy" / "toy.ipynb")
        shutil.copyfile(ROOT / "nbgrader_config.py", tmp_path / name / "nbgrader_config.py")
    done = autograder_cli("release", "toy", cwd=tmp_path / "ours")
    assert done.returncode == 0, done.stderr
    subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", "toy", "--no-db", "--force"],
        cwd=tmp_path / "nbgrader", check=True, capture_output=True,
    )  # fmt: skip
    ours = (tmp_path / "ours" / "assignments" / "toy" / "toy.ipynb").read_text()
    assert ours == (tmp_path / "nbgrader" / "assignments" / "toy" / "toy.ipynb").read_text()
    assert "BEGIN HIDDEN TESTS" not in ours and "return x * x" not in ours


def test_check_runs_public_tests_only_and_reports_them(tmp_path):
    shutil.copyfile(TOY_SUBMISSIONS / "partially-wrong.ipynb", tmp_path / "toy.ipynb")
    done = autograder_cli("check", str(tmp_path / "toy.ipynb"))
    assert done.returncode == 0, done.stdout  # the naive softmax passes the public test; hidden ones wait
    assert "Self-check of toy.ipynb" in done.stdout and "Public tests: 5 / 5 points" in done.stdout
    shutil.copyfile(TOY_SUBMISSIONS / "untouched.ipynb", tmp_path / "toy.ipynb")
    done = autograder_cli("check", str(tmp_path / "toy.ipynb"))
    assert done.returncode == 1 and "NotImplementedError" in done.stdout


def test_each_student_is_in_the_gradebook_as_soon_as_graded(tmp_path):
    """formgrader, opened on a batch still running, already lists the students graded so far."""
    from conftest import toy_students
    from nbgrader.api import Gradebook

    subs = toy_students(tmp_path / "subs", ("correct", "partially-wrong", "untouched"))
    seen: list[tuple[str, set[str]]] = []

    def arrived(result, kept):
        with Gradebook(f"sqlite:///{tmp_path / 'out' / 'gradebook.db'}") as gb:
            seen.append((result.student_id, {s.student.id for s in gb.find_assignment("toy").submissions}))

    api.grade(TOY, subs, out=tmp_path / "out", workers=2, on_result=arrived)
    assert len(seen) == 3 and all(student in graded for student, graded in seen)
    assert seen[-1][1] == {"correct", "partially-wrong", "untouched"}
