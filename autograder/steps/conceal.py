"""Step 6: keep hidden tests out of everything a student sees (feedback and messages).

Concealment follows where text came from, not what it looks like. Test cells run in the verifier (see
:mod:`autograder.steps.execute`): hidden test code never reaches the student's process, so nothing the
student's code printed can hold it, and a student's own code and outputs are never rewritten (matching
short lines such as ``n = Y.shape[0]`` across the page garbled students' own tracebacks and told them
which guessed lines were hidden). Only what the verifier wrote for a test cell that has hidden tests is
concealed: the cell gets its *released* source back, an error loses its traceback (which quotes the
failing line) and keeps ``ename: evalue``, and a hidden line in that cell's outputs is replaced.
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
                _redact_output(output, assignment.hidden_lines)
    return nb
