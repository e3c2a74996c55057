"""Does executing a submission run its cells in the student's sandbox and its tests in the verifier,
within the cell limit, next to the assignment's files and nothing else?
"""

from __future__ import annotations

import time

import nbformat
from conftest import read_toy, run_toy

from autograder import sandbox
from autograder.steps.execute import execute
from autograder.steps.restore import restore
from autograder.steps.score import score


def test_stderr_from_a_library_does_not_fail_a_correct_answer(toy):
    executed, execution = run_toy(toy, "stderr-noise")
    assert execution.status == "finished"
    streams = [
        o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "stream"
    ]
    # square() writes to stderr only when a test calls it; what student code prints while a test calls it
    # is dropped (it could echo the hidden tests' inputs), and it costs no points.
    assert not any("tensorflow-style" in o.text for o in streams)
    assert {c.grade_id: c.points for c in score(executed, toy, execution) if not c.manual} == {
        "square-test": 2.0,
        "softmax-test": 3.0,
    }


def test_an_interrupt_ignoring_infinite_loop_costs_at_most_the_cell_limit(toy):
    start = time.monotonic()
    executed, execution = run_toy(toy, "infinite-loop", cell_timeout=2.0)
    assert time.monotonic() - start < 8
    assert execution.status == "cell-timeout"
    verdicts = {c.grade_id: c for c in score(executed, toy, execution)}
    assert verdicts["square-test"].passed and not verdicts["softmax-test"].passed
    assert "limit per cell" in verdicts["softmax-test"].message


def test_the_working_folder_holds_the_notebook_and_the_assignments_data_files_only(toy, tmp_path):
    import shutil
    from dataclasses import replace

    folder = tmp_path / "toy"
    shutil.copytree(toy.folder, folder)
    (folder / "scores.csv").write_text("a,b\n1,2\n")
    (folder / "data").mkdir()
    (folder / "data" / "weights.txt").write_text("0.5")
    (folder / "autograder.toml").write_text("[limits]\ncell_timeout = 5\n")
    assignment = replace(toy, folder=folder)
    nb, _ = restore(read_toy(toy, "correct"), assignment)
    probe = (
        "import os\nprint(sorted(os.listdir('.')), open('data/weights.txt').read(), open('toy.ipynb').read())"
    )
    nb.cells.append(nbformat.v4.new_code_cell(probe))
    lim = sandbox.Limits(cell_timeout=5.0, submission_timeout=20.0)
    student, verifier = (
        sandbox.start(limits=lim, preload=("numpy",), role=r) for r in ("student", "verifier")
    )
    executed, execution = execute(nb, assignment, student, verifier, notebook=("toy.ipynb", b'{"cells": []}'))
    assert execution.status == "finished"
    assert (
        executed.cells[-1].outputs[0]["text"]
        == "['.home', 'data', 'scores.csv', 'toy.ipynb'] 0.5 {\"cells\": []}\n"
    )
