"""Persistence in nbgrader's own Gradebook (SQLite under the output folder; nothing to start).

After a run, :func:`record` mirrors the assignment's cells (as nbgrader's ``SaveCells`` would) and every
graded submission's automatic scores (as ``SaveAutoGrades`` would) into ``OUT/gradebook.db``. Manual
scores and comments entered later (:func:`set_manual_score`, or nbgrader's formgrader pointed at the same
database) are never overwritten by a re-run, and every output is derived from them (:func:`grading`).
Failed submissions are not recorded: they have no grades to hold.

An assignment of several notebooks (nbgrader's course layout) has one gradebook, as nbgrader keeps it:
``OUT/gradebook.db`` holds the assignment and each of its notebooks, while each notebook's other outputs
are in ``OUT/<notebook>/``; that folder names its assignment in a small file (:func:`join`), so every
function here takes a notebook's output folder and finds the right database, assignment and notebook.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.errors import UsageError
from autograder.results import Grading, Status, SubmissionResult
from autograder.source import Assignment, nb_meta

DB_NAME = "gradebook.db"
LINK = ".gradebook.json"  # in OUT/<notebook>/ of a several-notebook assignment: whose gradebook it records in


@dataclass(frozen=True)
class Place:
    """Where one notebook's grades live: the folder holding ``gradebook.db``, nbgrader's assignment and
    notebook names (the same name twice for this course's one-notebook assignments)."""

    folder: Path
    assignment: str
    notebook: str

    @property
    def key(self) -> str:
        """The notebook's key in the overrides table (unique within the database)."""
        return self.notebook if self.assignment == self.notebook else f"{self.assignment}/{self.notebook}"


def join(out: Path, assignment: str) -> None:
    """Make ``out``, a notebook's output folder inside its assignment's, record in the parent's gradebook."""
    out.mkdir(parents=True, exist_ok=True)
    (out / LINK).write_text(json.dumps({"assignment": assignment}) + "\n", encoding="utf-8")


def place(out: Path, notebook: str) -> Place:
    """Where the grades of ``notebook``, graded into ``out``, are kept (see :func:`join`)."""
    link = out / LINK
    if link.is_file():
        assignment = json.loads(link.read_text(encoding="utf-8"))["assignment"]
        return Place(out.parent, str(assignment), notebook)
    return Place(out, notebook, notebook)


@contextlib.contextmanager
def _open(folder: Path) -> Iterator:
    """nbgrader's Gradebook on ``folder/gradebook.db`` (created first by :func:`_create`)."""
    from nbgrader.api import Gradebook

    _create(folder)
    with warnings.catch_warnings(), Gradebook(_url(folder)) as gb:
        warnings.simplefilter("ignore")  # SQLAlchemy warnings from inside nbgrader's own models
        yield gb


def schema_version() -> str:
    """The version of nbgrader's database schema: the head of the migrations nbgrader ships."""
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import ALEMBIC_DIR

    head = ScriptDirectory(ALEMBIC_DIR).get_current_head()
    if head is None:
        raise RuntimeError(f"nbgrader ships no database migrations in {ALEMBIC_DIR}")
    return head


def _create(folder: Path) -> None:
    """Create an empty gradebook as nbgrader's ``Gradebook`` does (its tables, stamped with the schema's
    version), in this process; a database already stamped with a version is left as it is.

    nbgrader itself asks an ``alembic`` subprocess for the version, which costs a Python start-up and
    alembic's imports (1 s on a quiet machine, 9 s measured on a busy one) once per output folder.
    """
    from nbgrader.api import Base
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(_url(folder), future=True)
    try:
        with engine.begin() as db:
            if "alembic_version" in inspect(db).get_table_names():
                return
            Base.metadata.create_all(bind=db)
            db.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            db.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": schema_version()})
    finally:
        engine.dispose()


def _url(folder: Path) -> str:
    return f"sqlite:///{(folder / DB_NAME).resolve()}"


class Recorder:
    """The gradebook of one notebook's run, written as results arrive (a batch's main process records a
    student while the workers grade the next ones, instead of every student after the last).

    The gradebook is opened, and the assignment's structure stored, at the first :meth:`add`; a student is
    recorded once per recorder, and :meth:`close` commits and says who could not be stored.
    """

    def __init__(self, out: Path, assignment: Assignment) -> None:
        self.out, self.assignment = out, assignment
        self.recorded: set[str] = set()
        self.skipped: list[tuple[str, Exception]] = []
        self._stack = contextlib.ExitStack()
        self._gb: Any = None

    def _open(self) -> Any:
        if self._gb is None:
            self.where = place(self.out, self.assignment.name)
            self._gb = self._stack.enter_context(_open(self.where.folder))
            _record_structure(self._gb, self.where, self.assignment)
        return self._gb

    def add(self, result: SubmissionResult) -> None:
        """Store ``result``'s automatic grades if it was graded (once; a later call for it is ignored)."""
        from sqlalchemy.exc import SQLAlchemyError

        gb = self._open()
        if result.status is not Status.GRADED or result.student_id in self.recorded:
            return
        self.recorded.add(result.student_id)
        try:
            _record_student(gb, self.where, result)
        except (SQLAlchemyError, ValueError, TypeError) as error:
            gb.db.rollback()
            self.skipped.append((result.student_id, error))

    def close(self) -> list[tuple[str, Exception]]:
        """Commit and close the gradebook (opened first if nothing was added); return ``(student_id,
        error)`` for every student that could not be stored."""
        self._open().db.commit()
        self._stack.close()
        return self.skipped


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
    recorder = Recorder(out, assignment)
    for result in results:
        recorder.add(result)
    return recorder.close()


def _record_structure(gb: Any, where: Place, assignment: Assignment) -> None:
    """The assignment, its notebook and its cells, as nbgrader's SaveCells stores them."""
    name, notebook = where.assignment, where.notebook
    gb.update_or_create_assignment(name)
    gb.update_or_create_notebook(notebook, name)
    for cell in assignment.master.cells:
        meta = nb_meta(cell)
        grade_id = meta.get("grade_id")
        if not grade_id:
            continue
        if meta.get("grade"):
            gb.update_or_create_grade_cell(
                grade_id, notebook, name, max_score=float(meta.get("points", 0)), cell_type=cell.cell_type
            )
        if meta.get("task"):  # a task: graded by a person, as nbgrader's SaveCells records it
            gb.update_or_create_task_cell(
                grade_id, notebook, name, max_score=float(meta.get("points", 0)), cell_type=cell.cell_type
            )
        if meta.get("solution"):
            gb.update_or_create_solution_cell(grade_id, notebook, name)
        gb.update_or_create_source_cell(
            grade_id,
            notebook,
            name,
            cell_type=cell.cell_type,
            locked=bool(meta.get("locked")),
            source=cell.source,
            checksum=meta.get("checksum"),
        )


def _record_student(gb: Any, where: Place, result: SubmissionResult) -> None:
    from nbgrader.api import MissingEntry

    first, last = (result.lms.name, "") if result.lms else ("", "")
    gb.update_or_create_student(result.student_id, first_name=first, last_name=last)
    try:
        submission = gb.find_submission(where.assignment, result.student_id)
    except MissingEntry:
        submission = gb.add_submission(where.assignment, result.student_id)
    # The notebook's grades in one query (nbgrader's find_grade joins seven tables for each cell); a cell
    # without one is looked up by find_grade, which says it is missing.
    mirrored = _mirror_notebook(gb, submission, where)
    grades = {grade.name: grade for grade in mirrored.grades}
    for cell in result.cells:
        grade = grades.get(cell.grade_id) or gb.find_grade(
            cell.grade_id, where.notebook, where.assignment, result.student_id
        )
        grade.auto_score = cell.points if not cell.manual or cell.points is not None else None
        grade.needs_manual_grade = cell.manual and cell.points is None and grade.manual_score is None
    gb.db.commit()


def _mirror_notebook(gb: Any, submission: Any, where: Place) -> Any:
    """``submission``'s copy of the notebook (nbgrader's ``SubmittedNotebook``), made if it has none yet.

    nbgrader's ``add_submission`` mirrors the notebooks the assignment has at that moment; a notebook
    graded after the student's first one (every notebook is graded in turn) is added here the same way.
    """
    from nbgrader.api import Comment, Grade, SubmittedNotebook

    existing = next((nb for nb in submission.notebooks if nb.notebook.name == where.notebook), None)
    if existing is not None:
        return existing
    notebook = gb.find_notebook(where.notebook, where.assignment)
    mirrored = SubmittedNotebook(notebook=notebook, assignment=submission)
    for cell in notebook.grade_cells:
        Grade(cell_id=cell.id, notebook=mirrored)
    for cell in notebook.solution_cells:
        Comment(cell_id=cell.id, notebook=mirrored)
    for cell in notebook.task_cells:
        Comment(cell_id=cell.id, notebook=mirrored)
        Grade(cell_id=cell.id, notebook=mirrored)
    gb.db.add(mirrored)
    gb.db.flush()
    return mirrored


OVERRIDES = "autograder_override"  # our one table beside nbgrader's: why a test's points were overridden


def _reasons(folder: Path) -> sqlite3.Connection:
    db = sqlite3.connect(folder / DB_NAME)
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
    where = place(out, assignment)
    if not (where.folder / DB_NAME).exists():
        return {}
    from nbgrader.api import Assignment as Homework
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
    with _open(where.folder) as gb:
        rows = (
            gb.db.query(SubmittedAssignment.student_id, GradeCell.name, Grade.manual_score)
            .join(SubmittedNotebook, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
            .join(Grade, Grade.notebook_id == SubmittedNotebook.id)
            .join(GradeCell, GradeCell.id == Grade.cell_id)
            .join(Notebook, Notebook.id == GradeCell.notebook_id)
            .join(Homework, Homework.id == Notebook.assignment_id)
            .filter(Notebook.name == where.notebook, Homework.name == where.assignment)
            .filter(Grade.manual_score.isnot(None))
        )
        points = {(student, grade_id): float(score) for student, grade_id, score in rows}
        rows = (
            gb.db.query(SubmittedAssignment.student_id, BaseCell.name, Comment.manual_comment)
            .join(SubmittedNotebook, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
            .join(Comment, Comment.notebook_id == SubmittedNotebook.id)
            .join(BaseCell, BaseCell.id == Comment.cell_id)
            .join(Notebook, Notebook.id == BaseCell.notebook_id)
            .join(Homework, Homework.id == Notebook.assignment_id)
            .filter(Notebook.name == where.notebook, Homework.name == where.assignment)
            .filter(Comment.manual_comment.isnot(None))
        )
        comments = {(student, grade_id): text for student, grade_id, text in rows if text.strip()}
    with contextlib.closing(_reasons(where.folder)) as db:
        reasons = {
            (student, grade_id): reason
            for student, grade_id, reason in db.execute(
                f"SELECT student_id, grade_id, reason FROM {OVERRIDES} WHERE assignment = ?", (where.key,)
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

    where = place(out, assignment)
    if not (where.folder / DB_NAME).exists():
        raise UsageError(f"no gradebook in {where.folder}: run `autograder grade ... --out {out}` first.")
    with _open(where.folder) as gb:
        try:
            grade = gb.find_grade(grade_id, where.notebook, where.assignment, student_id)
        except MissingEntry:
            raise UsageError(
                f"no grade {grade_id!r} for student {student_id!r} in {assignment!r}: "
                "check the ids in grades.csv."
            ) from None
        try:
            gb.find_solution_cell(grade_id, where.notebook, where.assignment)
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
    with contextlib.closing(_reasons(where.folder)) as db, db:
        db.execute(
            f"DELETE FROM {OVERRIDES} WHERE assignment = ? AND student_id = ? AND grade_id = ?",
            (where.key, student_id, grade_id),
        )
        if points is not None and not written:
            db.execute(
                f"INSERT INTO {OVERRIDES} VALUES (?, ?, ?, ?)",
                (where.key, student_id, grade_id, (override or "").strip()),
            )
    return max_score
