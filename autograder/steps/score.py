"""Step 5: one verdict per graded cell, with nbgrader's rules except that stderr is not an error.

nbgrader's ``determine_grade`` gives a test cell zero for an ``error`` output *or any stderr output*
(TensorFlow and ``warnings`` write there), partial credit for a numeric ``execute_result`` and full marks
otherwise. Here only an ``error`` output (or a cell that never finished) fails a test; partial credit is
nbgrader's own ``get_partial_grade``. A manually graded answer left as released earns 0 (as in nbgrader);
any other answer awaits review (``points=None``).

nbgrader is imported only for a partial grade: importing any of its modules runs its package's
``__init__``, which loads its Jupyter server extensions (0.6 s of CPU in every grading process). Whether an
answer is left as released is told by nbgrader's checksum, computed here as nbgrader computes it
(:func:`checksum`).
"""

from __future__ import annotations

import hashlib

from nbformat import NotebookNode

from autograder.results import CellResult
from autograder.sandbox import Execution
from autograder.source import Assignment, nb_meta


def error_message(output: NotebookNode) -> str:
    """``ename: evalue`` of an error output (never its traceback, which may quote hidden tests)."""
    evalue = str(output.get("evalue", "")).strip()
    return f"{output.get('ename', 'Error')}: {evalue}" if evalue else str(output.get("ename", "Error"))


def checksum(cell: NotebookNode) -> str:
    """nbgrader's checksum of a graded cell (``nbgrader.utils.compute_checksum`` of the pinned nbgrader):
    what its ``ComputeChecksums`` stores in a released cell's metadata, so an unchanged answer matches."""
    meta = cell.metadata["nbgrader"] if "nbgrader" in cell.metadata else {}
    grade, solution = meta.get("grade", False), meta.get("solution", False)
    if "nbgrader" not in cell.metadata or solution:
        locked = False
    else:
        locked = True if grade else meta.get("locked", False)
    digest = hashlib.md5()
    for part in (cell.source, cell.cell_type, str(grade), str(solution), str(locked), meta["grade_id"]):
        digest.update(part.encode("utf-8"))
    if grade:
        digest.update(str(float(meta["points"])).encode("utf-8"))
    return digest.hexdigest()


def _test_verdict(cell: NotebookNode, max_points: float) -> tuple[float, str]:
    for output in cell.outputs:
        if output.output_type == "error":
            return 0.0, error_message(output)
        if output.output_type == "execute_result" and "text/plain" in output.get("data", {}):
            from nbgrader.utils import get_partial_grade

            return float(get_partial_grade(output, max_points)), ""
    return max_points, ""


def score(nb: NotebookNode, assignment: Assignment, execution: Execution) -> tuple[CellResult, ...]:
    """Score every graded cell of the executed notebook.

    Args:
        nb: the executed notebook (restored, so every graded cell is present).
        assignment: the source of truth (points, roles, checksums).
        execution: which cells ran and how execution ended.

    Returns:
        One result per graded cell, in notebook order.
    """
    index = {nb_meta(c).get("grade_id"): i for i, c in enumerate(nb.cells)}
    # A task (a question whose answer is in other cells) is never unanswered: a person grades it, as in
    # nbgrader, which gives an automatic 0 only to an answer cell left as released.
    tasks = {nb_meta(c).get("grade_id") for c in assignment.release.cells if nb_meta(c).get("task")}
    results = []
    for spec in assignment.specs:
        if spec.role not in ("test", "manual"):
            continue
        i = index[spec.grade_id]
        cell = nb.cells[i]
        if spec.role == "manual":
            unchanged = spec.grade_id not in tasks and checksum(cell) == spec.checksum
            results.append(
                CellResult(
                    spec.grade_id,
                    0.0 if unchanged else None,
                    spec.points,
                    None,
                    "no answer" if unchanged else "awaiting review",
                    manual=True,
                )
            )
            continue
        if i not in execution.outputs:
            if execution.stopped_at == i:
                message = f"did not finish: {execution.detail}"
            else:
                message = f"not run: execution stopped earlier ({execution.detail})"
            results.append(CellResult(spec.grade_id, 0.0, spec.points, False, message))
            continue
        points, message = _test_verdict(cell, spec.points)
        results.append(CellResult(spec.grade_id, points, spec.points, points >= spec.points, message))
    return tuple(results)
