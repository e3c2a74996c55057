"""Step 6: keep hidden tests out of everything a student sees (feedback and messages).

Test cells get their *released* source back (hidden part removed), errors raised inside a cell that held
hidden tests lose their traceback (which quotes the failing line) and keep ``ename: evalue``, and any
hidden test line echoed by student code (``print(In)``) is replaced in every output.

Since test cells run in the verifier (see :mod:`autograder.steps.execute`), hidden test code never
reaches the student's process at all; this step is the second line: it keeps hidden lines out of the
feedback whatever process printed them.
"""

from __future__ import annotations

import copy

from nbformat import NotebookNode

from autograder.source import Assignment, nb_meta

HIDDEN = "[hidden test]"


def redact(text: str, hidden_lines: tuple[str, ...]) -> str:
    """Replace every hidden test line (and its repr-escaped form) in ``text``."""
    for line in hidden_lines:
        for form in {line, line.replace("\\", "\\\\"), line.replace("'", "\\'"), line.replace('"', '\\"')}:
            if form in text:
                text = text.replace(form, HIDDEN)
    return text


def _redact_output(output: NotebookNode, hidden: tuple[str, ...]) -> None:
    if output.output_type == "stream":
        output.text = redact(output.text, hidden)
    elif output.output_type in ("execute_result", "display_data"):
        for mime, value in output.data.items():
            if isinstance(value, str) and not mime.startswith("image/"):
                output.data[mime] = redact(value, hidden)
    elif output.output_type == "error":
        output.evalue = redact(output.evalue, hidden)
        output.traceback = [redact(line, hidden) for line in output.traceback]


def conceal(nb: NotebookNode, assignment: Assignment) -> NotebookNode:
    """A copy of the executed notebook that is safe to show the student."""
    nb = copy.deepcopy(nb)
    released = {nb_meta(c).get("grade_id"): c.source for c in assignment.release.cells}
    mastered = {nb_meta(c).get("grade_id"): c.source for c in assignment.master.cells}
    for cell in nb.cells:
        grade_id = nb_meta(cell).get("grade_id")
        if grade_id in released and mastered[grade_id] != released[grade_id]:
            cell.source = released[grade_id]
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        for output in cell.get("outputs", []):
            _redact_output(output, assignment.hidden_lines)
    return nb
