"""Persistence in nbgrader's own Gradebook (SQLite under the output folder; nothing to start).

After a run, :func:`record` mirrors the assignment's cells (as nbgrader's ``SaveCells`` would) and every
graded submission's automatic scores (as ``SaveAutoGrades`` would) into ``OUT/gradebook.db``. Manual
scores entered later (:func:`set_manual_score`, or nbgrader's formgrader pointed at the same database) are
never overwritten by a re-run. Failed submissions are not recorded: they have no grades to hold.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

from autograder.errors import UsageError
from autograder.results import Status, SubmissionResult
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


def _record_student(gb, name: str, result: SubmissionResult) -> None:
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


def manual_scores(out: Path, assignment: str) -> dict[str, dict[str, float]]:
    """Manual scores entered so far: ``{student_id: {grade_id: points}}`` ({} without a database)."""
    if not (out / DB_NAME).exists():
        return {}
    from nbgrader.api import Grade, GradeCell, Notebook, SubmittedAssignment, SubmittedNotebook

    scores: dict[str, dict[str, float]] = {}
    with _open(out) as gb:
        rows = (
            gb.db.query(SubmittedAssignment.student_id, GradeCell.name, Grade.manual_score)
            .join(SubmittedNotebook, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
            .join(Grade, Grade.notebook_id == SubmittedNotebook.id)
            .join(GradeCell, GradeCell.id == Grade.cell_id)
            .join(Notebook, Notebook.id == GradeCell.notebook_id)
            .filter(Notebook.name == assignment, Grade.manual_score.isnot(None))
        )
        for student, grade_id, points in rows:
            scores.setdefault(student, {})[grade_id] = float(points)
    return scores


def set_manual_score(out: Path, assignment: str, student_id: str, grade_id: str, points: float) -> float:
    """Enter a manual score (what formgrader does when an instructor types points).

    Returns:
        The cell's maximum points.

    Raises:
        UsageError: unknown student or cell, or points outside ``0..max``.
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
        max_score = float(grade.max_score)
        if not 0 <= points <= max_score:
            raise UsageError(f"points must be between 0 and {max_score:g} for {grade_id!r}.")
        grade.manual_score = points
        grade.needs_manual_grade = False
        gb.db.commit()
    return max_score
