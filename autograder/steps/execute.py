"""Step 3: run the notebook's code cells in a sandboxed process and put the outputs back in place."""

from __future__ import annotations

import copy

import nbformat
from nbformat import NotebookNode

from autograder.sandbox import Execution, Runner


def execute(nb: NotebookNode, runner: Runner) -> tuple[NotebookNode, Execution]:
    """Execute every code cell in order (errors do not stop later cells; time limits and crashes do).

    Args:
        nb: the restored notebook.
        runner: a started sandbox process (used once).

    Returns:
        The notebook with outputs, and the execution record (which cells ran, how it ended).
    """
    nb = copy.deepcopy(nb)
    cells = [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    execution = runner.run(cells)
    for index, outputs in execution.outputs.items():
        cell = nb.cells[index]
        cell.outputs = [nbformat.from_dict(o) for o in outputs]
        cell.execution_count = execution.execution_counts.get(index) or None
    return nb, execution
