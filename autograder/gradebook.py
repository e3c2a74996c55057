"""Persistence in nbgrader's own Gradebook (SQLite under the output folder; nothing to start).

After a run, :func:`record` mirrors the assignment's cells (as nbgrader's ``SaveCells`` would) and every
graded submission's automatic scores (as ``SaveAutoGrades`` would) into ``OUT/gradebook.db``. Manual
scores and comments entered later (:func:`set_manual_score`, or nbgrader's formgrader pointed at the same
database) are never overwritten by a re-run, and every output is derived from them (:func:`grading`).
Failed submissions are not recorded: they have no grades to hold.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from autograder.errors import UsageError
from autograder.results import Grading, Status, SubmissionResult
from autograder.source import Assignment, nb_meta

DB_NAME = "gradebook.db"


@contextlib.contextmanager
def _open(out: Path) -> Iterator:
    """nbgrader's Gradebook, with this interpreter's scripts on PATH (it runs ``alembic``)."""
    from nbgrader.api import Gradebook

    scripts = str(Path(sys.executable).parent)
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = scripts + os.pathsep + old
    try:
        with warnings.catch_warnings(), Gradebook(_url(out)) as gb:
            warnings.simplefilter("ignore")  # SQLAlchemy warnings from inside nbgrader's own models
            yield gb
    finally:
        os.environ["PATH"] = old


def _url(out: Path) -> str:
    return f"sqlite:///{(out / DB_NAME).resolve()}"


def record(
    out: Path, assignment: Assignment, results: Sequence[SubmissionResult]
) -> list[tuple[str, Exception]]:
    """Store the assignment's structure and the automatic grades of graded submissions.

    A student whose grades cannot be stored is skipped (the others are stored); ``grades.csv`` and
    ``results.json`` still hold that student's grades.

    Args:
        out: the output folder (the database is ``out/gradebook.db``).
        assignment: the loaded assignment.
        results: all results of the run.

    Returns:
        ``(student_id, error)`` for every student that could not be stored.
    """
    from sqlalchemy.exc import SQLAlchemyError

    name = assignment.name
    skipped: list[tuple[str, Exception]] = []
    with _open(out) as gb:
        gb.update_or_create_assignment(name)
        gb.update_or_create_notebook(name, name)
        for cell in assignment.master.cells:
            meta = nb_meta(cell)
            grade_id = meta.get("grade_id")
            if not grade_id:
                continue
            if meta.get("grade"):
                gb.update_or_create_grade_cell(
                    grade_id, name, name, max_score=float(meta.get("points", 0)), cell_type=cell.cell_type
                )
            if meta.get("solution"):
                gb.update_or_create_solution_cell(grade_id, name, name)
            gb.update_or_create_source_cell(
                grade_id,
                name,
                name,
                cell_type=cell.cell_type,
                locked=bool(meta.get("locked")),
                source=cell.source,
                checksum=meta.get("checksum"),
            )
        for result in results:
            if result.status is not Status.GRADED:
                continue
            try:
                _record_student(gb, name, result)
            except (SQLAlchemyError, ValueError, TypeError) as error:
                gb.db.rollback()
                skipped.append((result.student_id, error))
        gb.db.commit()
    return skipped


def _record_student(gb: Any, name: str, result: SubmissionResult) -> None:
    from nbgrader.api import MissingEntry

    first, last = (result.lms.name, "") if result.lms else ("", "")
    gb.update_or_create_student(result.student_id, first_name=first, last_name=last)
    try:
        gb.find_submission(name, result.student_id)
    except MissingEntry:
        gb.add_submission(name, result.student_id)
    for cell in result.cells:
        grade = gb.find_grade(cell.grade_id, name, name, result.student_id)
        grade.auto_score = cell.points if not cell.manual or cell.points is not None else None
        grade.needs_manual_grade = cell.manual and cell.points is None and grade.manual_score is None
    gb.db.commit()


OVERRIDES = "autograder_override"  # our one table beside nbgrader's: why a test's points were overridden


def _reasons(out: Path) -> sqlite3.Connection:
    db = sqlite3.connect(out / DB_NAME)
    db.execute(
        f"CREATE TABLE IF NOT EXISTS {OVERRIDES} (assignment TEXT, student_id TEXT, grade_id TEXT, "
        "reason TEXT NOT NULL, PRIMARY KEY (assignment, student_id, grade_id))"
    )
    return db


def grading(out: Path, assignment: str) -> dict[str, dict[str, Grading]]:
    """What people decided, read from the gradebook: ``{student_id: {grade_id: Grading}}``.

    Points are nbgrader's ``Grade.manual_score`` (entered with ``autograder review`` or in formgrader; on
    a test cell it overrides the tests, as in nbgrader's own score), comments its
    ``Comment.manual_comment`` (formgrader's comment box), reasons our ``autograder_override`` table.
    ``{}`` without a database.
    """
    if not (out / DB_NAME).exists():
        return {}
    from nbgrader.api import (
        BaseCell,
        Comment,
        Grade,
        GradeCell,
        Notebook,
        SubmittedAssignment,
        SubmittedNotebook,
    )

    points: dict[tuple[str, str], float] = {}
    comments: dict[tuple[str, str], str] = {}
    with _open(out) as gb:
        rows = (
            gb.db.query(SubmittedAssignment.student_id, GradeCell.name, Grade.manual_score)
            .join(SubmittedNotebook, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
            .join(Grade, Grade.notebook_id == SubmittedNotebook.id)
            .join(GradeCell, GradeCell.id == Grade.cell_id)
            .join(Notebook, Notebook.id == GradeCell.notebook_id)
            .filter(Notebook.name == assignment, Grade.manual_score.isnot(None))
        )
        points = {(student, grade_id): float(score) for student, grade_id, score in rows}
        rows = (
            gb.db.query(SubmittedAssignment.student_id, BaseCell.name, Comment.manual_comment)
            .join(SubmittedNotebook, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
            .join(Comment, Comment.notebook_id == SubmittedNotebook.id)
            .join(BaseCell, BaseCell.id == Comment.cell_id)
            .join(Notebook, Notebook.id == BaseCell.notebook_id)
            .filter(Notebook.name == assignment, Comment.manual_comment.isnot(None))
        )
        comments = {(student, grade_id): text for student, grade_id, text in rows if text.strip()}
    with contextlib.closing(_reasons(out)) as db:
        reasons = {
            (student, grade_id): reason
            for student, grade_id, reason in db.execute(
                f"SELECT student_id, grade_id, reason FROM {OVERRIDES} WHERE assignment = ?", (assignment,)
            )
        }
    result: dict[str, dict[str, Grading]] = {}
    for key in sorted({*points, *comments}):
        student, grade_id = key
        result.setdefault(student, {})[grade_id] = Grading(
            points.get(key), comments.get(key, ""), reasons.get(key, "") if key in points else ""
        )
    return result


def set_manual_score(
    out: Path,
    assignment: str,
    student_id: str,
    grade_id: str,
    points: float | None,
    *,
    override: str | None = None,
) -> float:
    """Enter a manual score (what formgrader does when an instructor types points).

    On a test cell the points override the tests' (nbgrader's ``Grade.manual_score``, which nbgrader's own
    score prefers) and need a reason, kept in the ``autograder_override`` table; a re-grade keeps both.
    ``points=None`` removes the entered score (and the reason): the cell is graded as before.

    Returns:
        The cell's maximum points.

    Raises:
        UsageError: unknown student or cell, points outside ``0..max``, a test cell without a reason.
    """
    from nbgrader.api import MissingEntry

    if not (out / DB_NAME).exists():
        raise UsageError(f"no gradebook in {out}: run `autograder grade ... --out {out}` first.")
    with _open(out) as gb:
        try:
            grade = gb.find_grade(grade_id, assignment, assignment, student_id)
        except MissingEntry:
            raise UsageError(
                f"no grade {grade_id!r} for student {student_id!r} in {assignment!r}: "
                "check the ids in grades.csv."
            ) from None
        try:
            gb.find_solution_cell(grade_id, assignment, assignment)
            written = True
        except MissingEntry:
            written = False
        max_score = float(grade.max_score)
        if points is not None and not 0 <= points <= max_score:
            raise UsageError(f"points must be between 0 and {max_score:g} for {grade_id!r}.")
        if points is not None and not written and not (override or "").strip():
            raise UsageError(
                f"{grade_id!r} is graded by its tests; to replace their points give a reason: "
                f"--override 'REASON'."
            )
        grade.manual_score = points
        grade.needs_manual_grade = written and points is None and grade.auto_score is None
        gb.db.commit()
    with contextlib.closing(_reasons(out)) as db, db:
        db.execute(
            f"DELETE FROM {OVERRIDES} WHERE assignment = ? AND student_id = ? AND grade_id = ?",
            (assignment, student_id, grade_id),
        )
        if points is not None and not written:
            db.execute(
                f"INSERT INTO {OVERRIDES} VALUES (?, ?, ?, ?)",
                (assignment, student_id, grade_id, (override or "").strip()),
            )
    return max_score
