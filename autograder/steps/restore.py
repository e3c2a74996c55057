"""Step 2: rebuild the notebook around the source's cells, so edited or deleted tests do not count.

The result follows the source notebook's order. Protected cells (tests, read-only cells) come from the
*master* notebook, hidden tests included, whatever the student did to them (nbgrader's OverwriteCells,
plus re-adding deleted cells). Answer cells keep the student's source with the source's metadata and
cell type. Cells the student added (no known grade id) stay after the graded cell they followed.
"""

from __future__ import annotations

import copy

from nbformat import NotebookNode

from autograder.source import Assignment, nb_meta


def restore(nb: NotebookNode, assignment: Assignment) -> tuple[NotebookNode, list[str]]:
    """Return the notebook to execute and notes on what was restored.

    Args:
        nb: the student's notebook (already checked: no duplicated grade ids).
        assignment: the source of truth.

    Returns:
        ``(notebook, notes)``.
    """
    known = {s.grade_id for s in assignment.specs}
    by_id: dict[str, NotebookNode] = {}
    following: dict[str | None, list[NotebookNode]] = {None: []}
    anchor: str | None = None
    for cell in nb.cells:
        grade_id = nb_meta(cell).get("grade_id")
        if grade_id in known:
            by_id[grade_id] = cell
            anchor = grade_id
            following.setdefault(anchor, [])
        elif not grade_id:
            following.setdefault(anchor, []).append(cell)
        # cells with an unknown grade id are dropped: they cannot be scored and may impersonate tests

    notes: list[str] = []
    out = copy.deepcopy(assignment.master)
    cells: list[NotebookNode] = [copy.deepcopy(c) for c in following[None]]
    for master_cell in assignment.master.cells:
        grade_id = nb_meta(master_cell).get("grade_id")
        if not grade_id:
            continue  # ungraded source cells: the student's copies (kept as added cells) stand in for them
        spec = assignment.spec(grade_id)
        assert spec is not None
        student = by_id.get(grade_id)
        cell = copy.deepcopy(master_cell)
        if student is None:
            notes.append(f"cell {grade_id!r} was missing and was restored")
        elif spec.restored:
            if student.source != _released_source(assignment, grade_id) and spec.role == "test":
                notes.append(f"test cell {grade_id!r} was edited; the original was restored")
        else:
            cell.source = student.source
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
        cells.extend(copy.deepcopy(c) for c in following.get(grade_id, []))
    out.cells = cells
    for cell in out.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return out, notes


def _released_source(assignment: Assignment, grade_id: str) -> str:
    return next(c.source for c in assignment.release.cells if nb_meta(c).get("grade_id") == grade_id)
