"""Step 7: the student's feedback page: their code and outputs, a score per graded cell, test messages.

The notebook it renders has already been concealed (no hidden test code). A summary table opens the page
and a short verdict follows each graded cell; nbconvert's HTML exporter does the rendering.
"""

from __future__ import annotations

import copy
import html
from functools import cache

from nbformat import NotebookNode
from nbformat.v4 import new_markdown_cell

from autograder.results import CellResult, SubmissionResult
from autograder.source import nb_meta


@cache
def _exporter():
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="classic")


def _points(cell: CellResult) -> str:
    if cell.points is None:
        return f"awaiting review / {cell.max_points:g}"
    return f"{cell.points:g} / {cell.max_points:g}"


def _verdict(cell: CellResult) -> str:
    if cell.manual:
        return f"**{cell.grade_id}** (written answer): {_points(cell)}"
    mark = "passed" if cell.passed else "failed"
    text = f"**{cell.grade_id}**: {mark}, {_points(cell)}"
    if cell.message:
        text += f"\n\n```text\n{cell.message}\n```"
    return text


def render_feedback(nb: NotebookNode, result: SubmissionResult, *, assignment: str) -> str:
    """The feedback page as HTML.

    Args:
        nb: the concealed, executed notebook.
        result: the scores to show.
        assignment: the assignment's name (page title).

    Returns:
        A standalone HTML document.
    """
    nb = copy.deepcopy(nb)
    by_id = {c.grade_id: c for c in result.cells}
    rows = "\n".join(
        f"| {c.grade_id} | {_points(c)} | {c.message.splitlines()[0] if c.message else ''} |"
        for c in result.cells
    )
    summary = (
        f"# Feedback: {assignment}\n\nStudent: `{result.student_id}`. Autograded score: "
        f"**{result.total:g} / {result.max_total:g}**"
        + (
            f" (plus {result.manual_max:g} points of written answers, graded by hand)"
            if result.manual_max
            else ""
        )
        + f"\n\n| cell | points | message |\n|---|---|---|\n{rows}\n"
    )
    if result.reason:
        summary += f"\nNotes: {result.reason}\n"
    cells = [new_markdown_cell(summary)]
    for cell in nb.cells:
        cells.append(cell)
        grade_id = nb_meta(cell).get("grade_id")
        if grade_id in by_id:
            cells.append(new_markdown_cell(_verdict(by_id[grade_id])))
    nb.cells = cells
    body, _resources = _exporter().from_notebook_node(
        nb, resources={"metadata": {"name": f"{assignment} feedback"}}
    )
    return body


def render_failure(result: SubmissionResult, *, assignment: str) -> str:
    """A short HTML page for a submission that could not be graded."""
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(assignment)} feedback</title></head><body>\n"
        f"<h1>Feedback: {html.escape(assignment)}</h1>\n"
        f"<p>Student: <code>{html.escape(result.student_id)}</code></p>\n"
        f"<p><strong>This submission could not be graded:</strong> {html.escape(result.reason)}</p>\n"
        "<p>Contact your instructor; nothing was scored.</p>\n</body></html>\n"
    )
