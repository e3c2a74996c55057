"""The ordered steps that grade one submission, and nothing else.

``read`` → ``check_structure`` → ``restore`` → ``execute`` → ``limit_output`` → ``score`` → ``conceal`` →
``feedback``. A :class:`~autograder.errors.SubmissionError` from any step becomes a ``failed`` result with
its reason. The sandboxed processes (the student's and the verifier of its tests, see
:mod:`autograder.steps.execute`) are asked for only when there is code to run, through
``start_runner(role)``, so the caller decides how processes are started (and kept warm).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace

from nbformat import NotebookNode

from autograder.collect import Submission
from autograder.errors import SubmissionError
from autograder.results import Status, SubmissionResult
from autograder.sandbox import ExecutionStatus, Role, Runner
from autograder.sandbox.runner import UNHONOURED
from autograder.source import Assignment
from autograder.steps.conceal import conceal, redact
from autograder.steps.execute import execute
from autograder.steps.feedback import render_failure, render_feedback
from autograder.steps.limit_output import limit_output
from autograder.steps.read import check_structure, read_notebook
from autograder.steps.restore import restore
from autograder.steps.score import score


@dataclass(frozen=True)
class Graded:
    """A submission's result plus what is written next to it."""

    result: SubmissionResult
    feedback_html: str
    executed: NotebookNode | None


def fingerprint(submission: Submission, assignment: Assignment) -> str:
    """Digest of everything that decides a result: the file, the problem found, the source, the settings."""
    digest = hashlib.sha256(assignment.fingerprint.encode())
    digest.update(
        json.dumps(
            [submission.student_id, submission.problem, submission.lms and submission.lms.__dict__],
            default=str,
        ).encode()
    )
    notebook = submission.notebook
    if notebook is not None and notebook.is_file() and not notebook.is_symlink():
        # Bounded: a file larger than the limit (even a sparse terabyte) is refused later, unread.
        limit = assignment.config.max_notebook_bytes
        digest.update(str(notebook.stat().st_size).encode())
        with open(notebook, "rb") as handle:
            while chunk := handle.read(min(1 << 20, limit + 1 - handle.tell())):
                digest.update(chunk)
    return digest.hexdigest()


def _unhonoured(cell: NotebookNode) -> bool:
    """Whether a cell's outputs say a test's binding could not be carried to the student's process."""
    return any(
        output.get("output_type") == "error" and UNHONOURED in output.get("evalue", "")
        for output in cell.get("outputs", ())
    )


def grade_submission(
    submission: Submission, assignment: Assignment, *, start_runner: Callable[[Role], Runner]
) -> Graded:
    """Grade one submission.

    Args:
        submission: the collected submission.
        assignment: the source of truth.
        start_runner: returns a started sandbox process for a :class:`~autograder.sandbox.Role`
            (called at most once each).

    Returns:
        The result (graded or failed), the feedback page and the executed notebook (None when failed).
    """
    base = SubmissionResult(
        student_id=submission.student_id,
        status=Status.FAILED,
        lms=submission.lms,
        fingerprint=fingerprint(submission, assignment),
    )
    try:
        if submission.problem or submission.notebook is None:
            raise SubmissionError(submission.problem or "no notebook found")
        nb, read_notes = read_notebook(submission.notebook, max_bytes=assignment.config.max_notebook_bytes)
        notes = [*submission.notes, *read_notes, *check_structure(nb, assignment)]
    except SubmissionError as error:
        failed = replace(base, reason=error.reason)
        return Graded(failed, render_failure(failed, assignment=assignment.name), None)

    restored, restore_notes = restore(nb, assignment)
    student = start_runner(Role.STUDENT)
    try:
        verifier = start_runner(Role.VERIFIER)
    except BaseException:
        student.close()
        raise
    submitted = (f"{assignment.name}.ipynb", submission.notebook.read_bytes())
    executed, execution = execute(restored, assignment, student, verifier, notebook=submitted)
    if execution.status == ExecutionStatus.SANDBOX_ERROR:  # the grader's failure: no silent zero
        failed = replace(base, reason=redact(f"grading failed: {execution.detail}", assignment.hidden_lines))
        return Graded(failed, render_failure(failed, assignment=assignment.name), None)
    limit_output(executed, max_chars=assignment.config.max_output_chars)
    cells = score(executed, assignment, execution)
    cells = tuple(replace(c, message=redact(c.message, assignment.hidden_lines)) for c in cells)
    unhonoured = [f"cell {i}" for i, cell in enumerate(executed.cells) if _unhonoured(cell)]
    if unhonoured:  # never a silent wrong score: the batch report shows where the design could not follow
        notes.append(
            f"{UNHONOURED}: student code met a test's binding it cannot see in {', '.join(unhonoured)}"
        )
    if execution.status != ExecutionStatus.FINISHED:
        where = ""
        if execution.stopped_at is not None:
            grade_id = (
                executed.cells[execution.stopped_at].get("metadata", {}).get("nbgrader", {}).get("grade_id")
            )
            where = f" (cell {execution.stopped_at}" + (f", {grade_id!r})" if grade_id else ")")
        notes.append(execution.detail + where)
    reason = "; ".join(dict.fromkeys([*notes, *restore_notes]))
    result = replace(base, status=Status.GRADED, reason=redact(reason, assignment.hidden_lines), cells=cells)
    html = render_feedback(conceal(executed, assignment), result, assignment=assignment.name)
    return Graded(result, html, executed)
