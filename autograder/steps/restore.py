"""Step 2: rebuild the notebook around the source's cells, so edited or deleted tests do not count.

The result follows the source notebook's order. Protected cells (tests, read-only cells) come from the
*master* notebook, hidden tests included, whatever the student did to them (nbgrader's OverwriteCells,
plus re-adding deleted cells). Answer cells keep the student's source with the source's metadata and
cell type. Cells the student added (no known grade id) stay after the graded cell they followed.

An answer cell that lost its nbgrader metadata (pasted into a fresh notebook, or damaged) is found by its
content where that is unambiguous: a code cell is the answer to ``square`` when it defines every name the
released answer cell defines (``def square``), and it is the only unidentified cell that does. Otherwise
the released cell is restored and the note says what the student must do.
"""

from __future__ import annotations

import ast
import copy

from nbformat import NotebookNode

from autograder.source import Assignment, CellSpec, nb_meta


def _defined(source: str) -> frozenset[str]:
    """Top-level names a code cell defines (functions, classes, assignments); empty if it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return frozenset()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return frozenset(names)


def _match_by_content(
    missing: list[CellSpec], loose: list[NotebookNode], assignment: Assignment
) -> dict[str, NotebookNode]:
    """Answer cells found among unidentified student cells: ``{grade_id: cell}`` (unambiguous ones only)."""
    wanted = {
        spec.grade_id: _defined(_released_source(assignment, spec.grade_id))
        for spec in missing
        if spec.role in ("answer", "manual") and spec.cell_type == "code"
    }
    wanted = {grade_id: names for grade_id, names in wanted.items() if names}
    found: dict[str, NotebookNode] = {}
    for grade_id, names in wanted.items():
        rivals = [g for g, other in wanted.items() if g != grade_id and names <= other]
        candidates = [c for c in loose if c.cell_type == "code" and names <= _defined(c.source)]
        if len(candidates) == 1 and not rivals:
            found[grade_id] = candidates[0]
    claimed = [id(c) for c in found.values()]
    return {g: c for g, c in found.items() if claimed.count(id(c)) == 1}


def restore(nb: NotebookNode, assignment: Assignment) -> tuple[NotebookNode, list[str]]:
    """Return the notebook to execute and notes on what was restored.

    Args:
        nb: the student's notebook (already read and checked: no duplicated grade ids).
        assignment: the source of truth.

    Returns:
        ``(notebook, notes)``.
    """
    known = {s.grade_id for s in assignment.specs}
    by_id: dict[str, NotebookNode] = {}
    following: dict[str | None, list[NotebookNode]] = {None: []}
    unknown: list[str] = []
    anchor: str | None = None
    for cell in nb.cells:
        grade_id = nb_meta(cell).get("grade_id")
        if grade_id in known:
            by_id[grade_id] = cell
            anchor = grade_id
            following.setdefault(anchor, [])
        elif not grade_id:
            following.setdefault(anchor, []).append(cell)
        else:  # an unknown grade id cannot be scored and may impersonate a test: never run
            unknown.append(grade_id)

    notes: list[str] = []
    if unknown:
        shown = ", ".join(repr(g[:40]) for g in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        notes.append(f"cell(s) with grade ids this assignment does not have were ignored: {shown}")
    missing = [s for s in assignment.specs if s.grade_id not in by_id]
    loose = [c for cells in following.values() for c in cells]
    matched = _match_by_content(missing, loose, assignment)
    for grade_id, cell in matched.items():
        for group in following.values():
            if any(c is cell for c in group):
                group[:] = [c for c in group if c is not cell]
        by_id[grade_id] = cell
        notes.append(
            f"answer cell {grade_id!r} had lost its grading information (pasted into a new notebook?); it "
            "was recognised by its content and graded"
        )

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
            notes.append(_missing_note(spec))
        elif spec.restored:
            if _normalized(student.source) != _normalized(_released_source(assignment, grade_id)):
                if spec.role == "test":
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


def _missing_note(spec: CellSpec) -> str:
    if spec.role in ("answer", "manual"):
        return (
            f"answer cell {spec.grade_id!r} was missing (deleted, or pasted into a new notebook, which loses "
            "its grading information) and the released cell was put back, so it earned nothing: put your "
            "answer in that cell of the released notebook and submit again"
        )
    return f"cell {spec.grade_id!r} was missing and was restored"


def _normalized(source: str) -> str:
    """A cell's text for comparison: line endings and trailing white space do not count as an edit."""
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def _released_source(assignment: Assignment, grade_id: str) -> str:
    return next(c.source for c in assignment.release.cells if nb_meta(c).get("grade_id") == grade_id)
