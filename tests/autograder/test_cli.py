"""Does `autograder` work end to end, the way an instructor runs it on a folder of broken notebooks?

One batch of every fixture scenario (``tests/fixtures/autograder/submissions/<scenario>.ipynb``) is graded
with the installed command at ``--workers 2`` and again at ``--workers 1``; the questions below read
the files it wrote.
"""

from __future__ import annotations

import csv
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from conftest import TOY, TOY_SUBMISSIONS, autograder_in_process

ROOT = Path(__file__).resolve().parents[2]


SCENARIOS = sorted(p.stem for p in TOY_SUBMISSIONS.glob("*.ipynb"))


AUTOGRADER = [sys.executable, "-m", "autograder"]


EXPECTED = {  # scenario -> (status, autograded score, text the reason must contain)
    "correct": ("graded", "5", ""),
    "untouched": ("graded", "0", ""),
    "partially-wrong": ("graded", "2", ""),
    "deleted-test-cell": ("graded", "5", "cell 'square-test' was missing and was restored"),
    "edited-test-cell": ("graded", "3", "test cell 'square-test' was edited; the original was restored"),
    "changed-cell-type": ("graded", "5", "was changed from code to markdown; restored"),
    "scratch-cells": ("graded", "5", ""),
    "stderr-noise": ("graded", "5", ""),
    "infinite-loop": ("graded", "2", "a cell exceeded the 4 s limit per cell (cell 4, 'softmax')"),
    "kernel-exit": ("graded", "2", "the notebook's process exited with code 3 (cell 4, 'softmax')"),
    "reads-hidden-tests": ("graded", "5", ""),
    "print-flood": ("graded", "5", ""),
    "duplicated-grade-id": ("failed", "", "duplicated grade id(s) square"),
    "not-json": ("failed", "", "not a notebook: invalid JSON (Expecting value: line 1, column 1"),
    "empty-file": ("failed", "", "empty file (0 bytes)"),
    "wrong-nbformat": ("failed", "", "wrong notebook format: nbformat 3, expected 4"),
    "invalid-notebook": ("failed", "", "not a valid notebook: it has no list of cells"),
    "huge-file": ("failed", "", "file too large: 1.1 MB > 1.0 MB limit"),
    "missing-notebook": ("failed", "", "notebook missing: expected toy.ipynb, found nothing"),
    "renamed-notebook": ("graded", "5", "graded Toy (1).ipynb (expected the name toy.ipynb)"),
}


