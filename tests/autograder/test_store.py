"""Does the output store keep each student's files where a batch, a pod and a Dask client all look?

What is written for a student (feedback page, executed notebook, and last the state file that marks them
finished), what a re-run grades again (the resume plan), and the :class:`~autograder.store.Outcome` value
that carries a student's files between processes.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import pytest

from autograder.collect import Submission
from autograder.pipeline import fingerprint
from autograder.results import CellResult, LmsIdentity, Status, SubmissionResult
from autograder.source import load_assignment
from autograder.store import Outcome, OutputStore, stored_results

ROOT = Path(__file__).resolve().parents[2]
TOY = ROOT / "tests" / "fixtures" / "autograder"


@pytest.fixture(scope="module")
def toy():
    return load_assignment(TOY / "source" / "toy", root=ROOT)


def graded(student: str, points: float = 1.0, **changes: Any) -> Outcome:
    result = SubmissionResult(
        student, Status.GRADED, cells=(CellResult("sigmoid", points, 1.0, points == 1.0),), fingerprint="f"
    )
    return Outcome(dataclasses.replace(result, **changes), f"<p>{student}</p>", '{"cells": []}')


def test_a_saved_outcome_lands_where_a_batch_writes_and_reads_back_equal(tmp_path):
    store = OutputStore(tmp_path, "toy")
    outcome = graded("alice")
    assert store.save(outcome) == outcome.result
    assert (tmp_path / "feedback" / "alice" / "toy.html").read_text() == "<p>alice</p>"
    assert (tmp_path / "autograded" / "alice" / "toy" / "toy.ipynb").read_text() == '{"cells": []}'
    assert json.loads((tmp_path / ".state" / "alice.json").read_text())["cells"][0]["points"] == 1.0
    assert store.load("alice") == outcome


def test_a_failed_submission_has_a_page_and_no_executed_notebook(tmp_path):
    store = OutputStore(tmp_path, "toy")
    failed = Outcome(SubmissionResult("bob", Status.FAILED, reason="not JSON"), "<p>why</p>")
    store.save(failed)
    assert not (tmp_path / "autograded").exists()
    assert store.load("bob") == failed


def test_an_id_no_file_can_be_named_gets_a_safe_name_and_no_file_outside_out(tmp_path):
    store = OutputStore(tmp_path / "out", "toy")
    store.save(graded("../../escape"))
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and all((tmp_path / "out") in p.parents for p in written)
    assert store.load("../../escape").result.student_id == "../../escape"


def test_an_outcome_crosses_processes_unchanged():
    outcome = dataclasses.replace(graded("carol"), worker="tcp://10.0.0.2:4000")
    outcome = dataclasses.replace(
        outcome, result=dataclasses.replace(outcome.result, lms=LmsIdentity("C", "7", "9"))
    )
    assert pickle.loads(pickle.dumps(outcome)) == outcome


def test_discard_leaves_a_scratch_store_empty(tmp_path):
    store = OutputStore(tmp_path, "toy")
    store.save(graded("dave"))
    store.discard("dave")
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    assert store.stored("dave") is None


def test_an_unreadable_state_file_is_graded_again_not_a_crash(tmp_path):
    store = OutputStore(tmp_path, "toy")
    store.save(graded("erin"))
    (tmp_path / ".state" / "erin.json").write_text("{not json")
    assert store.stored("erin") is None
    with pytest.raises(ValueError):
        store.stored_result("erin")


def test_stored_results_is_none_before_any_run_and_every_result_after(tmp_path):
    assert stored_results(tmp_path) is None
    store = OutputStore(tmp_path, "toy")
    store.save(graded("b"))
    store.save(graded("a"))
    assert [r.student_id for r in stored_results(tmp_path)] == ["a", "b"]
    assert store.stored_ids() == ["a.json", "b.json"]


@pytest.fixture
def batch(tmp_path, toy):
    """Four students of the toy assignment, with the stored results of an earlier run for three."""
    subs = []
    for student in ("same", "changed", "fault", "new"):
        (tmp_path / "subs" / student).mkdir(parents=True)
        shutil.copyfile(TOY / "submissions" / "correct.ipynb", tmp_path / "subs" / student / "toy.ipynb")
        subs.append(Submission(student, tmp_path / "subs" / student / "toy.ipynb"))
    store = OutputStore(tmp_path / "out", toy.name)
    for sub in subs[:3]:
        store.save(
            graded(sub.student_id, fingerprint=fingerprint(sub, toy), grader_error=sub.student_id == "fault")
        )
    (tmp_path / "subs" / "changed" / "toy.ipynb").write_bytes(
        (TOY / "submissions" / "partially-wrong.ipynb").read_bytes()
    )
    return store, subs


def test_a_rerun_grades_only_the_new_the_changed_and_the_grader_faults(batch, toy):
    store, subs = batch
    plan = store.plan(subs, toy, force=False)
    assert [s.student_id for s in plan.todo] == ["changed", "fault", "new"]
    assert list(plan.done) == ["same"]


def test_force_grades_everyone_again(batch, toy):
    store, subs = batch
    plan = store.plan(subs, toy, force=True)
    assert [s.student_id for s in plan.todo] == ["same", "changed", "fault", "new"] and not plan.done


def test_named_students_are_graded_again_and_everyone_else_keeps_their_result(batch, toy):
    store, subs = batch
    plan = store.plan(subs, toy, force=False, students=frozenset({"same"}))
    assert [s.student_id for s in plan.todo] == ["same"]
    assert sorted(plan.done) == ["changed", "fault"]  # kept even though changed; "new" has nothing stored
