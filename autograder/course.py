"""nbgrader course layouts: which notebooks an assignment holds, and one student's score summed over them.

nbgrader's course folder (``nbgrader_config.py``, ``source/<assignment>/`` with one or more notebooks and
files, ``submitted/<student>/<assignment>/``) is graded as it is. Each notebook is graded like a
one-notebook assignment into ``OUT/<notebook>/`` (its own ``grades.csv``, ``results.json``, feedback
pages, gradebook and exports); :func:`write_reports` then writes ``OUT/grades.csv`` and
``OUT/results.json``, where a student's score is the sum over the notebooks and each notebook keeps its
own rows. A notebook a student did not submit scores 0 with its reason; it does not fail the others.
The gradebook is the assignment's (``OUT/gradebook.db``, nbgrader's assignment with its notebooks, see
:func:`autograder.gradebook.join`), so nbgrader's formgrader shows the assignment as nbgrader would, and
``OUT/summary.html`` and the Canvas export carry each student's total.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from autograder import outputs, reports, summary
from autograder.results import CellResult, Status, SubmissionResult
from autograder.source import notebooks_in, resolve_folder


def layout(assignment: str | Path, submissions: Path, *, root: Path) -> tuple[tuple[str, ...], str | None]:
    """The notebooks to grade and where each student's notebooks are.

    Args:
        assignment: the assignment's name or source folder, or the path to one of its notebooks.
        submissions: the submissions argument of ``grade``.
        root: the course root.

    Returns:
        ``(notebooks, within)``: the notebooks' names, and the assignment's folder name when students'
        folders follow nbgrader's ``submitted/<student>/<assignment>/`` layout (else ``None``).

    Raises:
        UsageError: no such assignment.
    """
    candidate = Path(assignment)
    if candidate.suffix == ".ipynb" and candidate.is_file():
        folder = candidate.parent.resolve()
        notebooks: tuple[str, ...] = (candidate.stem,)
    else:
        folder = resolve_folder(assignment, root=root)
        names = notebooks_in(folder)
        # This course's layout keeps one notebook named after its folder (solutions/hw1/hw1.ipynb).
        notebooks = (folder.name,) if names == (folder.name,) else names
    within = folder.name if _nbgrader_submitted(submissions, folder.name) else None
    return notebooks, within


def _nbgrader_submitted(submissions: Path, assignment: str) -> bool:
    """Whether some student folder holds an ``<assignment>/`` folder (nbgrader's ``submitted/`` layout)."""
    if not submissions.is_dir():
        return False
    try:
        return any((student / assignment).is_dir() for student in submissions.iterdir() if student.is_dir())
    except OSError:
        return False


NOT_GRADED = "(not graded)"


def combine(parts: Mapping[str, SubmissionResult], max_scores: Mapping[str, float]) -> SubmissionResult:
    """One student's result over an assignment's notebooks: cells ``<notebook>/<grade_id>``, points summed.

    A notebook that could not be graded (missing, unreadable) is one cell ``<notebook>/(not graded)``
    worth 0 of that notebook's ``max_scores`` points, so the student's maximum is the assignment's. The
    student is graded when any notebook was; the reason names each notebook's problem or notes; a
    grader fault in any notebook is a grader fault of the whole (a re-run grades it again).
    """
    first = next(iter(parts.values()))
    cells: list[CellResult] = []
    for name, r in parts.items():
        if r.status is Status.GRADED:
            cells += [replace(cell, grade_id=f"{name}/{cell.grade_id}") for cell in r.cells]
        else:
            cells.append(CellResult(f"{name}/{NOT_GRADED}", 0.0, max_scores.get(name, 0.0), False, r.reason))
    graded = any(r.status is Status.GRADED for r in parts.values())
    reason = "; ".join(f"{name}: {r.reason}" for name, r in parts.items() if r.reason)
    return SubmissionResult(
        student_id=first.student_id,
        status=Status.GRADED if graded else Status.FAILED,
        reason=reason,
        cells=tuple(cells),
        lms=first.lms,
        grader_error=any(r.grader_error for r in parts.values()),
    )


def results_json(
    assignment: str,
    per_notebook: Mapping[str, Mapping[str, SubmissionResult]],
    totals: Mapping[str, float],
) -> str:
    """The text of ``OUT/results.json``: per student the summed score, and per notebook its own rows.

    Each notebook's entry has the fields of a one-notebook ``results.json`` student (status, reason,
    score, max_score, cells); a notebook the student did not submit is ``failed`` with its reason and
    counts 0 of ``totals`` (each student's maximum over the notebooks).
    """
    students: dict[str, dict] = {}
    for name, results in per_notebook.items():
        one = json.loads(reports.results_json(name, tuple(results.values())))["students"]
        for student_id, entry in one.items():
            students.setdefault(student_id, {"notebooks": {}})["notebooks"][name] = entry
    for student, entry in students.items():
        notebooks = entry["notebooks"].values()
        entry["score"] = sum(n["score"] or 0 for n in notebooks)
        entry["max_score"] = totals[student]
        entry["status"] = "graded" if any(n["status"] == "graded" for n in notebooks) else "failed"
    body = {"assignment": assignment, "notebooks": list(per_notebook), "students": students}
    return json.dumps(body, indent=2, sort_keys=True) + "\n"


def graded_notebooks(out: Path) -> dict[str, float] | None:
    """The notebooks an assignment's grading run wrote into ``out``, with their test points; ``None`` when
    ``out`` holds a one-notebook run (or nothing)."""
    try:
        body = json.loads((out / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("notebooks"), list):
        return None
    worth = body.get("max_scores", {})
    return {str(name): float(worth.get(name, 0.0)) for name in body["notebooks"]}


def write_reports(
    out: Path,
    assignment: str,
    parts: Mapping[str, reports.GradeReport],
    max_scores: Mapping[str, float],
    *,
    canvas: bool = False,
) -> reports.GradeReport:
    """Write ``OUT/grades.csv``, ``results.json`` and ``summary.html`` over the notebooks' reports (and the
    Canvas export, when one exists or ``canvas``); return the whole run's report.

    ``parts`` hold each notebook's results merged with the gradebook (what people decided counts).
    ``max_scores`` (each notebook's test points) count for a student whose notebook failed too (its
    points are lost, not out of the total), so every student's ``max_score`` is the assignment's.
    """
    per_notebook = {name: {r.student_id: r for r in report.results} for name, report in parts.items()}
    ids = sorted({student for results in per_notebook.values() for student in results})
    combined = []
    for student in ids:
        mine = {name: results[student] for name, results in per_notebook.items() if student in results}
        combined.append(combine(mine, max_scores))
    reports.write_atomic(out / "grades.csv", reports.grades_csv(combined))
    body = json.loads(results_json(assignment, per_notebook, {r.student_id: r.max_total for r in combined}))
    body["max_scores"] = dict(max_scores)
    reports.write_atomic(out / "results.json", json.dumps(body, indent=2, sort_keys=True) + "\n")
    reports.write_atomic(out / summary.FILE, summary.render(assignment, combined))
    target = outputs.canvas_path(out, assignment)  # the same place as a one-notebook run's
    if canvas or target.exists():
        reports.write_atomic(target, reports.canvas_csv(assignment, combined))
    regraded = tuple(dict.fromkeys(s for report in parts.values() for s in report.regraded))
    return reports.GradeReport(assignment, out, tuple(combined), regraded)