def run(*args: str, cwd: Path = ROOT, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([*AUTOGRADER, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def student_folders(target: Path) -> Path:
    for scenario in SCENARIOS:
        (target / scenario).mkdir(parents=True)
        shutil.copyfile(TOY_SUBMISSIONS / f"{scenario}.ipynb", target / scenario / "toy.ipynb")
    (target / "huge-file").mkdir()
    (target / "huge-file" / "toy.ipynb").write_text(" " * int(1.1 * 1024**2))
    (target / "missing-notebook").mkdir()
    (target / "renamed-notebook").mkdir()
    shutil.copyfile(TOY_SUBMISSIONS / "correct.ipynb", target / "renamed-notebook" / "Toy (1).ipynb")
    return target


def read_grades(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    subs = student_folders(tmp_path_factory.mktemp("subs"))
    out = tmp_path_factory.mktemp("graded") / "out"
    start = time.monotonic()
    done = run("grade", str(TOY), str(subs), "--out", str(out), "--workers", "2")
    return subs, out, done, time.monotonic() - start


@pytest.mark.slow
def test_every_submission_has_a_row_with_its_status_score_and_reason(batch):
    _subs, out, done, _seconds = batch
    assert done.returncode == 1, done.stderr  # some failed, all rows still written
    grades = read_grades(out)
    assert set(grades) == set(EXPECTED)
    for student, (status, score, reason) in EXPECTED.items():
        row = grades[student]
        assert (row["status"], row["score"]) == (status, score), (student, row)
        assert reason in row["reason"], (student, row["reason"])
        assert row["max_score"] == ("5" if status == "graded" else "")


@pytest.mark.slow
def test_failed_submissions_are_never_silent_zeros(batch):
    grades = read_grades(batch[1])
    for row in grades.values():
        if row["status"] == "failed":
            assert row["score"] == "" and row["reason"]


@pytest.mark.slow
def test_manual_cells_are_pending_in_their_own_column(batch):
    grades = read_grades(batch[1])
    assert grades["correct"]["explain (manual)"] == "awaiting review"
    assert grades["correct"]["manual_pending"] == "2" and grades["correct"]["manual_max"] == "2"
    assert grades["untouched"]["explain (manual)"] == "0", (
        "an unchanged answer earns nothing (as in nbgrader)"
    )


@pytest.mark.slow
def test_results_json_has_every_test_cell(batch):
    results = json.loads((batch[1] / "results.json").read_text())
    cells = results["students"]["partially-wrong"]["cells"]
    assert cells["square-test"] == {"points": 2.0, "max": 2.0, "passed": True, "manual": False, "message": ""}
    assert cells["softmax-test"]["passed"] is False
    assert cells["softmax-test"]["message"] == "AssertionError: softmax overflows: subtract the maximum first"
    assert results["students"]["not-json"]["cells"] == {}


@pytest.mark.slow
def test_hidden_test_code_appears_in_no_feedback_file_and_not_in_results_json(batch, toy):
    hidden = toy.hidden_lines
    out = batch[1]
    files = [*sorted((out / "feedback").rglob("*.html")), out / "results.json", out / "grades.csv"]
    assert len(files) == len(EXPECTED) + 2
    for path in files:
        text = path.read_text(encoding="utf-8")
        for line in hidden:
            for form in (line, html.escape(line), html.escape(line, quote=False), line.replace('"', '\\"')):
                assert form not in text, (path, line)


@pytest.mark.slow
def test_feedback_shows_code_outputs_scores_and_messages(batch):
    page = (batch[1] / "feedback" / "partially-wrong" / "toy.html").read_text()
    assert "e = np.exp(z)" in html.unescape(re.sub(r"<[^>]+>", "", page))  # the student's code
    assert "softmax overflows: subtract the maximum first" in page  # the test's message
    assert "2 / 3" not in page and "0 / 3" in page and "2 / 2" in page
    flood = (batch[1] / "feedback" / "print-flood" / "toy.html").read_text()
    assert "output truncated by the autograder" in flood and len(flood) < 2_000_000
    failed = (batch[1] / "feedback" / "not-json" / "toy.html").read_text()
    assert "could not be graded" in failed and "invalid JSON" in failed


@pytest.mark.slow
def test_progress_and_a_summary_table_are_shown(batch):
    done = batch[2]
    assert "grading" in done.stderr and "20/20" in done.stderr
    assert "toy: 20 submissions, 7 failed" in done.stdout


@pytest.mark.slow
def test_the_gradebook_is_sqlite_under_out(batch):
    import sqlite3

    with sqlite3.connect(batch[1] / "gradebook.db") as db:
        rows = db.execute("select count(*) from submitted_assignment").fetchone()[0]
    assert rows == sum(1 for status, _, _ in EXPECTED.values() if status == "graded")


@pytest.mark.slow
def test_results_do_not_depend_on_the_number_of_workers(batch, tmp_path):
    subs, out, _done, _seconds = batch
    subset = ["correct", "deleted-test-cell", "kernel-exit", "not-json", "partially-wrong", "stderr-noise"]
    for student in subset:
        shutil.copytree(subs / student, tmp_path / "subs" / student)
    done = run("grade", str(TOY), str(tmp_path / "subs"), "--out", str(tmp_path / "one"), "--workers", "1")
    assert done.returncode == 1, done.stderr
    one = json.loads((tmp_path / "one" / "results.json").read_text())["students"]
    two = json.loads((out / "results.json").read_text())["students"]
    assert one == {student: two[student] for student in subset}
    rows = read_grades(tmp_path / "one")
    assert rows == {student: read_grades(out)[student] for student in subset}


@pytest.mark.slow
def test_a_rerun_reuses_finished_students_and_changes_nothing(batch):
    subs, out, _done, _seconds = batch
    before = {p.name: p.stat().st_mtime_ns for p in (out / ".state").glob("*.json")}
    grades = (out / "grades.csv").read_text()
    done = run("grade", str(TOY), str(subs), "--out", str(out), "--workers", "2")
    assert done.returncode == 1
    assert "20 submission(s) already graded" in done.stderr
    assert {p.name: p.stat().st_mtime_ns for p in (out / ".state").glob("*.json")} == before
    assert (out / "grades.csv").read_text() == grades


@pytest.mark.slow
def test_manual_points_entered_by_command_survive_a_regrade(batch, tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    shutil.copytree(batch[0] / "correct", subs / "correct")
    assert run("grade", str(TOY), str(subs), "--out", str(out)).returncode == 0
    done = run("review", str(TOY), str(out), "--student", "correct", "--cell", "explain", "--points", "1.5")
    assert done.returncode == 0, done.stderr
    assert read_grades(out)["correct"]["explain (manual)"] == "1.5"
    assert read_grades(out)["correct"]["manual_pending"] == "0"
    bad = autograder_in_process(
        "review", str(TOY), str(out), "--student", "correct", "--cell", "explain", "--points", "9"
    )
    assert bad.exit_code == 2 and "between 0 and 2" in bad.stderr
    assert run("grade", str(TOY), str(subs), "--out", str(out), "--force").returncode == 0
    assert read_grades(out)["correct"]["explain (manual)"] == "1.5"


@pytest.mark.slow
def test_a_run_killed_with_sigkill_is_finished_by_the_next_run(tmp_path):
    subs = tmp_path / "subs"
    slow = nbformat.read(TOY_SUBMISSIONS / "correct.ipynb", as_version=4)
    slow.cells.append(nbformat.v4.new_code_cell("import time\ntime.sleep(1.0)"))
    students = [f"s{i}" for i in range(5)]
    for student in students:
        (subs / student).mkdir(parents=True)
        nbformat.write(slow, subs / student / "toy.ipynb")
    out = tmp_path / "out"
    process = subprocess.Popen(
        [*AUTOGRADER, "grade", str(TOY), str(subs), "--out", str(out), "--workers", "1"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while len(list((out / ".state").glob("*.json"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    finished = {p.name: p.stat().st_mtime_ns for p in (out / ".state").glob("*.json")}
    assert 2 <= len(finished) < len(students), "kill the run mid-batch"
    assert not (out / "grades.csv").exists()

    done = run("grade", str(TOY), str(subs), "--out", str(out), "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert f"{len(finished)} submission(s) already graded" in done.stderr
    after = {p.name: p.stat().st_mtime_ns for p in (out / ".state").glob("*.json")}
    assert {k: after[k] for k in finished} == finished, "finished students were graded again"
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert sorted(r["student_id"] for r in rows) == students
    assert {r["score"] for r in rows} == {"5"}


@pytest.mark.slow
def test_a_canvas_zip_is_graded_and_exported_for_canvas(tmp_path):
    archive = tmp_path / "submissions.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(TOY_SUBMISSIONS / "correct.ipynb", "doejane_12345_67890_toy.ipynb")
        zf.write(TOY_SUBMISSIONS / "partially-wrong.ipynb", "smithbob_LATE_22222_11111_toy-1.ipynb")
        zf.write(TOY_SUBMISSIONS / "correct.ipynb", "../../evilzip_33333_44444_toy.ipynb")
    out = tmp_path / "out"
    done = run("grade", str(TOY), str(archive), "--out", str(out), "--workers", "2")
    assert done.returncode == 1, done.stderr
    grades = read_grades(out)
    assert grades["12345"]["score"] == "5" and grades["22222"]["late"] == "yes"
    assert "points outside the folder" in grades["33333"]["reason"]
    assert not (tmp_path.parent / "evilzip_33333_44444_toy.ipynb").exists()
    done = run("export", "toy", str(out), "--format", "canvas")
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader((out / "canvas-toy.csv").open()))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "toy"]
    assert rows[1] == ["    Points Possible", "", "", "", "", "7"]
    assert rows[2:] == [
        ["doejane", "12345", "", "", "", "5"],
        ["smithbob", "22222", "", "", "", "2"],
        ["evilzip", "33333", "", "", "", ""],
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["grade", "no_such_hw", "subs", "--out", "o"], "no source notebook for assignment 'no_such_hw'"),
        (["grade", str(TOY), "/nonexistent/subs", "--out", "o"], "submissions not found"),
        (["grade", str(TOY), ".", "--out", "o", "--workers", "0"], "Invalid value for '--workers'"),
        (["export", "toy", "/nonexistent/out"], "no grading results in /nonexistent/out"),
    ],
)
def test_usage_errors_exit_2_and_say_how_to_fix_them(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    done = autograder_in_process(*args)
    assert done.exit_code == 2
    assert message in " ".join(done.stderr.split())


@pytest.mark.slow
def test_a_grader_fault_fails_one_student_with_a_sentence_and_a_log_and_is_retried(tmp_path, monkeypatch):
    """Does a bug of the grader on one notebook leave the batch whole, say so (exit 3), and heal on re-run?"""
    from click.testing import CliRunner

    from autograder import cli, pipeline

    subs = tmp_path / "subs"
    good = (TOY_SUBMISSIONS / "correct.ipynb").read_text(encoding="utf-8")
    odd = json.loads(good)  # a grade id that reads as rich markup in the summary table
    odd["cells"][0]["metadata"]["nbgrader"] = {"grade_id": "[/oops]"}
    for student, text in {"ann": good, "bob-faulty": good, "[bold]cyd": json.dumps(odd)}.items():
        (subs / student).mkdir(parents=True)
        (subs / student / "toy.ipynb").write_text(text, encoding="utf-8")
    real = pipeline.render_feedback

    def faulty(nb, result, *, assignment):
        if result.student_id == "bob-faulty":
            raise KeyError("a bug in the grader")
        return real(nb, result, assignment=assignment)

    monkeypatch.setattr(pipeline, "render_feedback", faulty)
    out = tmp_path / "out"
    args = ["grade", str(TOY), str(subs), "--out", str(out), "--workers", "1"]
    done = CliRunner().invoke(cli.main, args)
    assert done.exit_code == 3, done.output
    grades = read_grades(out)
    assert grades["ann"]["score"] == "5" and grades["[bold]cyd"]["score"] == "5"
    bob = grades["bob-faulty"]
    assert bob["status"] == "failed" and bob["score"] == ""
    assert (
        "a fault in the grader, not in the notebook" in bob["reason"] and "grader-errors.log" in bob["reason"]
    )
    assert "KeyError" not in bob["reason"] and "Traceback" not in bob["reason"]
    log = (out / "grader-errors.log").read_text(encoding="utf-8")
    assert "student 'bob-faulty'" in log and "KeyError: 'a bug in the grader'" in log
    assert "The grader itself failed on 1 submission(s)" in done.output
    assert "'[/oops]'" in grades["[bold]cyd"]["reason"]  # quoted, and it did not break the table

    monkeypatch.setattr(pipeline, "render_feedback", real)  # the grader is fixed: only bob is graded again
    again = CliRunner().invoke(cli.main, args)
    assert again.exit_code == 0, again.output
    assert read_grades(out)["bob-faulty"]["score"] == "5" and "(1 graded now)" in again.output.replace(
        "\n", " "
    )


COUNT_SANDBOXES = """
import os, sys
sys.path.insert(0, os.environ["COUNT_ROOT"])
from autograder import sandbox
started = sandbox.Runner.__init__
def counted(self, **kwargs):
    with open(os.environ["COUNT_FILE"], "a") as log:
        log.write(kwargs.get("role", "student") + "\\n")
    started(self, **kwargs)
sandbox.Runner.__init__ = counted
"""


def test_a_batch_starts_no_sandbox_it_does_not_use(tmp_path):
    """Each worker warms the next submission's sandboxes, but not after the batch's last ones."""
    subs = tmp_path / "subs"
    for i in range(5):
        (subs / f"s{i}").mkdir(parents=True)
        shutil.copyfile(TOY_SUBMISSIONS / "correct.ipynb", subs / f"s{i}" / "toy.ipynb")
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(COUNT_SANDBOXES)  # loaded by the grader and by its workers
    log = tmp_path / "started.txt"
    env = {**os.environ, "PYTHONPATH": str(hook), "COUNT_ROOT": str(ROOT), "COUNT_FILE": str(log)}
    for workers in ("1", "2"):
        log.write_text("")
        done = subprocess.run(
            [*AUTOGRADER, "grade", str(TOY), str(subs), "--out", str(tmp_path / workers), "--workers",
             workers],
            cwd=ROOT, capture_output=True, text=True, timeout=240, env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        started = log.read_text().split()
        # One worker knows its last submission. In a pool the last jobs warm nothing, but which worker
        # takes which job is the pool's choice, so one worker may still have warmed a pair in vain
        # (before: every worker did, 2 pairs at --workers 2).
        unused = started.count("student") - 5
        assert started.count("verifier") - 5 == unused and 0 <= unused <= int(workers) - 1, started
