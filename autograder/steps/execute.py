"""Step 3: run the notebook's code in two sandboxed processes and put the outputs back in place.

Answer cells, the instructor's set-up cells and cells the student added run in the *student's* process.
Test cells never run there: the *verifier*, a second sandboxed process that student code never touches,
runs them after the instructor's imports and definitions (the *prelude*, taken from the source notebook,
never from the submission), and fetches what a test needs from the student's process as plain data (see
:mod:`autograder.sandbox`). So whatever the student's code does to its own interpreter (exception hooks,
input or AST transformers, patched ``numpy`` or ``dlcourse``, forged messages) cannot change a verdict:
at most it makes its own functions return wrong values.
"""

from __future__ import annotations

import ast
import copy
from typing import cast

import nbformat
from nbformat import NotebookNode

from autograder.results import clean_text
from autograder.sandbox import Cell, Execution, Runner, run_notebook
from autograder.source import Assignment, nb_meta

UNREADABLE = "[an output of this cell was not a valid notebook output and was removed by the autograder]\n"


def _clean(value: object) -> object:
    """``value`` with every string's lone surrogates replaced (outputs are stored as UTF-8)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {clean_text(str(k)): _clean(v) for k, v in value.items()}
    return value


def _valid_output(output: object) -> bool:
    """Whether ``output`` has the shape of an nbformat v4 output (what the later steps rely on)."""
    if not isinstance(output, dict):
        return False
    kind = output.get("output_type")
    if kind == "stream":
        return output.get("name") in ("stdout", "stderr") and isinstance(output.get("text"), str)
    if kind == "error":
        traceback = output.get("traceback", [])
        return (
            isinstance(output.get("ename"), str)
            and isinstance(output.get("evalue"), str)
            and isinstance(traceback, list)
            and all(isinstance(line, str) for line in traceback)
        )
    if kind in ("display_data", "execute_result"):
        data, metadata = output.get("data"), output.get("metadata", {})
        count = output.get("execution_count")
        return (
            isinstance(data, dict)
            and isinstance(metadata, dict)
            and all(isinstance(v, str) or mime.endswith("json") for mime, v in data.items())
            and (kind == "display_data" or count is None or (type(count) is int and count >= 0))
        )
    return False


def clean_outputs(outputs: list) -> list[NotebookNode]:
    """The outputs a process reported, as nbformat nodes: unreadable ones replaced by a note, text repaired.

    The student's process reports its own outputs and could send anything that is JSON.
    """
    cleaned, dropped = [], False
    for output in outputs:
        if _valid_output(output):
            node = dict(cast("dict", _clean(output)))  # a valid output is a dict, and stays one
            if node["output_type"] == "execute_result":
                node.setdefault("execution_count", None)
            if node["output_type"] in ("display_data", "execute_result"):
                node.setdefault("metadata", {})
            if node["output_type"] == "error":
                node.setdefault("traceback", [])
            cleaned.append(nbformat.from_dict(node))
        else:
            dropped = True
    if dropped:
        cleaned.append(nbformat.from_dict({"output_type": "stream", "name": "stderr", "text": UNREADABLE}))
    return cleaned


def _statements(source: str) -> str:
    """The top-level imports and function/class definitions of an instructor cell ('' if none)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython syntax (magics, shell escapes): read what is plain Python
        lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError:
            return ""
    kept = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return "\n".join(
        ast.get_source_segment(source, node) or "" for node in tree.body if isinstance(node, kept)
    )


def prelude(assignment: Assignment) -> str:
    """What the verifier runs before the tests: the source notebook's set-up imports and definitions."""
    roles: dict[str | None, str] = {spec.grade_id: spec.role for spec in assignment.specs}
    parts = [
        _statements(cell.source)
        for cell in assignment.master.cells
        if cell.cell_type == "code" and roles.get(nb_meta(cell).get("grade_id"), "protected") == "protected"
    ]
    return "\n\n".join(p for p in parts if p)


SKIPPED = ("autograder.toml", ".ipynb_checkpoints", "__pycache__")


def data_files(assignment: Assignment) -> dict[str, bytes]:
    """The assignment's data files (what nbgrader releases beside the notebook), by relative path."""
    files = {}
    for path in sorted(assignment.folder.rglob("*")):
        relative = path.relative_to(assignment.folder)
        if path.is_file() and not path.is_symlink() and path.suffix != ".ipynb":
            if not any(part in SKIPPED or part.startswith(".") for part in relative.parts):
                files[relative.as_posix()] = path.read_bytes()
    return files


def prelude_modules(assignment: Assignment) -> tuple[str, ...]:
    """The modules the prelude imports (a warm verifier imports them before its submission arrives)."""
    modules = []
    for node in ast.parse(prelude(assignment)).body:
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.append(node.module)
    return tuple(dict.fromkeys(modules))


def execute(
    nb: NotebookNode,
    assignment: Assignment,
    student: Runner,
    verifier: Runner,
    notebook: tuple[str, bytes] | None = None,
) -> tuple[NotebookNode, Execution]:
    """Execute every code cell in order (errors do not stop later cells; time limits and crashes do).

    Args:
        nb: the restored notebook (test cells are the source's).
        assignment: the source of truth (which cells are tests, the prelude).
        student: a started sandbox process for the student's code (used once).
        verifier: a started sandbox process with ``role="verifier"`` for the tests (used once).
        notebook: the submitted file's name and bytes, put in the working folder beside the assignment's
            data files (the student's working folder holds nothing else but its private HOME).

    Returns:
        The notebook with outputs, and the execution record (which cells ran, how it ended).
    """
    nb = copy.deepcopy(nb)
    tests = {spec.grade_id for spec in assignment.specs if spec.role == "test"}
    cells = [
        Cell(i, c.source, test=nb_meta(c).get("grade_id") in tests)
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
    ]
    data = data_files(assignment)
    files = {**data, notebook[0]: notebook[1]} if notebook is not None else dict(data)
    execution = run_notebook(
        student,
        cells,
        verifier=verifier,
        prelude=prelude(assignment),
        files=files,
        test_files=data,  # tests open the assignment's files as the notebook does (nbgrader's behaviour)
        models=assignment.config.models,
    )
    for index, outputs in execution.outputs.items():
        cell = nb.cells[index]
        cell.outputs = clean_outputs(outputs)
        cell.execution_count = execution.execution_counts.get(index) or None
    return nb, execution
