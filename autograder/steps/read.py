"""Step 1: read a submitted file into a notebook, or say precisely why it cannot be graded."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from autograder.errors import SubmissionError
from autograder.source import Assignment, nb_meta


def read_notebook(path: Path, *, max_bytes: int) -> NotebookNode:
    """Read and validate a submitted notebook file.

    Args:
        path: the file.
        max_bytes: larger files are refused.

    Returns:
        The notebook (nbformat v4).

    Raises:
        SubmissionError: empty, too large, not UTF-8, not JSON, not nbformat 4, or not a valid notebook.
    """
    if path.is_symlink():
        raise SubmissionError(f"{path.name} is a symbolic link; submit the notebook file itself")
    size = path.stat().st_size
    if size == 0:
        raise SubmissionError("empty file (0 bytes): the upload contains no notebook")
    if size > max_bytes:
        raise SubmissionError(
            f"file too large: {size / 1024**2:.1f} MB > {max_bytes / 1024**2:.1f} MB limit "
            "(clear the outputs; instructors can raise max_notebook_mb in autograder.toml)"
        )
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise SubmissionError("not a notebook: the file is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise SubmissionError(f"not a notebook: invalid JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(data, dict):
        raise SubmissionError("not a notebook: the JSON is not an object")
    version = data.get("nbformat")
    if version != 4:
        raise SubmissionError(
            f"wrong notebook format: nbformat {version!r}, expected 4 (open and re-save it in Jupyter)"
        )
    if not isinstance(data.get("cells"), list):
        raise SubmissionError("not a valid notebook: it has no list of cells")
    try:
        nb = nbformat.reads(json.dumps(data), as_version=4)
        nbformat.validate(nb)
    except nbformat.ValidationError as error:
        first = str(error.message if hasattr(error, "message") else error).splitlines()[0]
        raise SubmissionError(f"not a valid notebook: {first}") from None
    return nb


def check_structure(nb: NotebookNode, assignment: Assignment) -> list[str]:
    """Refuse ambiguous notebooks and note what will be repaired.

    Returns:
        Notes for the result's reason (cells whose type changed and will be restored).

    Raises:
        SubmissionError: a grade id appears more than once (which copy is the answer is unknowable).
    """
    ids = [nb_meta(c).get("grade_id") for c in nb.cells]
    repeated = sorted(g for g, n in Counter(i for i in ids if i).items() if n > 1)
    if repeated:
        raise SubmissionError(
            f"duplicated grade id(s) {', '.join(repeated)}: cells were copied in the notebook, so which "
            "one is the answer is ambiguous (delete the copies, keep one cell per id)"
        )
    notes = []
    for cell in nb.cells:
        spec = assignment.spec(nb_meta(cell).get("grade_id", ""))
        if spec is not None and cell.cell_type != spec.cell_type:
            notes.append(
                f"cell {spec.grade_id!r} was changed from {spec.cell_type} to {cell.cell_type}; restored"
            )
    return notes
