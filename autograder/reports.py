"""Everything written for people and other tools: grades.csv, results.json, the Canvas CSV, exit status.

All of it is derived from :class:`~autograder.results.SubmissionResult` values (plus manual scores from
the gradebook), sorted by student id, and written atomically, so a re-run produces identical files.
"""

from __future__ import annotations

import csv
import enum
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from autograder.results import Status, SubmissionResult

ERROR_LOG = "grader-errors.log"


def file_name(student_id: str) -> str:
    """A file name for a student's outputs: the id itself, or, for an id no file can be named (too long,
    a path separator, unencodable, ``.``/``..``), its first characters and a digest (unique per id)."""
    encoded = student_id.encode("utf-8", "surrogateescape")
    plain = 0 < len(encoded) <= 100 and "/" not in student_id and "\0" not in student_id
    if plain and student_id not in (".", "..") and not student_id.startswith("."):
        try:
            student_id.encode("utf-8")
            return student_id
        except UnicodeEncodeError:
            pass
    digest = hashlib.sha256(encoded).hexdigest()[:16]
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in student_id[:40])
    return f"{stem}-{digest}"


def log_grader_error(out: Path, student_id: str, step: str, error: BaseException) -> None:
    """Append the traceback of a grader fault to ``OUT/grader-errors.log`` (one block per fault)."""
    import datetime
    import traceback

    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    text = "".join(traceback.format_exception(error))
    block = f"== {stamp} student {student_id!r}: {step}\n{text}\n"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ERROR_LOG, "a", encoding="utf-8", errors="replace") as handle:
        handle.write(block)  # one write per block: blocks of parallel workers do not interleave


class ExitStatus(enum.IntEnum):
    """The CLI's exit codes."""

    OK = 0
    SOME_FAILED = 1
    USAGE = 2
    GRADER_ERROR = 3


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers (and a re-run after ``kill -9``) never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:60]}.", suffix=".tmp")
    try:
        # errors="replace": a character UTF-8 cannot hold (a lone surrogate) must never lose a whole file
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class GradeReport:
    """The outcome of one ``grade`` run; it alone decides the exit code.

    Attributes:
        assignment: the assignment's name.
        out: the output folder.
        results: every student's result, sorted by id.
        regraded: ids graded in this run (the others were finished by an earlier run).
    """

    assignment: str
    out: Path
    results: tuple[SubmissionResult, ...]
    regraded: tuple[str, ...]

    @property
    def failed(self) -> tuple[SubmissionResult, ...]:
        """Results that could not be graded."""
        return tuple(r for r in self.results if r.status is Status.FAILED)

    @property
    def grader_errors(self) -> tuple[SubmissionResult, ...]:
        """Results that failed because of a fault in the grader (see ``grader-errors.log``)."""
        return tuple(r for r in self.results if r.grader_error)

    @property
    def exit_status(self) -> ExitStatus:
        """0 when every submission was graded, 1 when some failed, 3 when the grader itself failed on some."""
        if self.grader_errors:
            return ExitStatus.GRADER_ERROR
        return ExitStatus.SOME_FAILED if self.failed else ExitStatus.OK


def _manual_ids(results: Sequence[SubmissionResult]) -> list[tuple[str, float]]:
    seen: dict[str, float] = {}
    for result in results:
        for cell in result.cells:
            if cell.manual:
                seen.setdefault(cell.grade_id, cell.max_points)
    return list(seen.items())


def grades_csv(results: Sequence[SubmissionResult]) -> str:
    """The text of ``grades.csv``, from results with the gradebook merged in (``with_grading``).

    Columns: ``student_id, score, max_score, status, reason, late, manual_pending, manual_max, overrides``,
    then one column per manually graded cell (``<grade_id> (manual)``) holding the entered points or
    ``awaiting review``. ``score``/``max_score`` are the tests' points (an overridden test counts the
    instructor's points; ``overrides`` says which, from what, and why); a failed row has an empty score.
    """
    manual_cells = _manual_ids(results)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["student_id", "score", "max_score", "status", "reason", "late", "manual_pending", "manual_max"]
        + ["overrides"]
        + [f"{grade_id} (manual)" for grade_id, _ in manual_cells]
    )
    for r in results:
        graded = r.status is Status.GRADED
        columns = []
        for grade_id, _max_points in manual_cells:
            cell = next((c for c in r.cells if c.grade_id == grade_id), None)
            if not graded or cell is None:
                columns.append("")
            else:
                columns.append("awaiting review" if cell.points is None else f"{cell.points:g}")
        writer.writerow(
            [
                r.student_id,
                f"{r.total:g}" if graded else "",
                f"{r.max_total:g}" if graded else "",
                str(r.status),
                r.reason,
                "yes" if r.lms and r.lms.late else "",
                f"{r.manual_pending:g}" if graded else "",
                f"{r.manual_max:g}" if graded else "",
                override_text(r),
                *columns,
            ]
        )
    return buffer.getvalue()


def override_text(result: SubmissionResult) -> str:
    """``grade-id: tests' points -> instructor's points (reason)`` per overridden test, ``; ``-joined."""
    parts = []
    for c in result.cells:
        if c.overridden:
            tests = "-" if c.auto_points is None else f"{c.auto_points:g}"
            reason = f" ({c.override_reason})" if c.override_reason else ""
            parts.append(f"{c.grade_id}: {tests} -> {c.points:g}{reason}")
    return "; ".join(parts)


def results_json(assignment: str, results: Sequence[SubmissionResult]) -> str:
    """The text of ``results.json``: per student, per graded cell, points, max, passed and message.

    A cell a person graded also has ``comment`` (the grader's comment) and, when its tests' points were
    overridden, ``override`` (``tests_points`` and ``reason``); ``points`` is then the instructor's.
    """
    students = {}
    for r in results:
        students[r.student_id] = {
            "status": str(r.status),
            "reason": r.reason,
            "score": r.total if r.status is Status.GRADED else None,
            "max_score": r.max_total if r.status is Status.GRADED else None,
            "cells": {
                c.grade_id: {
                    "points": c.points,
                    "max": c.max_points,
                    "passed": c.passed,
                    "manual": c.manual,
                    "message": c.message,
                    **({"comment": c.comment} if c.comment else {}),
                    **(
                        {"override": {"tests_points": c.auto_points, "reason": c.override_reason}}
                        if c.overridden
                        else {}
                    ),
                }
                for c in r.cells
            },
            "lms": None if r.lms is None else r.lms.__dict__,
        }
    return json.dumps({"assignment": assignment, "students": students}, indent=2, sort_keys=True) + "\n"


def canvas_csv(assignment: str, results: Sequence[SubmissionResult]) -> str:
    """A Canvas gradebook import file: Student, ID, SIS User ID, SIS Login ID, Section, one assignment column.

    The score is every point known so far (tests, overrides and entered manual points: results with the
    gradebook merged in); a failed submission is left blank (Canvas keeps the cell empty instead of
    recording a zero). Students without LMS ids (folder input) use their folder name as name and id.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", assignment])
    max_points = max((r.max_total + r.manual_max for r in results if r.status is Status.GRADED), default=0.0)
    writer.writerow(["    Points Possible", "", "", "", "", f"{max_points:g}"])
    for r in results:
        name, user_id = (r.lms.name, r.lms.user_id) if r.lms else (r.student_id, r.student_id)
        value = f"{r.total + r.manual_total:g}" if r.status is Status.GRADED else ""
        writer.writerow([name, user_id, "", "", "", value])
    return buffer.getvalue()
