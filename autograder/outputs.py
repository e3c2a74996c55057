"""Every file written for people, derived when written from the stored results and the gradebook.

Stored results (``OUT/.state/<id>.json``) hold what the tests decided; the gradebook holds what people
decided (manual points, formgrader's comments, overrides). :func:`write` merges the two
(:meth:`~autograder.results.SubmissionResult.with_grading`) and writes from the merge: ``grades.csv``,
``results.json``, ``summary.html``, the Canvas export (when one exists, or is asked for) and the feedback
pages of the students people graded (each re-rendered from the executed notebook, concealed again). So a
score typed in formgrader or with ``autograder review`` reaches every file the next time any command that
changes grades runs, or ``autograder report``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import nbformat

from autograder import gradebook, reports, summary
from autograder.results import Grading, Status, SubmissionResult
from autograder.source import Assignment
from autograder.steps.conceal import conceal
from autograder.steps.feedback import render_feedback
from autograder.store import OutputStore


def _merge(
    results: Sequence[SubmissionResult], decided: Mapping[str, Mapping[str, Grading]]
) -> tuple[SubmissionResult, ...]:
    ordered = sorted(results, key=lambda r: r.student_id)
    return tuple(r.with_grading(decided.get(r.student_id, {})) for r in ordered)


def merged(out: Path, assignment: str, results: Sequence[SubmissionResult]) -> tuple[SubmissionResult, ...]:
    """``results`` (sorted by student id) with the gradebook's decisions merged in."""
    return _merge(results, gradebook.grading(out, assignment))


def canvas_path(out: Path, assignment: str) -> Path:
    """Where ``autograder export --format canvas`` writes by default."""
    return out / f"canvas-{assignment}.csv"


def rewrite_feedback(out: Path, assignment: Assignment, result: SubmissionResult) -> bool:
    """Render a graded student's feedback page again from the executed notebook, with ``result``'s scores.

    Returns:
        Whether a page was written (a failed submission has no executed notebook; its page stays).
    """
    files = OutputStore(out, assignment.name).files(result.student_id)
    if result.status is not Status.GRADED or not files.executed.is_file():
        return False
    nb = nbformat.read(files.executed, as_version=4)
    page = render_feedback(conceal(nb, assignment), result, assignment=assignment.name)
    reports.write_atomic(files.feedback, page)
    return True


def write(
    out: Path,
    assignment: Assignment,
    results: Sequence[SubmissionResult],
    *,
    feedback_for: Iterable[str] = (),
    canvas: bool = False,
) -> tuple[SubmissionResult, ...]:
    """Write every report from ``results`` merged with the gradebook.

    Args:
        out: the output folder.
        assignment: the loaded assignment (feedback pages are concealed against it).
        results: every stored result.
        feedback_for: students whose feedback page is rendered again, besides every student the gradebook
            holds a person's decision for (``report`` passes everyone).
        canvas: write the Canvas export even if none exists yet.

    Returns:
        The merged results, sorted by student id.
    """
    decided = gradebook.grading(out, assignment.name)
    final = _merge(results, decided)
    again = {*feedback_for, *decided}
    for result in final:
        if result.student_id in again:
            try:
                rewrite_feedback(out, assignment, result)
            except Exception as error:  # one page the grader cannot render is logged; the rest is written
                reports.log_grader_error(out, result.student_id, "rewriting the feedback page", error)
    reports.write_atomic(out / "grades.csv", reports.grades_csv(final))
    reports.write_atomic(out / "results.json", reports.results_json(assignment.name, final))
    reports.write_atomic(out / summary.FILE, summary.render(assignment.name, final))
    target = canvas_path(out, assignment.name)
    if canvas or target.exists():
        reports.write_atomic(target, reports.canvas_csv(assignment.name, final))
    return final
