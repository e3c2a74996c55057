"""Do hidden tests stay hidden: their code and its echoes removed, only their messages shown, and a
student's own output never rewritten?
"""

from __future__ import annotations

import nbformat
from conftest import read_toy, run_toy

from autograder import sandbox
from autograder.source import nb_meta
from autograder.steps.conceal import HIDDEN, conceal, redact
from autograder.steps.execute import execute
from autograder.steps.restore import restore
from autograder.steps.score import score


def test_concealing_removes_hidden_tests_and_their_echoes(toy):
    executed, _execution = run_toy(toy, "reads-hidden-tests")
    safe = conceal(executed, toy)
    text = nbformat.writes(safe)
    for line in toy.hidden_lines:
        assert line not in text and line.replace('"', '\\"') not in text
    # Test cells never run in the student's process, so its input history holds no test code at all.
    echo = next(c for c in executed.cells if "print(In)" in c.source)
    history = "".join(o.get("text", "") for o in echo.outputs)
    assert "def square" in history and "assert square(3) == 9" not in history
    # The redaction still stands behind the verifier's outputs (a hidden line in a test cell is replaced).
    assert redact(f"x = 1\n{toy.hidden_lines[0]}", toy.hidden_lines) == f"x = 1\n{HIDDEN}"


def test_a_students_own_output_is_never_rewritten_even_when_it_looks_like_a_hidden_line(toy):
    """Concealment follows provenance: printing a guessed hidden line shows it, and tells nothing."""
    nb = read_toy(toy, "correct")
    guess = toy.hidden_lines[0]
    square = next(i for i, c in enumerate(nb.cells) if nb_meta(c).get("grade_id") == "square")
    nb.cells.insert(square + 1, nbformat.v4.new_code_cell(f"print({guess!r})"))
    restored, _ = restore(nb, toy)
    lim = sandbox.Limits(cell_timeout=5.0, submission_timeout=20.0)
    roles = ("student", "verifier")
    student, verifier = (sandbox.start(limits=lim, preload=("numpy",), role=r) for r in roles)
    executed, _execution = execute(restored, toy, student, verifier)
    safe = conceal(executed, toy)
    printed = next(c for c in safe.cells if c.source == f"print({guess!r})")
    assert printed.outputs[0]["text"] == guess + "\n"


def test_failing_hidden_tests_show_only_the_error_message(toy):
    executed, execution = run_toy(toy, "partially-wrong")
    softmax = {c.grade_id: c for c in score(executed, toy, execution)}["softmax-test"]
    assert softmax.message == "AssertionError: softmax overflows: subtract the maximum first"
    error = next(
        o for c in conceal(executed, toy).cells for o in c.get("outputs", []) if o.output_type == "error"
    )
    assert error.traceback == ["AssertionError: softmax overflows: subtract the maximum first"]
